import { windowsAround, type Daypart } from './playlist.js';

/**
 * When the board's screen is on, as a pure function of the instant: the
 * controller asks once and sleeps until the returned deadline instead of
 * polling. Windows are the playlist planner's dayparts without dates, so
 * midnight crossing, '24:00' and DST gaps behave the same on both.
 */

/** A daily span in station local time; `from` > `to` crosses midnight (weekdays are the day it starts). */
export type DisplayWindow = Pick<Daypart, 'weekdays' | 'from' | 'to'>;

/** emergency: an alert holds the screen; always-on: no windows configured; schedule: the windows decide. */
export type DisplayPowerReason = 'emergency' | 'always-on' | 'schedule';

export interface DisplayPowerNow {
  on: boolean;
  reason: DisplayPowerReason;
  /** The next instant the answer changes; null when it never does by itself (no windows, always covered, or an emergency). */
  untilMs: number | null;
}

const DAY_MS = 86_400_000;
/**
 * The windows repeat every local week, so a screen on for a whole week
 * (a local week can be an hour longer across a DST change) is on for good.
 */
const ALWAYS_ON_SPAN_MS = 7 * DAY_MS + 3_600_000;

/** Whether the screen should be on at `nowMs`, and until when. Pure. */
export function displayPowerAt(nowMs: number, timezone: string, windows: readonly DisplayWindow[], emergencyActive: boolean): DisplayPowerNow {
  if (emergencyActive) return { on: true, reason: 'emergency', untilMs: null };
  if (windows.length === 0) return { on: true, reason: 'always-on', untilMs: null };
  // A day back catches a window that began yesterday and crosses midnight;
  // eight ahead always reach the next opening, whatever the weekdays.
  const spans = merge(windows.flatMap((w) => windowsAround(w, nowMs, timezone, 1, 8)));
  const current = spans.find((s) => s.startMs <= nowMs && nowMs < s.endMs);
  if (current) {
    return { on: true, reason: 'schedule', untilMs: current.endMs - current.startMs >= ALWAYS_ON_SPAN_MS ? null : current.endMs };
  }
  const next = spans.find((s) => s.startMs > nowMs);
  return { on: false, reason: 'schedule', untilMs: next?.startMs ?? null };
}

interface Span {
  startMs: number;
  endMs: number;
}

/** Sorted, with overlapping and touching spans joined: a window ending where the next begins is no change. */
function merge(spans: readonly Span[]): Span[] {
  const out: Span[] = [];
  // Times in a DST gap move forward by the gap, so a window there can come out empty or inverted: it never happens.
  for (const s of spans.filter((x) => x.endMs > x.startMs).sort((a, b) => a.startMs - b.startMs)) {
    const last = out.at(-1);
    if (last && s.startMs <= last.endMs) last.endMs = Math.max(last.endMs, s.endMs);
    else out.push({ ...s });
  }
  return out;
}
