import { BYTES_PER_FRAME, PCM } from './pcm.js';

/**
 * Linear gain ramp over s16le stereo PCM, in place: from `from` at the first
 * frame to `to` at the last. Fades live here rather than in ffmpeg's afade
 * because the fade-out must follow the real end of the audio (or an
 * interruption), which ffmpeg cannot know without the duration.
 */
export function rampPcm(pcm: Buffer, from: number, to: number): Buffer {
  const frames = Math.floor(pcm.length / BYTES_PER_FRAME);
  if (frames === 0) return pcm;
  const step = frames > 1 ? (to - from) / (frames - 1) : 0;
  for (let f = 0; f < frames; f++) {
    const g = from + step * f;
    for (let c = 0; c < PCM.channels; c++) {
      const at = f * BYTES_PER_FRAME + c * PCM.bytesPerSample;
      pcm.writeInt16LE(Math.round(pcm.readInt16LE(at) * g), at);
    }
  }
  return pcm;
}

/** Index of the first non-zero frame, or -1: where the first audible sample of a period is (benchmarks, tests). */
export function firstAudibleFrame(pcm: Buffer): number {
  for (let i = 0; i < pcm.length; i++) if (pcm[i] !== 0) return Math.floor(i / BYTES_PER_FRAME);
  return -1;
}

/** Index of the last non-zero frame, or -1: where a period's audio ends (benchmarks, tests). */
export function lastAudibleFrame(pcm: Buffer): number {
  for (let i = pcm.length - 1; i >= 0; i--) if (pcm[i] !== 0) return Math.floor(i / BYTES_PER_FRAME);
  return -1;
}
