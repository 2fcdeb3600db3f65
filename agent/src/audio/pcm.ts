/**
 * The one PCM format inside loa: signed 16-bit little-endian, 48 kHz, stereo.
 * Decoders produce it, sinks consume it.
 */
export const PCM = {
  sampleRate: 48_000,
  channels: 2,
  bytesPerSample: 2,
  ffmpegFormat: 's16le',
  alsaFormat: 'S16_LE',
} as const;

export const BYTES_PER_FRAME = PCM.channels * PCM.bytesPerSample;
export const BYTES_PER_MS = (PCM.sampleRate * BYTES_PER_FRAME) / 1000;

export function bytesToMs(bytes: number): number {
  return bytes / BYTES_PER_MS;
}

export function msToBytes(ms: number): number {
  return Math.round((ms * PCM.sampleRate) / 1000) * BYTES_PER_FRAME;
}
