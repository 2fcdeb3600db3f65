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

/** RMS level of s16le PCM (all channels), dBFS; -Infinity for digital silence. */
export function pcmLevelDb(pcm: Buffer): number {
  const samples = Math.floor(pcm.length / 2);
  if (samples === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    const x = pcm.readInt16LE(i * 2);
    sum += x * x;
  }
  return sum === 0 ? -Infinity : 20 * Math.log10(Math.sqrt(sum / samples) / 32768);
}

/**
 * Takes up to `maxBytes` of whole frames from the front of a chunk queue
 * (pipe chunks split frames anywhere; only whole frames leave, so no cut can
 * shift the channels of what follows). Null when not one frame is there.
 */
export function takeWholeFrames(chunks: Buffer[], buffered: number, maxBytes: number): Buffer | null {
  const want = Math.min(maxBytes, buffered) - (Math.min(maxBytes, buffered) % BYTES_PER_FRAME);
  if (want <= 0) return null;
  const parts: Buffer[] = [];
  let got = 0;
  while (got < want) {
    const head = chunks[0]!;
    const take = Math.min(head.length, want - got);
    parts.push(head.subarray(0, take));
    got += take;
    if (take === head.length) chunks.shift();
    else chunks[0] = head.subarray(take);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
}
