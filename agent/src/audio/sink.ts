import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from 'pino';
import type { SinkConfig } from '../config/schema.js';
import { wallClockAt } from './clock.js';
import { rampPcm } from './fade.js';
import { BYTES_PER_FRAME, BYTES_PER_MS, PCM, bytesToMs, msToBytes } from './pcm.js';

/**
 * Where PCM (agent/src/audio/pcm.ts) goes: a sound card through aplay, or a
 * virtual sound card (file, null) for tests, demos and benchmarks.
 */
export interface AudioSink {
  readonly kind: SinkConfig['kind'];
  /** Ready to play when it resolves (aplay spawned and the device open). */
  open(): Promise<void>;
  /** Resolves once all of `pcm` is accepted by the device buffer: this is the backpressure. */
  write(pcm: Buffer): Promise<void>;
  /** Audio accepted but not yet played, in ms (an estimate for ALSA). */
  bufferedMs(): number;
  /** Why the device stopped working (aplay died, card unplugged); null while it works. */
  readonly failure: Error | null;
  /** Resolves when everything written has been played out. */
  drain(): Promise<void>;
  /**
   * Where the sink can take back what it holds (a virtual card): fades the
   * first `fadeMs` of it to silence, drops the rest, and resolves the writes
   * waiting for room. Returns the bytes dropped (never played). A preemption
   * is then heard after `fadeMs`, not after the whole buffer.
   */
  cut?(fadeMs: number): number;
  close(): Promise<void>;
}

export type PlayedListener = (period: Buffer, playedAtMs: number) => void;

/**
 * `aheadMs`: how much audio the device may hold ahead of the listener. Playout
 * keeps it small (a preemption is heard after it); a one-shot sound that
 * nothing preempts may hand over all of it, so a busy event loop cannot
 * starve it.
 */
export function createSink(cfg: SinkConfig, log: Logger, opts: { aheadMs?: number } = {}): AudioSink {
  const ahead = opts.aheadMs;
  switch (cfg.kind) {
    case 'alsa':
      return new AlsaSink({ device: cfg.device, ...(ahead ? { latencyMs: ahead } : {}) }, log);
    case 'file':
      return new PacedSink({ path: cfg.path, ...(ahead ? { bufferMs: ahead } : {}) }, log);
    case 'null':
      return new PacedSink(ahead ? { bufferMs: ahead } : {}, log);
  }
}

export interface PacedSinkOptions {
  /** Raw s16le file receiving every period played; none: the null sink. */
  path?: string;
  /** One period, as a sound card moves audio (default 5 ms). */
  periodMs?: number;
  /** The device buffer; writes wait while it is full (default 40 ms). */
  bufferMs?: number;
  /**
   * Silence played on underrun is written to the file for this long after
   * the last audio (default 2000 ms), so short gaps (underruns, the pause
   * between two items) stay on the file's timeline while an idle sink does
   * not grow the file by 11.5 MB a minute.
   */
  recordGapMs?: number;
}

interface Accepted {
  buf: Buffer;
  /** performance.now() when the bytes entered the device buffer. */
  at: number;
}

interface Writer {
  buf: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A virtual sound card: consumes PCM at exactly real-time rate, one period
 * at a time on a drift-free monotonic schedule (period n plays at
 * t0 + n * period), from a small device buffer. On underrun it plays
 * silence, as a card does. Bytes written after a period's instant are never
 * credited to that period even when the timer fires late, so `onPlayed`
 * timestamps are what a listener would hear, not what the event loop saw.
 *
 * `onPlayed` listeners get every period (silent ones too) with the
 * wall-clock instant (`wallClockMs()` scale) its first sample is heard.
 */
export class PacedSink implements AudioSink {
  readonly kind: 'file' | 'null';
  private readonly periodMs: number;
  private readonly periodBytes: number;
  private readonly capacity: number;
  private readonly recordGapMs: number;
  private queue: Accepted[] = [];
  private queuedBytes = 0;
  private writers: Writer[] = [];
  private drains: Array<() => void> = [];
  private listeners: PlayedListener[] = [];
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private n = 0;
  private lastAudioAt = -Infinity;
  private file: WriteStream | null = null;
  private state: 'new' | 'open' | 'closed' = 'new';
  /** A virtual card never fails. */
  readonly failure = null;

  constructor(
    private readonly opts: PacedSinkOptions,
    private readonly log: Logger,
  ) {
    this.kind = opts.path ? 'file' : 'null';
    this.periodMs = opts.periodMs ?? 5;
    this.periodBytes = msToBytes(this.periodMs);
    this.capacity = Math.max(this.periodBytes, msToBytes(opts.bufferMs ?? 40));
    this.recordGapMs = opts.recordGapMs ?? 2000;
  }

