/**
 * The station's vocabulary: what a programme, an item and a bulletin are.
 * Plain data shared by the planner, the arbiter, the store and the player.
 */

/** Circular 39 bulletin classes. */
export type BulletinClass = 'normal' | 'priority' | 'emergency';

/**
 * Priorities run 0-9 like PA systems. The class is derived from the
 * priority so that the two can never disagree: 0-4 normal, 5-8 priority,
 * 9 emergency.
 */
export function classOf(priority: number): BulletinClass {
  if (priority >= 9) return 'emergency';
  if (priority >= 5) return 'priority';
  return 'normal';
}

/** The lowest priority of each class, for requests that name a class only. */
export const CLASS_PRIORITY: Record<BulletinClass, number> = { normal: 0, priority: 5, emergency: 9 };

/** A SHA-256 hex digest naming a piece of content in the cache. */
export type ContentId = string;

/** A cached file. */
export interface ContentItem {
  content: ContentId;
  /** How many times the item plays in a row (>= 1). */
  repeat: number;
  /** Silence after each play, in milliseconds. */
  gapMs: number;
}

/** A live source as a programme names it: each kind with exactly its own field (a LiveSource for the engine). */
export type LiveSourceSpec =
  | { id: string; kind: 'http' | 'hls'; url: string }
  | { id: string; kind: 'rtp'; url: string; sdp?: string }
  | { id: string; kind: 'file'; contents: ContentId[] }
  | { id: string; kind: 'fm'; fmKHz: number };

/**
 * A live relay (VOV, the provincial station, the province speaking): its
 * sources in failover order, and when it ends: `durationMs` after it starts,
 * or at the local time `untilTime` (the first such instant after its start).
 */
export interface LiveItemSpec {
  sources: LiveSourceSpec[];
  durationMs?: number;
  untilTime?: string;
  /** What the proof of play and `loa log` call it ("VOV1"). */
  label: string;
  /** Shown by the bulletin board while it plays ("Đang tiếp sóng VOV1"). */
  display?: string;
}

export interface LiveItem {
  live: LiveItemSpec;
}

export type ProgrammeItem = ContentItem | LiveItem;

export function isLiveItem(item: ProgrammeItem): item is LiveItem {
  return 'live' in item;
}

/** Every cached content id an item needs: its file, or a live item's fallback files. */
export function itemContents(item: ProgrammeItem): ContentId[] {
  if (!isLiveItem(item)) return [item.content];
  return item.live.sources.flatMap((s) => (s.kind === 'file' ? s.contents : []));
}

/** When a programme recurs, in station local time. */
export type Recurrence =
  | { kind: 'once'; date: string /* YYYY-MM-DD */; time: string /* HH:MM[:SS] */ }
  | {
      kind: 'daily';
      time: string;
      /** ISO weekdays 1 (Monday) - 7 (Sunday); absent means every day. */
      weekdays?: number[];
      /** Inclusive local dates (YYYY-MM-DD). */
      validFrom?: string;
      validTo?: string;
    };

export interface Programme {
  id: string;
  name: string;
  /** 0-8: a scheduled programme is never an emergency. */
  priority: number;
  recurrence: Recurrence;
  items: ProgrammeItem[];
  /** Zone names from the station profile. */
  zones: string[];
  /** 0-100, applied on top of loudness normalisation. */
  volume: number;
}

/** One concrete scheduled play of a programme. */
export interface Occurrence {
  /** Stable id: programme id + local start, e.g. `morning@2026-11-27T06:00:00`. */
  id: string;
  programmeId: string;
  /** Scheduled start, UTC epoch milliseconds. */
  startMs: number;
  priority: number;
}

/** What happens to an item cut off by something more urgent. */
export type InterruptionPolicy = 'resume' | 'restart' | 'drop';

/** Final result of one item in the play log. */
export type PlayResult = 'played' | 'interrupted' | 'failed' | 'missed' | 'skipped';
