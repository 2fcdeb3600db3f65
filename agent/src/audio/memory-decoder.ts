import type { Decoder, DecoderResult } from './decoder.js';
import { BYTES_PER_FRAME, msToBytes } from './pcm.js';

/**
 * A Decoder over PCM already in memory (the chime, the siren): no process
 * to spawn, so an emergency's first sound starts within one sound-card
 * period while the bulletin's own decoder spawns behind it.
 */
export function memoryDecoder(pcm: Buffer, opts: { gainDb: number; offsetMs?: number; fadeInMs?: number; fadeOutMs?: number }): Decoder {
  // The gain is applied slice by slice as the player reads, not to the whole
  // sound up front: scaling 2 s of PCM at once held an emergency's first
  // sample back by 5-20 ms on a busy machine.
  let rest = pcm.subarray(Math.min(pcm.length, msToBytes(opts.offsetMs ?? 0)));
  const done: Promise<DecoderResult> = Promise.resolve({ ok: true });
  return {
    fadeInMs: opts.fadeInMs ?? 0,
    fadeOutMs: opts.fadeOutMs ?? 0,
    ready: Promise.resolve(),
    done,
    read(maxBytes: number): Buffer | null {
      if (rest.length === 0) return null;
      const n = Math.min(rest.length, maxBytes - (maxBytes % BYTES_PER_FRAME));
      const out = withGain(rest.subarray(0, n), opts.gainDb);
      rest = rest.subarray(n);
      return out;
    },
    waitForData: () => Promise.resolve(),
    bufferedBytes: () => rest.length,
    get ended() {
      return rest.length === 0;
    },
    kill() {
      rest = Buffer.alloc(0);
    },
  };
}

/** A copy of s16le PCM scaled by `gainDb`, clamped (the cache's gain keeps peaks under the ceiling). */
export function withGain(pcm: Buffer, gainDb: number): Buffer {
  const out = Buffer.alloc(pcm.length - (pcm.length % 2));
  const factor = gainDb === -Infinity ? 0 : 10 ** (gainDb / 20);
  for (let i = 0; i < out.length; i += 2) {
    out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm.readInt16LE(i) * factor))), i);
  }
  return out;
}
