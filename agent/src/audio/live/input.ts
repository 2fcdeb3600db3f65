import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { gainFilter } from '../decoder.js';
import { BYTES_PER_FRAME, PCM, bytesToMs, msToBytes, pcmLevelDb, takeWholeFrames } from '../pcm.js';
import type { LiveSource } from './types.js';

/**
 * One source's disposable decoder: ffmpeg reading a stream (or a cached
 * file) and writing s16le PCM in the station format to a bounded buffer.
 *
 * What the chain judges is the buffer's PLAYHEAD, not the process: a live
 * input that is not on air is still consumed at real time (its oldest audio
 * dropped), so a standby or a probe starves, falls silent or stays fresh
 * exactly as it would on air, and on air continues from the live edge.
 * Arrivals beyond the cap drop the oldest audio, once, down to 40 % of the
 * cap (a burst at connect, drift): memory is bounded and latency stays small.
 * A cached file is not live: a full buffer pauses ffmpeg instead.
 *
 * ffmpeg is never trusted to say it is done: its exit code is not read, a
 * `-progress` "end" or a closed output is a drop, a burst of decoder errors
 * is garbage, and the chain's stall and silence rules (policy.ts) catch a
 * process that lives on without audio. Stopping is SIGTERM, then SIGKILL.
 */

/** Input protocols a stream may use: never file, concat, subfile, pipe (besides our own stdin for an SDP), data... */
const WHITELIST = {
  http: 'http,https,tcp,tls',
  hls: 'http,https,tcp,tls,crypto',
  rtp: 'rtp,udp,srtp',
  rtpSdp: 'pipe,rtp,udp,srtp',
} as const;

/** Decoder errors this many within GARBAGE_WINDOW_MS: the stream is not audio we can play. */
const GARBAGE_ERRORS = 5;
const GARBAGE_WINDOW_MS = 2000;
/** A live buffer over its cap is cut back to this share of it. */
const TRIM_TO = 0.4;
/** SIGTERM first; SIGKILL after this. */
const KILL_GRACE_MS = 500;
/** An SDP is a few hundred bytes; anything large is not one. */
const MAX_SDP_BYTES = 16 * 1024;

export interface InputOptions {
  source: LiveSource;
  /** kind 'file': the resolved paths, played in turn and looped. */
  files?: string[] | Promise<string[]>;
  /** Started again after it failed: an HLS stream resumes at its newest segment (never replays older ones). */
  restart: boolean;
  /** Live sources: arrivals beyond this drop the oldest audio; a file pauses ffmpeg above it. */
  bufferMs: number;
  /** RMS below this (dBFS) is silence. */
  silenceDbfs: number;
  gainDb: number;
  ffmpegPath: string;
  /** Monotonic ms (performance.now scale). */
  now: () => number;
  log: Logger;
}

