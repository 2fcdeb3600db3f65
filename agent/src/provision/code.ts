import { createHash, randomBytes } from 'node:crypto';

/**
 * Short codes people read aloud over a phone: Crockford base32 (no I, L, O
 * or U, so nothing reads as another symbol), grouped in fours or fives.
 */

export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The first `chars` symbols of `bytes` in Crockford base32 (5 bits each, most significant first). */
export function crockford(bytes: Uint8Array, chars: number): string {
  if (chars * 5 > bytes.length * 8) throw new Error(`${bytes.length} bytes hold at most ${Math.floor((bytes.length * 8) / 5)} symbols, not ${chars}`);
  let out = '';
  for (let i = 0; i < chars; i++) {
    let v = 0;
    for (let b = 0; b < 5; b++) {
      const bit = i * 5 + b;
      v = (v << 1) | ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1);
    }
    out += CROCKFORD[v];
  }
  return out;
}

function group(s: string, size: number): string {
  return s.match(new RegExp(`.{1,${size}}`, 'g'))!.join('-');
}

/**
 * The station's enrolment code: 8 symbols (40 bits) of SHA-256 over its raw
 * public key, shown as XXXX-XXXX. The same key always shows the same code, so
 * a station that lost its link or was restarted shows what the technician
 * already read out, and the province recomputes it from the key it received.
 */
export function enrolmentCode(rawPublicKey: Uint8Array): string {
  const digest = createHash('sha256').update('loa-enrol-code\n').update(rawPublicKey).digest();
  return group(crockford(digest, 8), 4);
}

/**
 * What someone typed, as the canonical code: case and separators ignored,
 * O read as 0, I and L as 1 (Crockford's decoding rules). Null when it cannot
 * be a code of `length` symbols, with nothing guessed.
 */
export function normaliseCode(typed: string, length = 8): string | null {
  const s = crockfordSymbols(typed);
  if (s.length !== length || [...s].some((c) => !CROCKFORD.includes(c))) return null;
  return group(s, length % 5 === 0 ? 5 : 4);
}

/** The symbols of what someone typed: case and separators dropped, O read as 0, I and L as 1. */
export function crockfordSymbols(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

/** A one-time enrolment token: 20 symbols (100 random bits), XXXXX-XXXXX-XXXXX-XXXXX. */
export function newToken(random: (n: number) => Uint8Array = randomBytes): string {
  return group(crockford(random(13), 20), 5);
}

/** What the province keeps of a token: its SHA-256, so a copy of the database enrols nobody. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(crockfordSymbols(token)).digest('hex');
}
