import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.js';
import { crc16 } from './crc16.js';

/**
 * One frame, before stuffing (see PROTOCOL.md, "Frames"):
 *
 *   type u8 | seq u8 | len u8 | payload (len bytes) | crc16 (big-endian)
 *
 * On the wire: 0x00, COBS(frame), 0x00. The CRC covers type..payload.
 */
export interface Frame {
  type: number;
  seq: number;
  payload: Uint8Array;
}

export const MAX_PAYLOAD = 240;
export const HEADER_BYTES = 3;
export const CRC_BYTES = 2;
const MAX_RAW = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES;
/** The longest run of non-zero bytes a valid frame can put on the wire. */
export const MAX_ENCODED = cobsMaxEncodedLength(MAX_RAW);

export class FrameError extends Error {}

export function encodeFrame(f: Frame): Uint8Array {
  if (!Number.isInteger(f.type) || f.type < 0 || f.type > 0xff) throw new FrameError(`frame type ${f.type} is not a byte`);
  if (!Number.isInteger(f.seq) || f.seq < 0 || f.seq > 0xff) throw new FrameError(`frame sequence number ${f.seq} is not a byte`);
  if (f.payload.length > MAX_PAYLOAD) throw new FrameError(`payload of ${f.payload.length} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
  const raw = new Uint8Array(HEADER_BYTES + f.payload.length + CRC_BYTES);
  raw[0] = f.type;
  raw[1] = f.seq;
  raw[2] = f.payload.length;
  raw.set(f.payload, HEADER_BYTES);
  const crc = crc16(raw, 0, HEADER_BYTES + f.payload.length);
  raw[raw.length - 2] = crc >> 8;
  raw[raw.length - 1] = crc & 0xff;
  const body = cobsEncode(raw);
  const wire = new Uint8Array(body.length + 2);
  wire.set(body, 1);
  return wire;
}

export type DecodeError = 'cobs' | 'short' | 'length' | 'crc' | 'overrun';

/** What the decoder counted; a rising error count is a noisy or mismatched line. */
export interface DecoderStats {
  frames: number;
  errors: Record<DecodeError, number>;
}

/** Checks one unstuffed block; pure. */
export function parseBlock(block: Uint8Array, len = block.length): Frame | DecodeError {
  const raw = cobsDecode(block, len);
  if (raw === null) return 'cobs';
  if (raw.length < HEADER_BYTES + CRC_BYTES) return 'short';
  const n = raw[2]!;
  if (raw.length !== HEADER_BYTES + n + CRC_BYTES) return 'length';
  const crc = (raw[raw.length - 2]! << 8) | raw[raw.length - 1]!;
  if (crc16(raw, 0, raw.length - CRC_BYTES) !== crc) return 'crc';
  return { type: raw[0]!, seq: raw[1]!, payload: raw.slice(HEADER_BYTES, HEADER_BYTES + n) };
}

/**
 * Streaming decoder. Its buffer is fixed at MAX_ENCODED bytes: a longer run
 * without a delimiter cannot be a frame, so it is dropped until the next
 * 0x00 and counted as an overrun. Nothing it is fed can make it throw,
 * grow, or stall: every 0x00 is a fresh start.
 */
export class FrameDecoder {
  private readonly buf = new Uint8Array(MAX_ENCODED);
  private len = 0;
  private discarding = false;
  readonly stats: DecoderStats = { frames: 0, errors: { cobs: 0, short: 0, length: 0, crc: 0, overrun: 0 } };

  /** Bytes held for a frame not yet delimited; never above MAX_ENCODED. */
  get buffered(): number {
    return this.len;
  }

  /** Feeds received bytes; calls `onFrame` for each valid frame, `onError` for each rejected block. */
  push(chunk: Uint8Array, onFrame: (f: Frame) => void, onError?: (e: DecodeError) => void): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== 0) {
        if (this.discarding) continue;
        if (this.len === MAX_ENCODED) {
          this.discarding = true;
          this.len = 0;
          this.stats.errors.overrun++;
          onError?.('overrun');
          continue;
        }
        this.buf[this.len++] = b;
        continue;
      }
      const had = this.len;
      const wasDiscarding = this.discarding;
      this.len = 0;
      this.discarding = false;
      // Back-to-back delimiters (the leading 0x00 of each frame) are not errors.
      if (had === 0 || wasDiscarding) continue;
      const r = parseBlock(this.buf, had);
      if (typeof r === 'string') {
        this.stats.errors[r]++;
        onError?.(r);
      } else {
        this.stats.frames++;
        onFrame(r);
      }
    }
  }

  /** Forgets a partial frame (after reopening the port). */
  reset(): void {
    this.len = 0;
    this.discarding = false;
  }
}