/** The ffmpeg arguments that read one stream (exported for the tests of the restrictions). */
export function streamArgs(source: LiveSource, restart: boolean, gainDb: number): string[] {
  const head = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-progress', 'pipe:3', '-stats_period', '0.5'];
  const bounded = ['-probesize', '32768', '-analyzeduration', '500000', '-fflags', '+nobuffer+discardcorrupt'];
  let input: string[];
  switch (source.kind) {
    case 'http':
      input = [
        '-protocol_whitelist', WHITELIST.http, ...bounded,
        // ffmpeg's own reconnect bridges a server that closes a live stream and resumes live; not on a
        // refused connection (its retries would only delay the failover). The chain's watchdog decides.
        '-reconnect', '1', '-reconnect_streamed', '1', '-reconnect_delay_max', '1',
        '-rw_timeout', '5000000', '-icy', '0',
        ...httpFormat(source),
        '-i', requireUrl(source, /^https?:\/\//),
      ];
      break;
    case 'hls':
      // First start: one segment behind the live edge (a segment of lead against the next one's
      // arrival). Restart: the newest segment only, so what was heard before is not fetched again.
      input = ['-protocol_whitelist', WHITELIST.hls, ...bounded, '-live_start_index', restart ? '-1' : '-2', '-max_reload', '3', '-i', requireUrl(source, /^https?:\/\//)];
      break;
    case 'rtp':
      input = source.sdp
        ? ['-protocol_whitelist', WHITELIST.rtpSdp, ...bounded, '-f', 'sdp', '-i', 'pipe:0']
        : ['-protocol_whitelist', WHITELIST.rtp, ...bounded, '-i', requireUrl(source, /^(rtp|udp):\/\//)];
      break;
    default:
      throw new Error(`source ${source.id}: kind ${source.kind} is not a stream`);
  }
  return [...head, ...input, ...outputArgs(gainDb)];
}

function fileArgs(path: string, gainDb: number): string[] {
  return ['-nostdin', '-hide_banner', '-loglevel', 'error', '-progress', 'pipe:3', '-stats_period', '0.5', '-i', path, ...outputArgs(gainDb)];
}

function outputArgs(gainDb: number): string[] {
  // Audio only: whatever else a stream carries is never decoded.
  return ['-map', '0:a:0', '-vn', '-sn', '-dn', '-filter:a', gainFilter(gainDb), '-ac', String(PCM.channels), '-ar', String(PCM.sampleRate), '-f', PCM.ffmpegFormat, 'pipe:1'];
}

/** The container of an HTTP stream: named, or from the url's extension (see LiveSource.format). */
function httpFormat(source: LiveSource): string[] {
  const ext = /\.(mp3|aac|ogg|opus)(\?|$)/i.exec(source.url ?? '')?.[1]?.toLowerCase();
  const format = source.format ?? (ext === 'opus' ? 'ogg' : (ext as LiveSource['format']));
  if (!format) return [];
  if (!['mp3', 'aac', 'ogg'].includes(format)) throw new Error(`source ${source.id}: unknown stream format ${JSON.stringify(format)}`);
  return ['-f', format];
}

function requireUrl(source: LiveSource, scheme: RegExp): string {
  const url = source.url ?? '';
  if (!scheme.test(url)) throw new Error(`source ${source.id} (${source.kind}): url must match ${scheme.source}, got ${JSON.stringify(url.slice(0, 80))}`);
  return url;
}


export class PcmInput {
  readonly startedAt: number;
  lastPcmAt: number | null = null;
  /** Consecutive audio below the threshold at the playhead, ms counted in samples. */
  silentMs = 0;
  ended: 'dropped' | 'garbage' | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly cap: number;
  private readonly live: boolean;
  private proc: ChildProcess | null = null;
  private stdout: Readable | null = null;
  private stopped = false;
  private errors: number[] = [];
  private lastErrors: string[] = [];
  private fileIndex = 0;
  private files: string[] = [];
  private drainedAt: number;
  private readonly silenceRms: number;

  constructor(private readonly opts: InputOptions) {
    this.startedAt = opts.now();
    this.drainedAt = this.startedAt;
    this.live = opts.source.kind !== 'file';
    this.cap = Math.max(msToBytes(100), msToBytes(opts.bufferMs));
    this.silenceRms = opts.silenceDbfs;
    if (opts.source.kind === 'file') {
      void Promise.resolve(opts.files ?? []).then((files) => {
        if (this.stopped) return;
        this.files = files;
        if (files.length === 0) this.fail('dropped', 'no fallback content is in the cache');
        else this.spawn(fileArgs(files[0]!, opts.gainDb), null);
      });
    } else {
      let args: string[];
      try {
        args = streamArgs(opts.source, opts.restart, opts.gainDb);
      } catch (err) {
        this.fail('dropped', (err as Error).message);
        return;
      }
      const sdp = opts.source.kind === 'rtp' && opts.source.sdp ? opts.source.sdp : null;
      if (sdp && Buffer.byteLength(sdp) > MAX_SDP_BYTES) this.fail('dropped', `source ${opts.source.id}: SDP larger than ${MAX_SDP_BYTES} bytes`);
      else this.spawn(args, sdp);
    }
  }

  bufferedBytes(): number {
    return this.buffered;
  }

  /** Takes up to `maxBytes` (whole frames) from the playhead; meters it. */
  read(maxBytes: number): Buffer | null {
    const out = takeWholeFrames(this.chunks, this.buffered, maxBytes);
    if (!out) return null;
    this.buffered -= out.length;
    const now = this.opts.now();
    this.lastPcmAt = now;
    this.silentMs = pcmLevelDb(out) > this.silenceRms ? 0 : this.silentMs + bytesToMs(out.length);
    if (!this.live && this.buffered < this.cap) this.stdout?.resume();
    return out;
  }

  /**
   * Called every tick while the input is NOT on air: a live input's playhead
   * moves on at real time (what it skips is metered as if heard); a file
   * holds its place. Either way a full or non-empty buffer is fresh.
   */
  advance(): void {
    const now = this.opts.now();
    if (this.live) {
      let due = msToBytes(Math.max(0, now - this.drainedAt));
      this.drainedAt = now;
      while (due > 0) {
        const got = this.read(Math.min(due, msToBytes(20)));
        if (!got) break;
        due -= got.length;
      }
    } else if (this.buffered > 0) {
      this.lastPcmAt = now;
    }
  }

  /** An input put on air starts counting its own real-time playhead from here. */
  onAir(): void {
    this.drainedAt = this.opts.now();
  }

  /** SIGTERM, SIGKILL after a short grace; resolves when the process is gone. */
  stop(): Promise<void> {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), KILL_GRACE_MS);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }

  private spawn(args: string[], stdin: string | null): void {
    const { log, source } = this.opts;
    const proc = spawn(this.opts.ffmpegPath, args, { stdio: [stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    if (stdin !== null && proc.stdin) {
      proc.stdin.on('error', () => undefined);
      proc.stdin.end(stdin);
    }
    const stdout = proc.stdout!;
    this.stdout = stdout;
    stdout.on('data', (chunk: Buffer) => this.push(chunk));
    stdout.on('error', () => undefined);
    let partial = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.trim();
        if (!line) continue;
        this.lastErrors = [...this.lastErrors.slice(-4), line.slice(0, 300)];
        const now = this.opts.now();
        this.errors = [...this.errors.filter((t) => now - t < GARBAGE_WINDOW_MS), now];
        if (this.errors.length >= GARBAGE_ERRORS) this.fail('garbage', `decoder errors: ${this.lastErrors.at(-1)}`);
      }
    });
    const progress = proc.stdio[3] as Readable | null;
    progress?.setEncoding('utf8');
    progress?.on('data', (text: string) => {
      // "progress=end": ffmpeg has finished its input, whatever it does next.
      if (/(^|\n)progress=end/.test(text) && this.live) this.fail('dropped', 'the stream ended');
    });
    progress?.on('error', () => undefined);
    proc.once('error', (err) => this.fail('dropped', `cannot run ffmpeg: ${err.message}`));
    stdout.once('end', () => {
      if (this.stopped || this.proc !== proc) return;
      if (!this.live) {
        // The fallback playlist plays in turn and loops; a file that gives no audio ends it.
        const files = this.files;
        this.fileIndex = (this.fileIndex + 1) % files.length;
        this.proc = null;
        this.spawn(fileArgs(files[this.fileIndex]!, this.opts.gainDb), null);
        return;
      }
      this.fail(/invalid data|could not find codec|header missing/i.test(this.lastErrors.join(' ')) ? 'garbage' : 'dropped', this.lastErrors.at(-1) ?? 'the stream ended');
    });
    log.debug({ source: source.id, kind: source.kind }, 'live input: decoder started');
  }

  private push(chunk: Buffer): void {
    if (this.stopped) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.live && this.buffered > this.cap) {
      // Ahead by more than the cap (a burst at connect, clock drift): skip once down to
      // TRIM_TO of it, keeping the newest audio. Trimming to the cap itself would skip a
      // little at every arrival while the buffer sits at the cap: audible stutter.
      let excess = this.buffered - Math.round(this.cap * TRIM_TO);
      excess -= excess % BYTES_PER_FRAME;
      while (excess > 0 && this.chunks.length > 0) {
        const head = this.chunks[0]!;
        const take = Math.min(head.length, excess);
        if (take === head.length) this.chunks.shift();
        else this.chunks[0] = head.subarray(take);
        this.buffered -= take;
        excess -= take;
      }
    } else if (!this.live && this.buffered >= this.cap) {
      this.stdout?.pause();
    }
  }

  private fail(kind: 'dropped' | 'garbage', detail: string): void {
    if (this.ended || this.stopped) return;
    this.ended = kind;
    this.opts.log.warn({ source: this.opts.source.id, kind: this.opts.source.kind, fault: kind, detail }, 'live input failed');
  }
}
