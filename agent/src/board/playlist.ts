import { DateTime } from 'luxon';
import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { cleanString } from '../lib/text.js';

/**
 * What the HDMI board shows, as data, and the pure planner that picks the
 * item for an instant. No clock, no I/O: the server asks `boardNow` and
 * sleeps until the returned deadline instead of polling.
 *
 * Invariant: `boardNow` always returns something to show. Expired or
 * unscheduled playlists fall back to the default playlist, and a default
 * playlist with nothing playable falls back to a built-in clock, so the
 * board never goes blank.
 */

// Every text is cleaned where it enters (lib/text.ts): NFC, so the font's
// precomposed glyphs and line breaking treat every keyboard's Vietnamese the
// same; no control or invisible characters; cut, not refused, when too long.
const text = (max: number, multiline = false) => cleanString(max, { multiline });
const line = (max: number, multiline = false) => text(max, multiline).refine((s) => s.length > 0, 'must not be blank');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const hhmm = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'expected HH:MM (00:00-24:00)');
const id = z.string().min(1).max(100);
/** Seconds on screen; one hour at most, so a playlist keeps rotating. */
const durationS = z.number().int().min(1).max(3600);

export const NoticeItemSchema = strict.object({
  kind: z.literal('notice'),
  id,
  durationS,
  title: line(300),
  body: text(20_000, true),
  /** The issuing body, e.g. "UBND xã Mường Tè". */
  issuer: text(300).default(''),
  date: isoDate.optional(),
});

export const TextItemSchema = strict.object({
  kind: z.literal('text'),
  id,
  durationS,
  text: line(20_000, true),
});

export const ImageItemSchema = strict.object({
  kind: z.literal('image'),
  id,
  durationS,
  /** sha256 of a cached file (the content cache's id). */
  content: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 content id'),
  caption: text(300).default(''),
});

/** H.264 MP4, shown muted and looped for the slot. */
export const VideoItemSchema = strict.object({
  kind: z.literal('video'),
  id,
  durationS,
  content: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 content id'),
  caption: text(300).default(''),
});

export const ClockItemSchema = strict.object({ kind: z.literal('clock'), id, durationS });

/** A QR code citizens scan to reach the province's feedback channel (or any link the province gives). */
export const QrItemSchema = strict.object({
  kind: z.literal('qr'),
  id,
  durationS,
  /** Absent: the station's feedback URL (config board.feedbackUrl); with neither, the item is skipped. */
  url: z.string().url().max(500).refine((u) => /^https?:/.test(u), 'use an http:// or https:// URL').optional(),
  title: text(300).default(''),
  caption: text(300).default(''),
});

export const BoardItemSchema = z.discriminatedUnion('kind', [NoticeItemSchema, TextItemSchema, ImageItemSchema, VideoItemSchema, ClockItemSchema, QrItemSchema]);
export type BoardItem = z.infer<typeof BoardItemSchema>;

/**
 * When a playlist may run: a daily window on some weekdays between two
 * dates. `from` > `to` crosses midnight (weekday and dates then refer to
 * the day the window starts). Times are station local time.
 */
export const DaypartSchema = strict
  .object({
    weekdays: z.array(z.number().int().min(1).max(7)).min(1).optional(),
    from: hhmm.default('00:00'),
    to: hhmm.default('24:00'),
    validFrom: isoDate.optional(),
    validTo: isoDate.optional(),
  })
  .refine((d) => d.from !== d.to, { message: 'from and to must differ', path: ['to'] })
  .refine((d) => d.from !== '24:00', { message: 'from cannot be 24:00', path: ['from'] })
  .refine((d) => !d.validFrom || !d.validTo || d.validFrom <= d.validTo, { message: 'validFrom is after validTo', path: ['validTo'] });
export type Daypart = z.infer<typeof DaypartSchema>;

export const PlaylistSchema = strict
  .object({
    id,
    name: text(200).default(''),
    /** Higher wins when several playlists are active at once. */
    priority: z.number().int().min(0).max(8).default(0),
    /** Empty: never scheduled (only usable as the default playlist). */
    dayparts: z.array(DaypartSchema).max(50).default([]),
    items: z.array(BoardItemSchema).min(1).max(200),
    /** A line scrolling along the bottom while this playlist runs. */
    ticker: text(2000).default(''),
  })
  .refine((p) => new Set(p.items.map((i) => i.id)).size === p.items.length, { message: 'item ids must be unique', path: ['items'] });
export type Playlist = z.infer<typeof PlaylistSchema>;

export const BoardScheduleSchema = strict.object({
  playlists: z.array(PlaylistSchema).max(100).default([]),
  defaultPlaylist: PlaylistSchema,
});
export type BoardSchedule = z.infer<typeof BoardScheduleSchema>;
export type BoardScheduleInput = z.input<typeof BoardScheduleSchema>;

