import ffmpeg from 'fluent-ffmpeg';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { BYTES_PER_FRAME, PCM, msToBytes, takeWholeFrames } from './pcm.js';

/**
 * The one module that imports fluent-ffmpeg (deprecated upstream, archived
 * in 2025): everything else sees `Decoder`. A decoder runs
 *   ffmpeg -nostdin -loglevel error [-ss OFFSET] -i FILE -vn -filter:a volume=GAIN
 *          -ac 2 -ar 48000 -f s16le pipe:1
 * and buffers its PCM. ffmpeg needs 85-165 ms from spawn to the first byte,
 * so a decoder is started ahead of its instant and `ready` says it has
 * pre-rolled; a full buffer pauses the pipe, which blocks ffmpeg, so a
 * prepared decoder holds at most `bufferMs` of audio in memory.
 *
 * The item ends when ffmpeg's output stream ends, never when the process
 * exits: ffmpeg exits as soon as its last bytes are in the pipe, and up to
 * about a second of audio (pipe, stream buffers, this buffer) is then still
 * on its way. Treating the exit as the end cut the last 0.6-1.4 s of every
 * item longer than the buffer.
 *
 * Gain is applied without a limiter: the cache computes a normalisation gain
 * that keeps the true peak under the ceiling, and volume only attenuates
 * (volumeGainDb <= 0), so the sum never clips. A positive gain from anywhere
 * else would clip at the s16 conversion.
 */
export interface DecoderOptions {
  file: string;
  /** Start this far into the file (resume after an interruption). */
  offsetMs?: number;
  /** Loudness normalisation + volume, dB; -Infinity mutes. */
  gainDb: number;
  /** Linear fade at the start (a resumed item starts mid-sound); applied by the player (fade.ts). */
  fadeInMs?: number;
  /** Linear fade at the natural end, and over what is already decoded when aborted. */
  fadeOutMs?: number;
  ffmpegPath?: string;
  /** Audio buffered before `ready` resolves (default 100 ms). */
  prerollMs?: number;
  /** The pipe pauses above this much buffered audio (default 1000 ms). */
  bufferMs?: number;
  /**
   * Not pre-rolled within this long (a hung network mount, a FIFO): killed,
   * `done` gives 'decoder stalled', `ready` resolves. Default 10 s.
   */
  readyTimeoutMs?: number;
}

export type DecoderResult = { ok: true } | { ok: false; reason: string };

export interface Decoder {
  /** The item's fades, in ms, for the player to apply. */
  readonly fadeInMs: number;
  readonly fadeOutMs: number;
  /** Resolves once `prerollMs` of audio is buffered, or the decoder finished or stalled (check `done`). Never rejects. */
  readonly ready: Promise<void>;
  /** Takes up to `maxBytes` (whole frames) of buffered PCM; null when none is buffered now. */
  read(maxBytes: number): Buffer | null;
  /** Resolves when PCM is buffered or the stream ended. */
  waitForData(): Promise<void>;
  bufferedBytes(): number;
  /** True once ffmpeg's output has ended and everything was read. */
  readonly ended: boolean;
  /** How the ffmpeg process ended; `reason` is its last error line, 'killed' or 'decoder stalled'. */
  readonly done: Promise<DecoderResult>;
  /** SIGKILL; safe to call at any time, also before ffmpeg has spawned. */
  kill(): void;
}

export function startDecoder(opts: DecoderOptions, log: Logger): Decoder {
  return new FfmpegDecoder(opts, log);
}

/** The audio filter chain: gain as a volume filter (exact 0 when muted). */
export function gainFilter(gainDb: number): string {
  if (gainDb === -Infinity) return 'volume=0';
  if (!Number.isFinite(gainDb)) throw new Error(`gain must be a number of dB or -Infinity, got ${gainDb}`);
  return `volume=${gainDb.toFixed(2)}dB`;
}

class FfmpegDecoder implements Decoder {
  readonly fadeInMs: number;
  readonly fadeOutMs: number;
  readonly ready: Promise<void>;
  readonly done: Promise<DecoderResult>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private streamEnded = false;
  private killReason: string | null = null;
  private waiters: Array<() => void> = [];
  private readonly command: ffmpeg.FfmpegCommand;
  private readonly stream: PassThrough;
  private readonly prerollBytes: number;
  private readonly highWater: number;
  private markReady: () => void = () => undefined;
  private errors: string[] = [];
  /** ffmpeg was spawned, so its stdout will close and end the stream. */
  private spawned = false;
  /** ffmpeg has exited: what is left in the pipe is bounded, so it is read without pausing. */
  private exited = false;

