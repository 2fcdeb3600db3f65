import type { Logger } from 'pino';
import { wallClockMs } from './clock.js';
import type { Decoder } from './decoder.js';
import { rampPcm } from './fade.js';
import { BYTES_PER_FRAME, bytesToMs, msToBytes } from './pcm.js';
import type { AudioSink } from './sink.js';

export interface PlayItemOptions {
  /** Started (and ideally `ready`) ahead of the instant. */
  decoder: Decoder;
  sink: AudioSink;
  /** Wall-clock epoch ms (fractional ok, `wallClockMs()` scale) of the first sample; absent: at once. */
  startAtMs?: number;
  signal: AbortSignal;
  /** No PCM for this long while more is expected: the decoder is killed and the item failed. */
  stallTimeoutMs: number;
  log: Logger;
  /** Called once the first audio is in the sink (what waited for the item to be on air may go on). */
  onStarted?: () => void;
}

export interface PlayOutcome {
  result: 'played' | 'interrupted' | 'failed';
  /** Wall-clock ms at which the first sample is heard: its write, after what the sink held before it (null: nothing was played). */
  startedAtMs: number | null;
  /** Estimated wall-clock ms at which the last written sample leaves the sink. */
  endedAtMs: number;
  /** Audio the sink received and kept, ms, counted in samples (fade-out included); offsetMs + playedMs resumes. */
  playedMs: number;
  reason?: string;
}

/** Writes go to the sink in slices this long, so an abort is noticed within one slice. */
const SLICE_MS = 20;
/** Within this much of the instant, spin on setImmediate instead of trusting a timer. */
const SPIN_MS = 2;
/** The longest a wait for an instant goes without looking at the clock again. */
const WAIT_RECHECK_MS = 1000;
/**
 * An abort fades out what the sink holds over this long (where the sink can
 * take audio back): long enough not to click, short enough that an
 * emergency is heard at once.
 */
export const CUT_FADE_MS = 8;

/**
 * Plays one decoded item into the sink: waits for the pre-roll, waits
 * precisely for `startAtMs`, then feeds the sink as it accepts audio.
 * The decoder's fades are applied here (see fade.ts). On abort, a sink
 * that can take audio back (`cut`) fades out what it holds over CUT_FADE_MS
 * at that very moment and drops the rest; with any other sink what is
 * already decoded (up to fadeOutMs) is faded out after the sink's buffer.
 * Either way there is no click.
 * Never throws: every ending is an outcome, and the decoder is always dead
 * when this resolves.
 */