/** Until the province sends a schedule, the board shows the date and time. */
export const BUILTIN_BOARD_SCHEDULE: BoardScheduleInput = { defaultPlaylist: { id: 'builtin', items: [{ kind: 'clock', id: 'clock', durationS: 60 }] } };

/** What the emergency screen says when the alert has no title of its own (uppercased on screen). */
export const DEFAULT_EMERGENCY_TITLE = 'Thông báo khẩn cấp';

/**
 * The station's emergency as the board shows it: the arbiter decides, the
 * board obeys. Nothing here refuses: a blank title becomes the default one.
 */
export const BoardEmergencySchema = z.object({
  key: z.string().min(1).max(300),
  title: text(300).transform((s) => s || DEFAULT_EMERGENCY_TITLE),
  text: text(5000, true).default(''),
  instructions: text(5000, true).default(''),
  /** A public alert's sender and expiry, one line under the rest. */
  meta: text(500).optional(),
});
export type BoardEmergency = z.infer<typeof BoardEmergencySchema>;
export type BoardEmergencyInput = z.input<typeof BoardEmergencySchema>;

export type ShownItem = BoardItem | ({ kind: 'emergency'; id: string } & Omit<BoardEmergency, 'key'>);

export interface BoardNow {
  /** Same key, same showing: a recomputation that returns it must not restart it. */
  key: string;
  /** Playlist id, 'emergency', or 'fallback'. */
  source: string;
  item: ShownItem;
  ticker: string;
  /** When this showing began (its slot in the rotation), epoch ms. */
  startedMs: number;
  /** When to ask again; null while an emergency holds the screen. */
  untilMs: number | null;
}

export interface BoardNowOptions {
  /** False for images and videos whose file is not in the cache: they are skipped, not shown broken. */
  hasContent?: (sha256: string) => boolean;
  /** The station's feedback URL, for QR items without a URL of their own. */
  feedbackUrl?: string;
}

/** How long the fallback clock stays before the planner is asked again (content may have arrived). */
export const FALLBACK_RECHECK_MS = 60_000;

/** Picks what the board shows at `nowMs`. Pure. */
export function boardNow(
  nowMs: number,
  timezone: string,
  playlists: readonly Playlist[],
  defaultPlaylist: Playlist,
  emergency: BoardEmergency | null,
  opts: BoardNowOptions = {},
): BoardNow {
  if (emergency) {
    const { key, ...rest } = emergency;
    // The wording is part of the key: a corrected text for the same alert is shown at once.
    return { key: `emergency/${key}/${fnv1a(JSON.stringify(rest))}`, source: 'emergency', item: { kind: 'emergency', id: key, ...rest }, ticker: '', startedMs: nowMs, untilMs: null };
  }
  const playable = (p: Playlist): BoardItem[] =>
    p.items.flatMap((i): BoardItem[] => {
      if ('content' in i) return (opts.hasContent?.(i.content) ?? true) ? [i] : [];
      if (i.kind === 'qr') {
        const url = i.url ?? opts.feedbackUrl;
        return url ? [{ ...i, url }] : [];
      }
      return [i];
    });
  const boundary = nextBoundaryMs(nowMs, timezone, playlists);

  const active = playlists
    .map((p, order) => ({ p, order, window: activeWindow(p, nowMs, timezone), items: playable(p) }))
    .filter((c) => c.window !== null && c.items.length > 0)
    .sort((a, b) => b.p.priority - a.p.priority || a.order - b.order);
  const day = DateTime.fromMillis(nowMs, { zone: timezone }).startOf('day');
  const candidates = [
    ...active.map((c) => ({ p: c.p, items: c.items, window: c.window! })),
    // The default playlist rotates from local midnight, so it is deterministic across restarts.
    { p: defaultPlaylist, items: playable(defaultPlaylist), window: { startMs: day.toMillis(), endMs: day.plus({ days: 1 }).toMillis() } },
  ];
  for (const c of candidates) {
    if (c.items.length === 0) continue;
    const slot = rotationSlot(c.items, c.window.startMs, nowMs);
    const untilMs = Math.min(slot.endMs, c.window.endMs, boundary ?? Infinity);
    return { key: `${c.p.id}/${slot.item.id}@${slot.startMs}`, source: c.p.id, item: slot.item, ticker: c.p.ticker, startedMs: slot.startMs, untilMs };
  }
  const untilMs = Math.min(nowMs + FALLBACK_RECHECK_MS, boundary ?? Infinity);
  return { key: `fallback@${nowMs}`, source: 'fallback', item: { kind: 'clock', id: 'fallback-clock', durationS: 60 }, ticker: '', startedMs: nowMs, untilMs };
}

