import t from 'tap';
import { encodeFrame, FrameDecoder, MAX_ENCODED, MAX_PAYLOAD, type Frame } from '../src/protocol/frame.js';

/**
 * A million random and mutated frames through the streaming decoder: it must
 * never throw, never hold more than MAX_ENCODED bytes, and still decode
 * every intact frame that follows the damage. Seeded, so a failure repeats.
 */
const FRAMES = 1_000_000;
const SENTINEL_TYPE = 0x7e;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test(`${FRAMES} random and mutated frames`, async (t) => {
  const seed = Number(process.env.LOA_FUZZ_SEED ?? 20261127);
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const randomBytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const randomFrame = (): Uint8Array => {
    // Mostly small payloads, as on the real line; sometimes the largest.
    const len = rnd() < 0.02 ? MAX_PAYLOAD : int(24);
    return encodeFrame({ type: int(256), seq: int(256), payload: randomBytes(len) });
  };
  const mutate = (f: Uint8Array): Uint8Array => {
    const b = Array.from(f);
    const ops = 1 + int(3);
    for (let k = 0; k < ops; k++) {
      const at = int(b.length + 1);
      switch (int(8)) {
        case 0: // bit flip
          if (b.length) b[at % b.length]! ^= 1 << int(8);
          break;
        case 1: // truncate (a reset mid-frame)
          b.length = at;
          break;
        case 2: // dropped byte
          b.splice(at, 1);
          break;
        case 3: // inserted noise byte
          b.splice(at, 0, int(256));
          break;
        case 4: // stray delimiter
          b.splice(at, 0, 0);
          break;
        case 5: // burst of garbage
          b.splice(at, 0, ...randomBytes(1 + int(40)));
          break;
        case 6: // long run with no delimiter (stuck line, wrong baud rate)
          b.splice(at, 0, ...new Uint8Array(MAX_ENCODED + int(600)).fill(1 + int(255)));
          break;
        default: // frame boundaries lost: delimiters removed
          for (let i = 0; i < b.length; i++) if (b[i] === 0 && rnd() < 0.5) b[i] = 1 + int(255);
      }
    }
    return Uint8Array.from(b);
  };

  const d = new FrameDecoder();
  let maxBuffered = 0;
  let sentinelsSent = 0;
  let sentinelsGot = 0;
  const onFrame = (f: Frame): void => {
    if (f.type === SENTINEL_TYPE && f.payload.length === 8 && f.payload[0] === 0x5e && f.payload[7] === 0xe5) sentinelsGot++;
  };
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let fedBytes = 0;
  const flush = (): void => {
    const all = new Uint8Array(pendingBytes);
    let o = 0;
    for (const p of pending) {
      all.set(p, o);
      o += p.length;
    }
    pending.length = 0;
    pendingBytes = 0;
    // Random chunk sizes, as serial reads arrive.
    for (let i = 0; i < all.length; ) {
      const n = 1 + int(300);
      d.push(all.subarray(i, i + n), onFrame);
      if (d.buffered > maxBuffered) maxBuffered = d.buffered;
      i += n;
    }
    fedBytes += all.length;
  };
  const add = (b: Uint8Array): void => {
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes > 1 << 16) flush();
  };

  const started = Date.now();
  for (let i = 0; i < FRAMES; i++) {
    const r = rnd();
    if (r < 0.3) add(randomFrame());
    else if (r < 0.9) add(mutate(randomFrame()));
    else add(randomBytes(1 + int(64)));
    if (i % 50 === 49) {
      // An intact frame after whatever came before must decode.
      add(encodeFrame({ type: SENTINEL_TYPE, seq: sentinelsSent & 0xff, payload: Uint8Array.of(0x5e, 1, 2, 3, 4, 5, 6, 0xe5) }));
      sentinelsSent++;
    }
  }
  flush();
  const seconds = (Date.now() - started) / 1000;
  t.comment(`seed ${seed}: ${FRAMES} frames, ${(fedBytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s; decoded ${d.stats.frames}, errors ${JSON.stringify(d.stats.errors)}`);
  t.ok(maxBuffered <= MAX_ENCODED, `buffer never above ${MAX_ENCODED} bytes (max ${maxBuffered})`);
  t.equal(sentinelsGot, sentinelsSent, 'every intact frame after damage was decoded');
  t.ok(d.stats.errors.crc > 0 && d.stats.errors.overrun > 0 && d.stats.errors.cobs > 0, 'the mutations reached every error path');
});
