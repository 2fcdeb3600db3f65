/**
 * Whether the wall clock can be believed. A Pi has no battery clock: at
 * boot the time may be years off until NTP (or the station's RTC) sets it.
 * Pure: the caller gathers the facts.
 */
export type ClockReason = 'ntp' | 'rtc' | 'configured' | 'after-last-seen' | 'before-last-seen' | 'never-synced';

export interface ClockFacts {
  nowMs: number;
  /** The latest wall time this station has recorded, if any. */
  lastSeenMs: number | null;
  ntpSynchronized: boolean;
  /** A battery-backed RTC (the firmware bridge) says its time is valid. */
  rtcValid?: boolean;
  trustWithoutSync: boolean;
}

export interface ClockAssessment {
  trusted: boolean;
  reason: ClockReason;
}

export function assessClock(f: ClockFacts): ClockAssessment {
  if (f.trustWithoutSync) return { trusted: true, reason: 'configured' };
  if (f.ntpSynchronized) return { trusted: true, reason: 'ntp' };
  if (f.rtcValid) return { trusted: true, reason: 'rtc' };
  if (f.lastSeenMs === null) return { trusted: false, reason: 'never-synced' };
  // A clock behind what we have already seen is certainly wrong; one at or after it is at least plausible.
  return f.nowMs >= f.lastSeenMs ? { trusted: true, reason: 'after-last-seen' } : { trusted: false, reason: 'before-last-seen' };
}

/**
 * A jump is a difference between how far the wall clock moved and how far
 * the monotonic clock moved since the last look.
 */
export function clockJumpMs(prev: { wallMs: number; monoMs: number }, next: { wallMs: number; monoMs: number }): number {
  return next.wallMs - prev.wallMs - (next.monoMs - prev.monoMs);
}

export const CLOCK_JUMP_THRESHOLD_MS = 2000;