/** One showing in the board's future, as `boardUpcoming` predicts it. */
export interface UpcomingShowing {
  key: string;
  /** Playlist id or 'fallback'. */
  source: string;
  item: ShownItem;
  /** When it takes the screen: its slot start, or `fromMs` for one already under way there. */
  startMs: number;
  endMs: number;
}

/**
 * The `count` showings from `fromMs` on, as if no emergency came: the one
 * on screen at `fromMs` (starting there), then each that follows, found by
 * following `boardNow`'s deadlines. Pure.
 */
export function boardUpcoming(
  fromMs: number,
  timezone: string,
  playlists: readonly Playlist[],
  defaultPlaylist: Playlist,
  count: number,
  opts: BoardNowOptions = {},
): UpcomingShowing[] {
  const out: UpcomingShowing[] = [];
  let atMs = fromMs;
  // One showing past `count`: only a different key proves the last one's end.
  while (out.length <= count) {
    const n = boardNow(atMs, timezone, playlists, defaultPlaylist, null, opts);
    // Never null without an emergency; each deadline is later than the instant asked about.
    const untilMs = n.untilMs!;
    const last = out.at(-1);
    // A deadline that changes nothing (a lower playlist's window opening) continues the same showing.
    if (last?.key === n.key) last.endMs = untilMs;
    else out.push({ key: n.key, source: n.source, item: n.item, startMs: Math.max(n.startedMs, atMs), endMs: untilMs });
    atMs = untilMs;
  }
  return out.slice(0, count);
}

function rotationSlot(items: readonly BoardItem[], anchorMs: number, nowMs: number): { item: BoardItem; startMs: number; endMs: number } {
  const cycleMs = items.reduce((s, i) => s + i.durationS * 1000, 0);
  const cycleStart = nowMs - ((nowMs - anchorMs) % cycleMs);
  // Terminates: nowMs - cycleStart < cycleMs.
  let start = cycleStart;
  let i = 0;
  while (nowMs >= start + items[i]!.durationS * 1000) start += items[i++]!.durationS * 1000;
  return { item: items[i]!, startMs: start, endMs: start + items[i]!.durationS * 1000 };
}

interface Window {
  startMs: number;
  endMs: number;
}

/**
 * Every window of a daypart that starts on the local days around `nowMs`
 * (also the display power schedule's windows, which have no dates).
 */
export function windowsAround(d: Daypart, nowMs: number, timezone: string, daysBack: number, daysAhead: number): Window[] {
  const today = DateTime.fromMillis(nowMs, { zone: timezone }).startOf('day');
  const out: Window[] = [];
  for (let k = -daysBack; k <= daysAhead; k++) {
    const day = today.plus({ days: k });
    const date = day.toISODate()!;
    if (d.weekdays && !d.weekdays.includes(day.weekday)) continue;
    if (d.validFrom && date < d.validFrom) continue;
    if (d.validTo && date > d.validTo) continue;
    const startMs = atLocal(day, d.from, timezone);
    const endDay = d.to === '24:00' || d.to < d.from ? day.plus({ days: 1 }) : day;
    const endMs = atLocal(endDay, d.to === '24:00' ? '00:00' : d.to, timezone);
    out.push({ startMs, endMs });
  }
  return out;
}

function atLocal(day: DateTime, hhmm: string, timezone: string): number {
  // fromISO shifts a time that does not exist (a DST gap) forward, like the audio planner.
  return DateTime.fromISO(`${day.toISODate()}T${hhmm}:00`, { zone: timezone }).toMillis();
}

/**
 * The slice of the playlist's window that contains `nowMs`, clipped to the
 * local day: rotation restarts at the window's start or at local midnight,
 * whichever is later, so it is deterministic across restarts.
 */
function activeWindow(p: Playlist, nowMs: number, timezone: string): Window | null {
  const day = DateTime.fromMillis(nowMs, { zone: timezone }).startOf('day');
  const dayStart = day.toMillis();
  const dayEnd = day.plus({ days: 1 }).toMillis();
  let best: Window | null = null;
  for (const d of p.dayparts)
    for (const w of windowsAround(d, nowMs, timezone, 1, 0))
      if (w.startMs <= nowMs && nowMs < w.endMs && (!best || w.startMs < best.startMs)) best = w;
  return best && { startMs: Math.max(best.startMs, dayStart), endMs: Math.min(best.endMs, dayEnd) };
}

/** The next instant any playlist's window opens or closes. */
function nextBoundaryMs(nowMs: number, timezone: string, playlists: readonly Playlist[]): number | null {
  let next: number | null = null;
  for (const p of playlists)
    for (const d of p.dayparts)
      for (const w of windowsAround(d, nowMs, timezone, 1, 1))
        for (const t of [w.startMs, w.endMs]) if (t > nowMs && (next === null || t < next)) next = t;
  return next;
}

/** 32-bit FNV-1a, hex: a short fingerprint, not a security hash. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
