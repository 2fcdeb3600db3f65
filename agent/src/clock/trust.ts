/**
 * Whether the wall clock can be believed. A Pi has no battery clock: at
 * boot the time may be years off until NTP (or the station's RTC) sets it.
 * Pure: the caller gathers the facts.
 */
export type ClockReason =
  | 'ntp'
  | 'rtc'
  | 'configured'
  | 'after-last-seen'
  | 'before-last-seen'
  | 'before-release'
  | 'before-province'
  | 'ahead-of-evidence'
  | 'never-synced';

export interface ClockFacts {
  nowMs: number;
  /** The latest wall time this station has recorded, if any. */
  lastSeenMs: number | null;
  ntpSynchronized: boolean;
  /** A battery-backed RTC (the firmware bridge) says its time is valid. */
  rtcValid?: boolean;
  trustWithoutSync: boolean;
  /** The latest time the province signed in a message this station verified (a lower bound on now). */
  provinceMs?: number | null;
  /** No loa built from this source runs before this instant (default RELEASED_NOT_BEFORE_MS). */
  releasedMs?: number;
}

export interface ClockAssessment {
  trusted: boolean;
  reason: ClockReason;
}

/** This source was written after this day: a clock before it is certainly wrong. Move it forward at each release. */
export const RELEASED_NOT_BEFORE_MS = Date.UTC(2026, 10, 27);

/**
 * How far beyond the latest evidence (release, last time seen, province's
 * signed time) a clock may be and still be believed without NTP or RTC: a
 * station switched off in a store room for a while, not a clock years ahead.
 */
export const MAX_AHEAD_OF_EVIDENCE_MS = 2 * 365 * 86_400_000;

/** The province's clock and ours may differ a little; more than this behind its signature is wrong. */
export const PROVINCE_SKEW_MS = 10 * 60_000;

export function assessClock(f: ClockFacts): ClockAssessment {
  if (f.trustWithoutSync) return { trusted: true, reason: 'configured' };
  if (f.ntpSynchronized) return { trusted: true, reason: 'ntp' };
  if (f.rtcValid) return { trusted: true, reason: 'rtc' };
  const releasedMs = f.releasedMs ?? RELEASED_NOT_BEFORE_MS;
  const provinceMs = f.provinceMs ?? null;
  // Every piece of evidence is a time that has certainly passed: a clock before one is wrong.
  if (f.lastSeenMs !== null && f.nowMs < f.lastSeenMs) return { trusted: false, reason: 'before-last-seen' };
  if (provinceMs !== null && f.nowMs < provinceMs - PROVINCE_SKEW_MS) return { trusted: false, reason: 'before-province' };
  if (f.nowMs < releasedMs) return { trusted: false, reason: 'before-release' };
  // ...and one far beyond all of them is as wrong, however plausible it looks next to the last time seen.
  const latest = Math.max(releasedMs, f.lastSeenMs ?? 0, provinceMs ?? 0);
  if (f.nowMs > latest + MAX_AHEAD_OF_EVIDENCE_MS) return { trusted: false, reason: 'ahead-of-evidence' };
  if (f.lastSeenMs === null) return { trusted: false, reason: 'never-synced' };
  return { trusted: true, reason: 'after-last-seen' };
}

/**
 * Whether a trusted clock may be recorded as the last time seen. A time
 * believed only because it follows the last one proves nothing new: saved,
 * a clock somewhat ahead would make the right time look wrong at every
 * later boot without NTP.
 */
export function provesTime(a: ClockAssessment): boolean {
  return a.trusted && a.reason !== 'after-last-seen';
}

/**
 * A jump is a difference between how far the wall clock moved and how far
 * the monotonic clock moved since the last look.
 */
export function clockJumpMs(prev: { wallMs: number; monoMs: number }, next: { wallMs: number; monoMs: number }): number {
  return next.wallMs - prev.wallMs - (next.monoMs - prev.monoMs);
}

export const CLOCK_JUMP_THRESHOLD_MS = 2000;
