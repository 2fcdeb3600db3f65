import type { ContentEntry, ValidatedTarget } from './target.js';

/**
 * What applying a target takes, as data: the station compares what the
 * target it wants needs with what it has, and the difference is the list
 * of steps. Level-triggered, as in a reconciler: the same function is asked
 * again at start, on every head, on `resync`, after a content problem and on
 * the retry timer, until it answers with nothing to do.
 */

/** The target the station should be running: the applied one, or a newer one waiting to be. */
export interface WantedTarget {
  version: number;
  content: readonly ContentEntry[];
  /** The whole target, when it is newer than the one in force (it must still be committed). */
  target?: ValidatedTarget;
}

export type ApplyStep =
  /** Download what the target in force needs and the cache lacks, while a newer one is pending: its failure does not hold the newer one back. */
  | { kind: 'heal'; entries: ContentEntry[] }
  /** Download into the cache: content the wanted target needs that the cache lacks (never had, missing, quarantined). */
  | { kind: 'fetch'; entries: ContentEntry[] }
  /** Commit the target (programmes, zones, settings, board) in one transaction. */
  | { kind: 'activate'; target: ValidatedTarget };

/**
 * @param applied the target in force (version 0: none yet), and its content when known.
 * @param has whether the cache holds a playable copy of a content id.
 * Steps run in order; a `fetch` that fails ends the run (the rest waits for the next one).
 */
export function planApply(wanted: WantedTarget, applied: { version: number; content?: readonly ContentEntry[] }, has: (sha256: string) => boolean): ApplyStep[] {
  if (wanted.version < applied.version) return [];
  const seen = new Set<string>();
  const lacking = (content: readonly ContentEntry[]): ContentEntry[] =>
    content.filter((e) => {
      if (seen.has(e.sha256) || has(e.sha256)) return false;
      seen.add(e.sha256);
      return true;
    });
  const steps: ApplyStep[] = [];
  const fetch = lacking(wanted.content);
  // The schedule in force plays until the newer target is committed: what it lacks is fetched first.
  const heal = wanted.version > applied.version ? lacking(applied.content ?? []) : [];
  if (heal.length > 0) steps.push({ kind: 'heal', entries: heal });
  if (fetch.length > 0) steps.push({ kind: 'fetch', entries: fetch });
  if (wanted.version > applied.version && wanted.target) steps.push({ kind: 'activate', target: wanted.target });
  return steps;
}

/** Every content id the given targets name (the wanted one and the one in force): eviction leaves these alone. */
export function contentInUse(targets: ReadonlyArray<{ content?: readonly ContentEntry[] } | undefined>): Set<string> {
  const ids = new Set<string>();
  for (const t of targets) for (const e of t?.content ?? []) ids.add(e.sha256);
  return ids;
}
