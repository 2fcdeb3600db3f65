import { BYTES_PER_FRAME } from './pcm.js';

/**
 * A peak limiter for a live microphone (no look-ahead: a live source cannot
 * wait). Per frame, the gain drops at once to what keeps the louder channel
 * under the ceiling and recovers towards 1 with the release time constant,
 * so a shout never clips the amplifiers and speech between shouts is not
 * pumped down for long. Pure over its state; works in place.
 */
export interface LimiterSettings {
  /** The ceiling, dBFS (e.g. -3). */
  ceilingDb: number;
  /** Time constant of the gain's recovery, ms. */
  releaseMs: number;
  sampleRate: number;
}

export interface LimiterState {
  gain: number;
}

export function newLimiter(): LimiterState {
  return { gain: 1 };
}

/** Limits s16le stereo `pcm` in place; returns it. */
export function limitPcm(pcm: Buffer, state: LimiterState, s: LimiterSettings): Buffer {
  const ceiling = 32767 * 10 ** (s.ceilingDb / 20);
  const release = 1 - Math.exp(-1000 / (s.releaseMs * s.sampleRate));
  let gain = state.gain;
  for (let off = 0; off + BYTES_PER_FRAME <= pcm.length; off += BYTES_PER_FRAME) {
    const l = pcm.readInt16LE(off);
    const r = pcm.readInt16LE(off + 2);
    gain += (1 - gain) * release;
    const peak = Math.max(Math.abs(l), Math.abs(r));
    if (peak * gain > ceiling) gain = ceiling / peak;
    pcm.writeInt16LE(Math.round(l * gain), off);
    pcm.writeInt16LE(Math.round(r * gain), off + 2);
  }
  state.gain = gain;
  return pcm;
}
