import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Decoder, DecoderResult } from '../decoder.js';
import { limitPcm, newLimiter, type LimiterState } from '../limiter.js';
import { pcmPeakDb } from '../dead-air.js';
import { BYTES_PER_FRAME, PCM, bytesToMs, msToBytes, takeWholeFrames } from '../pcm.js';

export interface CaptureOptions {
  /** ALSA capture PCM (hw:1,0, a dsnoop, the file-backed PCM of a test). */
  device: string;
  arecordPath?: string;
  ffmpegPath?: string;
  /** Captured audio after this long ends the item (the operator's --duration). */
  maxMs: number;
  /** Limiter ceiling, dBFS. */
  ceilingDb: number;
  /** Volume on top (the session's), dB; the recording is kept before it. */
  gainDb: number;
  /** Where the limited audio is recorded (Ogg Opus), for the proof of play. */
  recordPath: string;
  /** Audio held at most; older audio is dropped so the delay to the speakers stays this short (default CAPTURE_BUFFER_MS). */
  maxBufferMs?: number;
  /** No audio from the device within this long fails the item (default 3000 ms). */
  readyTimeoutMs?: number;
}

/** What a live input may fall behind the voice before its oldest audio is dropped. */
export const CAPTURE_BUFFER_MS = 120;

/** A capture decoder: the player plays it; the station ends it, meters it and gets its recording. */
export interface CaptureDecoder extends Decoder {
  /** Ends the capture: what is buffered still plays, then the item is over (played). */
  end(): void;
  /** Peak of the last 100 ms captured, dBFS (null: nothing yet). */
  levelDb(): number | null;
  /** Audio aired so far (taken by the player), ms. */
  airedMs(): number;
  /** Resolves with the recording's path once the encoder has finished it; null if nothing could be recorded. */
  recording(): Promise<{ path: string; ms: number } | null>;
}

/**
 * The station's microphone or line input: `arecord` reads the ALSA capture
 * device as raw PCM in 10 ms periods, a limiter (limiter.ts) keeps it under
 * the ceiling, and the result is both handed to the player and piped into
 * an ffmpeg that encodes the recording. arecord's exit ends the item with
 * its message (no device, device busy); the encoder failing only costs the
 * recording, never the air.
 */