  onPlayed(listener: PlayedListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  async open(): Promise<void> {
    if (this.state !== 'new') throw new Error(`${this.kind} sink: open() called twice`);
    if (this.opts.path) {
      const file = createWriteStream(this.opts.path, { flags: 'w' });
      await new Promise<void>((resolve, reject) => {
        file.once('open', () => resolve());
        file.once('error', (err) => reject(new Error(`file sink: cannot open ${this.opts.path}: ${err.message}`)));
      });
      file.on('error', (err) => this.log.error({ err, path: this.opts.path }, 'file sink: write failed'));
      this.file = file;
    }
    this.state = 'open';
    this.t0 = performance.now();
    this.n = 0;
    this.schedule();
    this.log.debug({ sink: this.kind, path: this.opts.path, periodMs: this.periodMs }, 'sink open');
  }

  write(pcm: Buffer): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`${this.kind} sink is not open`));
    if (pcm.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.writers.push({ buf: pcm, resolve, reject });
      this.accept();
    });
  }

  bufferedMs(): number {
    return bytesToMs(this.queuedBytes + this.writers.reduce((n, w) => n + w.buf.length, 0));
  }

  drain(): Promise<void> {
    if (this.state !== 'open') return Promise.resolve();
    return new Promise((resolve) => this.drains.push(resolve));
  }

  cut(fadeMs: number): number {
    const keep = Math.min(this.queuedBytes, msToBytes(fadeMs));
    let dropped = this.queuedBytes - keep;
    const first = this.queue[0];
    if (first && keep > 0) {
      const kept = Buffer.concat(this.queue.map((a) => a.buf)).subarray(0, keep);
      this.queue = [{ buf: rampPcm(Buffer.from(kept), 1, 0), at: first.at }];
    } else {
      this.queue = [];
    }
    this.queuedBytes = keep;
    for (const w of this.writers.splice(0)) {
      dropped += w.buf.length;
      w.resolve();
    }
    return dropped;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.writers.splice(0)) w.reject(new Error(`${this.kind} sink closed`));
    for (const d of this.drains.splice(0)) d();
    this.queue = [];
    this.queuedBytes = 0;
    const file = this.file;
    this.file = null;
    if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
  }

  /** Moves waiting writers' bytes into the device buffer while it has room. */
  private accept(): void {
    const at = performance.now();
    while (this.writers.length > 0) {
      const w = this.writers[0]!;
      const room = this.capacity - this.queuedBytes;
      if (room <= 0) return;
      const take = Math.min(room, w.buf.length);
      this.queue.push({ buf: w.buf.subarray(0, take), at });
      this.queuedBytes += take;
      if (take === w.buf.length) {
        this.writers.shift();
        w.resolve();
      } else {
        w.buf = w.buf.subarray(take);
      }
    }
  }

  private schedule(): void {
    const due = this.t0 + this.n * this.periodMs;
    this.timer = setTimeout(this.tick, Math.max(0, due - performance.now()));
  }

  private readonly tick = (): void => {
    if (this.state !== 'open') return;
    const now = performance.now();
    while (this.t0 + this.n * this.periodMs <= now) {
      const at = this.t0 + this.n * this.periodMs;
      if (this.queuedBytes === 0 && this.writers.length === 0) for (const d of this.drains.splice(0)) d();
      this.play(at, wallClockAt(at));
      this.n++;
    }
    this.accept();
    this.schedule();
  };

  private play(at: number, wallAt: number): void {
    const period = Buffer.alloc(this.periodBytes);
    let filled = 0;
    while (filled < this.periodBytes && this.queue.length > 0) {
      const head = this.queue[0]!;
      // Bytes that arrived after this period began were not there to be played.
      if (head.at > at) break;
      const take = Math.min(head.buf.length, this.periodBytes - filled);
      head.buf.copy(period, filled, 0, take);
      filled += take;
      this.queuedBytes -= take;
      if (take === head.buf.length) this.queue.shift();
      else head.buf = head.buf.subarray(take);
    }
    if (filled > 0) this.lastAudioAt = at;
    if (this.file && at - this.lastAudioAt <= this.recordGapMs) this.file.write(period);
    for (const l of this.listeners) l(period, wallAt);
  }
}

export interface AlsaSinkOptions {
  device: string;
  aplayPath?: string;
  /** ALSA buffer (default 200 ms): bigger survives a busier Pi, smaller stops sooner. */
  bufferMs?: number;
  /** How long aplay may take to open the device (default 5 s). */
  openTimeoutMs?: number;
  /** Audio queued ahead of the card at most (default 100 ms): the delay before a preemption is heard. */
  latencyMs?: number;
}

/**
 * A sound card through `aplay` reading raw PCM on stdin, spawned at open()
 * so the device is ready before any instant. Backpressure is the pipe's
 * (64 KiB, 341 ms) plus ALSA's buffer; so `bufferedMs` and `drain` are
 * estimates from a real-time model of the card (bytes written against time
 * since the stream last ran dry), not readings of the card. Playback starts
 * on the first frame (start threshold 1), not when the buffer is full.
 * If aplay dies, every pending and later write rejects naming its exit and
 * last message; the caller reopens the sink.
 */