export async function playItem(opts: PlayItemOptions): Promise<PlayOutcome> {
  const { decoder, sink, signal, log } = opts;
  const fadeInBytes = msToBytes(decoder.fadeInMs);
  const fadeOutBytes = msToBytes(decoder.fadeOutMs);
  const sliceBytes = msToBytes(SLICE_MS);
  let startedAtMs: number | null = null;
  let written = 0;
  let dropped = 0;
  const cutOnAbort = (): void => {
    if (sink.cut && startedAtMs !== null) dropped += sink.cut(CUT_FADE_MS);
  };

  const outcome = (result: PlayOutcome['result'], reason?: string): PlayOutcome => {
    decoder.kill();
    signal.removeEventListener('abort', cutOnAbort);
    const kept = Math.max(0, written - dropped);
    return { result, startedAtMs, endedAtMs: wallClockMs() + sink.bufferedMs(), playedMs: bytesToMs(kept), ...(reason ? { reason } : {}) };
  };
  const failure = async (): Promise<string> => {
    const r = await decoder.done;
    return r.ok ? 'decoder ended without audio' : r.reason;
  };

  if (signal.aborted) return outcome('interrupted');
  const readied = await raceStall(decoder.ready, opts.stallTimeoutMs, signal);
  if (readied === 'aborted') return outcome('interrupted');
  if (readied === 'stalled') {
    log.warn({ stallTimeoutMs: opts.stallTimeoutMs }, 'decoder produced no audio: killed');
    return outcome('failed', 'decoder stalled');
  }
  if (decoder.ended) return outcome('failed', await failure());

  if (opts.startAtMs !== undefined && !(await waitUntil(opts.startAtMs, signal))) return outcome('interrupted');

  // Everything but the last fadeOutBytes is written as it comes; the tail is
  // held back until we know whether more follows, so it can be faded.
  let tail: Buffer = Buffer.alloc(0);
  let fadedIn = 0;
  const write = async (pcm: Buffer): Promise<void> => {
    if (pcm.length === 0) return;
    if (fadedIn < fadeInBytes) {
      const span = Math.min(pcm.length, fadeInBytes - fadedIn);
      rampPcm(pcm.subarray(0, span), fadedIn / fadeInBytes, (fadedIn + span) / fadeInBytes);
      fadedIn += span;
    }
    if (startedAtMs === null) {
      startedAtMs = wallClockMs() + sink.bufferedMs();
      // At the abort itself, not when the loop next looks: a write may be waiting for room.
      signal.addEventListener('abort', cutOnAbort, { once: true });
    }
    // A wedged sound card (aplay stuck on a dead device) must not hang the station either.
    if ((await raceStall(sink.write(pcm), opts.stallTimeoutMs)) === 'stalled') {
      throw new Error(`sink (${sink.kind}) accepted no audio for ${opts.stallTimeoutMs} ms`);
    }
    if (written === 0) opts.onStarted?.();
    written += pcm.length;
  };
  const fadeOutAndWrite = async (pcm: Buffer): Promise<void> => {
    if (pcm.length > 0) await write(rampPcm(pcm, 1, 0));
  };

  try {
    for (;;) {
      if (signal.aborted) {
        if (sink.cut && startedAtMs !== null) return outcome('interrupted');
        const more = decoder.read(Math.max(0, fadeOutBytes - tail.length)) ?? Buffer.alloc(0);
        await fadeOutAndWrite(Buffer.concat([tail, more]).subarray(0, fadeOutBytes));
        return outcome('interrupted');
      }
      const chunk = decoder.read(sliceBytes);
      if (chunk) {
        const all = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
        const cut = Math.max(0, all.length - fadeOutBytes);
        const aligned = cut - (cut % BYTES_PER_FRAME);
        tail = all.subarray(aligned);
        await write(all.subarray(0, aligned));
        continue;
      }
      if (decoder.ended) {
        // The tail first: ffmpeg's exit can be seen well after its last byte,
        // and the sink would run dry before the item's last 30 ms meanwhile.
        await fadeOutAndWrite(tail);
        const result = await decoder.done;
        if (!result.ok) return outcome('failed', result.reason);
        return outcome(written > 0 ? 'played' : 'failed', written > 0 ? undefined : 'decoder ended without audio');
      }
      const waited = await raceStall(decoder.waitForData(), opts.stallTimeoutMs, signal);
      if (waited === 'stalled') {
        await fadeOutAndWrite(tail);
        log.warn({ stallTimeoutMs: opts.stallTimeoutMs, playedMs: bytesToMs(written) }, 'decoder stalled mid-item: killed');
        return outcome('failed', 'decoder stalled');
      }
    }
  } catch (err) {
    // The sink failed (aplay died): the item is lost; the caller reopens the sink.
    return outcome('failed', (err as Error).message);
  }
}

async function raceStall(p: Promise<void>, timeoutMs: number, signal?: AbortSignal): Promise<'ok' | 'stalled' | 'aborted'> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      p.then(() => 'ok' as const),
      new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), timeoutMs))),
      new Promise<'aborted'>((resolve) => {
        onAbort = () => resolve('aborted');
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Waits until the wall clock reaches `atMs`: timers to ~2 ms before (none
 * longer than a second), then setImmediate turns (which let I/O through) to
 * the instant. False if aborted.
 */
export async function waitUntil(atMs: number, signal: AbortSignal): Promise<boolean> {
  for (;;) {
    if (signal.aborted) return false;
    const left = atMs - wallClockMs();
    if (left <= 0) return true;
    if (left <= SPIN_MS) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    // The clock is read again at least every second: a step meanwhile moves the instant (a backward step
    // of an hour must not become an hour of spinning, nor a forward one a wait for the old instant).
    const ok = await new Promise<boolean>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, Math.min(left - SPIN_MS, WAIT_RECHECK_MS));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    if (!ok) return false;
  }
}