export function startCapture(opts: CaptureOptions, log: Logger): CaptureDecoder {
  const maxBuffer = msToBytes(opts.maxBufferMs ?? CAPTURE_BUFFER_MS);
  /** Kept when it goes on air: enough to ride out the capture's 10 ms periods arriving unevenly. */
  const startBuffer = msToBytes(20);
  const maxBytes = msToBytes(opts.maxMs);
  const gain = opts.gainDb === -Infinity ? 0 : 10 ** (opts.gainDb / 20);
  const limiter: LimiterState = newLimiter();
  const chunks: Buffer[] = [];
  let buffered = 0;
  let aired = 0;
  let ended = false;
  let closed = false;
  let stopping = false;
  let lastPeak: { db: number; atMs: number } | null = null;
  let waiters: Array<() => void> = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let doneResolve!: (r: DecoderResult) => void;
  const done = new Promise<DecoderResult>((r) => (doneResolve = r));
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const finish = (result: DecoderResult): void => {
    if (closed) return;
    closed = true;
    readyResolve();
    doneResolve(result);
    encoder.stdin?.end();
    wake();
  };

  const encoder: ChildProcess = spawn(opts.ffmpegPath ?? 'ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', PCM.ffmpegFormat, '-ar', String(PCM.sampleRate), '-ac', String(PCM.channels), '-i', 'pipe:0', '-ac', '1', '-c:a', 'libopus', '-b:a', '48k', '-f', 'ogg', opts.recordPath], { stdio: ['pipe', 'ignore', 'pipe'] });
  let encoderError = '';
  encoder.stderr?.on('data', (d: Buffer) => (encoderError = (encoderError + d.toString()).slice(-500)));
  encoder.stdin?.on('error', () => undefined); // a dead encoder: reported by its exit
  const recorded = new Promise<{ path: string; ms: number } | null>((resolve) => {
    encoder.once('error', (err) => {
      log.error({ err: err.message }, 'live capture: the recorder could not start; on air without a recording');
      resolve(null);
    });
    encoder.once('exit', (code) => {
      if (code === 0 && aired > 0) resolve({ path: opts.recordPath, ms: bytesToMs(aired) });
      else {
        if (aired > 0) log.error({ code, err: encoderError.trim() }, 'live capture: the recording failed; what aired is not kept');
        resolve(null);
      }
    });
  });

  const args = ['-q', '-D', opts.device, '-f', PCM.alsaFormat, '-r', String(PCM.sampleRate), '-c', String(PCM.channels), '-t', 'raw', '--period-time=10000', '--buffer-time=40000'];
  const arecord = spawn(opts.arecordPath ?? 'arecord', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrTail = '';
  arecord.stderr.on('data', (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-500)));
  let partial = Buffer.alloc(0);
  arecord.stdout.on('data', (data: Buffer) => {
    if (closed || stopping) return;
    const all = partial.length > 0 ? Buffer.concat([partial, data]) : data;
    const whole = all.length - (all.length % BYTES_PER_FRAME);
    partial = Buffer.from(all.subarray(whole));
    const pcm = Buffer.from(all.subarray(0, whole));
    if (pcm.length === 0) return;
    limitPcm(pcm, limiter, { ceilingDb: opts.ceilingDb, releaseMs: 150, sampleRate: PCM.sampleRate });
    lastPeak = { db: Math.max(pcmPeakDb(pcm), lastPeak && performance.now() - lastPeak.atMs < 100 ? lastPeak.db : -Infinity), atMs: performance.now() };
    chunks.push(pcm);
    buffered += pcm.length;
    // A live source must not fall behind: the oldest audio goes, the delay stays short
    // (while the relays warm up and the chime plays, too: that audio never aired).
    while (buffered > maxBuffer && chunks.length > 1) buffered -= chunks.shift()!.length;
    readyResolve();
    wake();
  });
  const exited = new Promise<void>((resolve) => {
    arecord.once('error', (err) => {
      finish({ ok: false, reason: `cannot run arecord: ${err.message}` });
      resolve();
    });
    arecord.once('exit', (code, signal) => {
      if (stopping || closed) finish({ ok: true });
      else finish({ ok: false, reason: `capture device "${opts.device}" stopped (arecord ${signal ?? `exit ${code}`}${stderrTail.trim() ? `: ${stderrTail.trim().split('\n').at(-1)}` : ''})` });
      resolve();
    });
  });
  void exited;

  // A device that opens but gives nothing (a wedged driver) must not hold the session: it fails the item.
  const readyTimer = setTimeout(() => {
    if (chunks.length > 0 || closed) return;
    stopping = true;
    arecord.kill('SIGKILL');
    finish({ ok: false, reason: `capture device "${opts.device}" gave no audio within ${opts.readyTimeoutMs ?? 3000} ms` });
  }, opts.readyTimeoutMs ?? 3000);
  void ready.then(() => clearTimeout(readyTimer));

  function stop(): void {
    stopping = true;
    arecord.kill('SIGTERM');
  }

  return {
    fadeInMs: 0,
    fadeOutMs: 0,
    ready,
    read(max: number): Buffer | null {
      if (buffered === 0) {
        if (closed && !ended) ended = true;
        return null;
      }
      // On air from now: what was captured while the relays warmed up (or the chime played) is stale.
      if (aired === 0) while (buffered > startBuffer && chunks.length > 1) buffered -= chunks.shift()!.length;
      const taken = takeWholeFrames(chunks, buffered, Math.max(BYTES_PER_FRAME, max));
      if (!taken) {
        // Less than a frame left by a capture that has closed: nothing more will come.
        if (closed) ended = true;
        return null;
      }
      buffered -= taken.length;
      if (buffered === 0 && closed) ended = true;
      let pcm: Buffer = taken;
      // What the player takes is what airs: it alone is recorded and counts towards the duration.
      if (aired + pcm.length >= maxBytes) {
        pcm = pcm.subarray(0, Math.max(0, maxBytes - aired));
        stop();
      }
      aired += pcm.length;
      if (encoder.stdin?.writable && pcm.length > 0) encoder.stdin.write(pcm);
      return gain === 1 ? pcm : scale(pcm, gain);
    },
    waitForData(): Promise<void> {
      if (buffered > 0 || closed) return Promise.resolve();
      return new Promise((r) => waiters.push(r));
    },
    bufferedBytes: () => buffered,
    get ended() {
      return ended || (closed && buffered === 0);
    },
    done,
    kill(): void {
      stopping = true;
      if (arecord.exitCode === null && arecord.signalCode === null) arecord.kill('SIGKILL');
      chunks.length = 0;
      buffered = 0;
      finish({ ok: true });
    },
    end: () => stop(),
    levelDb: () => (lastPeak && performance.now() - lastPeak.atMs < 500 ? Math.round(lastPeak.db * 10) / 10 : null),
    airedMs: () => bytesToMs(aired),
    recording: () => recorded,
  };
}

function scale(pcm: Buffer, gain: number): Buffer {
  const out = Buffer.alloc(pcm.length);
  for (let i = 0; i + 1 < pcm.length; i += 2) out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm.readInt16LE(i) * gain))), i);
  return out;
}
