/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): removes every
 * 0x00 from a frame so that 0x00 can mark frame boundaries on the wire. A
 * receiver that lands mid-frame (garbage, a dropped byte, a reset of either
 * side) is back in step at the next 0x00. Overhead: one byte per 254.
 */

/** Worst-case encoded length of `n` raw bytes. */
export function cobsMaxEncodedLength(n: number): number {
  return n + 1 + Math.floor(n / 254);
}

export function cobsEncode(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(src.length));
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = b;
      code++;
      if (code === 0xff) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/**
 * Decodes one COBS block (delimiters already removed). Returns null when the
 * block is malformed (a code byte of 0 or one pointing past the end): a
 * corrupted frame, never an exception.
 */
export function cobsDecode(src: Uint8Array, len = src.length): Uint8Array | null {
  const out = new Uint8Array(len);
  let o = 0;
  let i = 0;
  while (i < len) {
    const code = src[i]!;
    if (code === 0 || i + code > len) return null;
    i++;
    for (let k = 1; k < code; k++) {
      const b = src[i++]!;
      if (b === 0) return null;
      out[o++] = b;
    }
    if (code !== 0xff && i < len) out[o++] = 0;
  }
  return out.subarray(0, o);
}
