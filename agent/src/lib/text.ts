import { z } from 'zod';

/**
 * Text from outside (the CLI, the province, a target's board playlists) is
 * made safe once, where it enters, so that nothing downstream (the board,
 * the play log, `loa status`, a terminal) has to distrust it:
 * - unpaired surrogates become U+FFFD (SQLite, JSON and fonts all choke on them);
 * - NFC, so precomposed and decomposed Vietnamese are the same string;
 * - control characters go (C0 but newline, DEL, C1: they move terminal
 *   cursors and break log lines), as do bidi overrides and isolates (they
 *   reverse what a reader sees) and invisible zero-width spaces (they hide
 *   a text's real content). ZWJ, ZWNJ and variation selectors stay: emoji
 *   sequences and some scripts need them;
 * - whitespace collapses, ends are trimmed;
 * - the length is bounded in characters, never cutting a letter from its
 *   marks or an emoji in half; a cut text ends with "…".
 * Pure and idempotent: normalising twice changes nothing.
 */

// Bidi embeddings/overrides/isolates and marks, the Arabic letter mark, zero-width space, word joiner, BOM, Mongolian vowel separator.
const INVISIBLE = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B\u2060\uFEFF\u180E\uFFFE\uFFFF]/g;
// C0 (tab and newline are handled first), DEL and C1.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
const ELLIPSIS = '…';

export interface CleanOptions {
  /** Keep line breaks (at most one blank line in a row); otherwise everything is one line. */
  multiline?: boolean;
}

export interface CleanResult {
  text: string;
  /** The text was longer than the bound and was cut. */
  truncated: boolean;
}

/** Normalises `input` (see above) and bounds it to `max` user-perceived characters. */
export function normalizeText(input: string, max: number, opts: CleanOptions = {}): CleanResult {
  let s = wellFormed(input).normalize('NFC');
  s = s.replace(/\r\n?|[\u2028\u2029\u0085]/g, '\n');
  s = s.replace(INVISIBLE, '').replace(/\t/g, ' ').replace(CONTROL, '');
  if (opts.multiline) {
    s = s
      .split('\n')
      .map((l: string) => l.replace(/\s+/g, ' ').trim())
      .join('\n')
      .replace(/\n{3,}/g, '\n\n');
  } else s = s.replace(/\s+/g, ' ');
  s = s.trim();
  return bound(s, max);
}

/** normalizeText's text alone. */
export function cleanText(input: string, max: number, opts: CleanOptions = {}): string {
  return normalizeText(input, max, opts).text;
}

/** An optional or mistyped value from an untyped request: a string cleaned, anything else blank. */
export function cleanField(input: unknown, max: number, opts: CleanOptions = {}): string {
  return typeof input === 'string' ? cleanText(input, max, opts) : '';
}

/**
 * A schema field that cleans instead of refusing: a text too long is cut,
 * not rejected (an emergency whose label is too long must still air).
 */
export const cleanString = (max: number, opts: CleanOptions = {}) => z.string().transform((s) => cleanText(s, max, opts));

/** String.prototype.toWellFormed (Node 20; not yet in this TypeScript lib). */
const wellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/**
 * One user-perceived character, near enough for a bound: a letter with its
 * marks, an emoji with its modifiers and ZWJ-joined parts, a flag.
 * (Intl.Segmenter would be exact, but V8's costs time in the whole string's
 * length at every step: a megabyte took half a minute.)
 */
const CLUSTER = /\p{RI}\p{RI}|\P{M}[\p{M}\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]*(?:\u200D\P{M}[\p{M}\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]*)*|\p{M}+/gu;

function bound(s: string, max: number): CleanResult {
  // Fast path: never more characters than UTF-16 units.
  if (s.length <= max) return { text: s, truncated: false };
  const re = new RegExp(CLUSTER);
  let count = 0;
  // Where the first max-1 characters end: room for the ellipsis.
  let keep = 0;
  while (re.exec(s) !== null) {
    if (count === max) return { text: s.slice(0, keep).trimEnd() + ELLIPSIS, truncated: true };
    if (++count < max) keep = re.lastIndex;
  }
  return { text: s, truncated: false };
}