  constructor(
    opts: DecoderOptions,
    private readonly log: Logger,
  ) {
    this.fadeInMs = opts.fadeInMs ?? 0;
    this.fadeOutMs = opts.fadeOutMs ?? 0;
    this.prerollBytes = msToBytes(opts.prerollMs ?? 100);
    this.highWater = Math.max(this.prerollBytes, msToBytes(opts.bufferMs ?? 1000));
    const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    const readyTimer = setTimeout(() => {
      this.log.warn({ file: opts.file, readyTimeoutMs }, 'decoder produced no audio: killed');
      this.stop('decoder stalled');
    }, readyTimeoutMs);
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    void this.ready.then(() => clearTimeout(readyTimer));
    const inputOptions = ['-nostdin', '-hide_banner', '-loglevel', 'error'];
    if (opts.offsetMs && opts.offsetMs > 0) inputOptions.push('-ss', (opts.offsetMs / 1000).toFixed(3));
    this.command = ffmpeg({ stdoutLines: 20 }) // the stderr ring; 0 would mean unlimited
      .setFfmpegPath(opts.ffmpegPath ?? 'ffmpeg')
      .input(opts.file)
      .inputOptions(inputOptions)
      .noVideo()
      .audioFilters(gainFilter(opts.gainDb))
      .audioChannels(PCM.channels)
      .audioFrequency(PCM.sampleRate)
      .format(PCM.ffmpegFormat);
    this.command.on('stderr', (line: string) => {
      if (line.trim()) this.errors = [...this.errors.slice(-9), line.trim()];
    });
    this.command.on('start', () => {
      this.spawned = true;
      // kill() before the spawn (fluent-ffmpeg first checks capabilities) lands here.
      if (this.killReason) this.command.kill('SIGKILL');
    });
    this.done = new Promise((resolve) => {
      this.command.once('end', () => {
        if (this.errors.length > 0) this.log.warn({ file: opts.file, errors: this.errors }, 'decoder finished with errors in the stream');
        resolve({ ok: true });
      });
      this.command.once('error', (err: Error) => {
        const reason = this.killReason ?? lastMeaningful(this.errors) ?? err.message;
        resolve({ ok: false, reason });
      });
    });
    // No 'close' event: fluent-ffmpeg takes a closed output for a failure and
    // kills ffmpeg 20 ms later, which on a loaded machine can come before the
    // process's own exit is seen and turn a whole item into a failed one.
    this.stream = new PassThrough({ emitClose: false });
    this.command.pipe(this.stream, { end: true });
    this.stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= this.highWater && !this.exited) this.stream.pause();
      if (this.buffered >= this.prerollBytes) this.markReady();
      this.wake();
    });
    this.stream.once('end', () => this.finish());
    this.stream.once('error', () => this.finish());
    void this.done.then(() => {
      this.exited = true;
      // ffmpeg never ran (not installed, not executable): no stream will ever end.
      if (!this.spawned) this.finish();
      else this.stream.resume();
    });
  }

  get ended(): boolean {
    return this.streamEnded && this.buffered === 0;
  }

  bufferedBytes(): number {
    return this.buffered;
  }

  read(maxBytes: number): Buffer | null {
    // Pipe chunks split frames anywhere; only whole frames leave, so no
    // cut (abort, fade) can shift the channels of what follows in the sink.
    if (this.streamEnded && this.buffered < BYTES_PER_FRAME) this.discardPartialFrame();
    const out = takeWholeFrames(this.chunks, this.buffered, maxBytes);
    if (!out) return null;
    this.buffered -= out.length;
    if (this.buffered < this.highWater && !this.streamEnded) this.stream.resume();
    return out;
  }

  waitForData(): Promise<void> {
    if (this.buffered >= BYTES_PER_FRAME || this.streamEnded) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A truncated last frame (never seen from ffmpeg, but a stream could end so) is not audio. */
  private discardPartialFrame(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  kill(): void {
    this.stop('killed');
  }

  private stop(reason: string): void {
    if (this.killReason) return;
    this.killReason = reason;
    this.command.kill('SIGKILL');
    this.stream.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.streamEnded) return;
    this.streamEnded = true;
    if (this.buffered < BYTES_PER_FRAME) this.discardPartialFrame();
    this.markReady();
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** The last stderr line that says what went wrong (ffmpeg ends with generic summaries). */
function lastMeaningful(lines: string[]): string | undefined {
  const generic = /^(Conversion failed!|Error opening input files?:?.*|Exiting normally.*)$/;
  return [...lines].reverse().find((l) => !generic.test(l));
}