export class AlsaSink implements AudioSink {
  readonly kind = 'alsa' as const;
  private proc: ChildProcessWithoutNullStreams | null = null;
  failure: Error | null = null;
  private stderrTail: string[] = [];
  private underruns = 0;
  /** Model of the card: when the current run started (monotonic) and bytes written in it. */
  private runStart = 0;
  private runBytes = 0;
  private pendingRejects = new Set<(err: Error) => void>();
  private readonly latencyMs: number;

  constructor(
    private readonly opts: AlsaSinkOptions,
    private readonly log: Logger,
  ) {
    this.latencyMs = opts.latencyMs ?? 100;
  }

  async open(): Promise<void> {
    if (this.proc) throw new Error('alsa sink: open() called twice');
    const bufferUs = Math.round((this.opts.bufferMs ?? 200) * 1000);
    const args = ['-v', '-t', 'raw', '-f', PCM.alsaFormat, '-r', String(PCM.sampleRate), '-c', String(PCM.channels), '-D', this.opts.device, `--buffer-time=${bufferUs}`, '--start-delay=1'];
    const proc = spawn(this.opts.aplayPath ?? 'aplay', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.resume();
    proc.stdin.on('error', () => undefined); // EPIPE: reported through 'exit' below
    let ready: () => void = () => undefined;
    const readyP = new Promise<void>((resolve) => (ready = resolve));
    let partial = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        // aplay -v prints the device setup once the device is open: our readiness signal.
        if (line.startsWith('Its setup is:')) ready();
        if (line.startsWith('underrun!!!')) {
          this.underruns++;
          continue;
        }
        if (line.trim()) this.stderrTail = [...this.stderrTail.slice(-4), line.trim()];
      }
    });
    const exited = new Promise<Error>((resolve) => {
      proc.once('error', (err) => resolve(new Error(`alsa sink: cannot run aplay: ${err.message}`)));
      proc.once('exit', (code, signal) => {
        const last = this.stderrTail.filter((l) => /error|aplay:/i.test(l)).at(-1) ?? this.stderrTail.at(-1) ?? '';
        resolve(new Error(`alsa sink: aplay on device "${this.opts.device}" exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`));
      });
    });
    void exited.then((err) => {
      this.failure = err;
      for (const r of this.pendingRejects) r(err);
      this.pendingRejects.clear();
      if (this.proc) this.log.error({ device: this.opts.device, err: err.message }, 'aplay died');
    });
    const timeoutMs = this.opts.openTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      readyP.then(() => null),
      exited,
      new Promise<Error>((resolve) => (timer = setTimeout(() => resolve(new Error(`alsa sink: aplay did not open device "${this.opts.device}" within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome) {
      this.proc = null;
      proc.kill('SIGKILL');
      throw outcome;
    }
    this.log.info({ device: this.opts.device, bufferMs: bufferUs / 1000 }, 'alsa sink open');
  }

  write(pcm: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const proc = this.proc;
    if (!proc) return Promise.reject(new Error('alsa sink is not open'));
    const now = performance.now();
    if (this.modelQueuedBytes(now) === 0) {
      this.runStart = now;
      this.runBytes = 0;
    }
    this.runBytes += pcm.length;
    return new Promise((resolve, reject) => {
      this.pendingRejects.add(reject);
      const done = (): void => {
        this.pendingRejects.delete(reject);
        resolve();
      };
      const accepted = (): void => {
        // Keep at most `latencyMs` queued (pipe + ALSA buffer): an emergency
        // or a stop must not wait behind half a second of old audio.
        const excess = this.bufferedMs() - this.latencyMs;
        if (excess > 0) setTimeout(done, excess);
        else done();
      };
      if (proc.stdin.write(pcm)) accepted();
      else proc.stdin.once('drain', accepted);
    });
  }

  bufferedMs(): number {
    return bytesToMs(this.modelQueuedBytes(performance.now()));
  }

  async drain(): Promise<void> {
    while (!this.failure && this.proc && this.bufferedMs() > 0) {
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(50, this.bufferedMs()))));
    }
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (this.underruns > 0) this.log.debug({ underruns: this.underruns }, 'alsa sink: underruns (each pause between items is one)');
    const gone = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    // End of input lets aplay play out and exit; it ignores SIGTERM while
    // blocked on stdin, so a stuck one gets SIGKILL.
    proc.stdin.end();
    const timer = setTimeout(() => proc.kill('SIGKILL'), this.bufferedMs() + 1000);
    await gone;
    clearTimeout(timer);
  }

  private modelQueuedBytes(now: number): number {
    const played = Math.floor(((now - this.runStart) * BYTES_PER_MS) / BYTES_PER_FRAME) * BYTES_PER_FRAME;
    return Math.max(0, this.runBytes - played);
  }
}
