import { z } from 'zod';

/**
 * Objects that refuse keys they do not know. A stripped typo is a silent
 * wrong setting ("weekday": [1] played every day), so every document an
 * operator or the province writes (configuration, programmes, targets,
 * board playlists) is parsed with these. The message names the key and the
 * nearest known one, in English and Vietnamese, since it reaches the
 * operator as it is (stderr, `loa doctor`, the province's event log).
 */
export function strictObject<Shape extends z.ZodRawShape>(shape: Shape): z.ZodObject<Shape, z.core.$strict> {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? unknownKeysMessage(issue.keys, known) : undefined),
  });
}

/** `strict.object({...})` reads like, and replaces, `z.object({...})` in a schema file. */
export const strict = { object: strictObject };

/** `unknown key "weekday": did you mean "weekdays"? (khóa lạ ...)`, one clause per key. */
export function unknownKeysMessage(keys: readonly string[], known: readonly string[]): string {
  return keys
    .map((key) => {
      const near = nearestKey(key, known);
      return near
        ? `unknown key "${key}": did you mean "${near}"? (khóa lạ "${key}": có phải "${near}"?)`
        : `unknown key "${key}"; known keys: ${known.join(', ')} (khóa lạ "${key}"; các khóa hợp lệ: ${known.join(', ')})`;
    })
    .join('; ');
}

/**
 * The known key closest to `key` by edit distance (case-insensitive), if it
 * is close enough to be a typo: at most 2 edits, and at most a third of the
 * key's length for short keys, so "id" does not suggest "to".
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const limit = Math.min(2, Math.max(1, Math.floor(key.length / 3)));
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = levenshtein(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Insertions, deletions and substitutions needed to turn a into b. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
