import { execFile } from 'node:child_process';
import type { RtcReading } from '../protocol/messages.js';
import type { BridgeClient } from './client.js';

/**
 * The battery-backed RTC on the I/O board. A Pi has no clock of its own: at
 * boot, before any network, the RTC is the only source of the time. Pure
 * decisions first; `clockAtBoot` and `syncRtcFromSystem` do the I/O.
 */

/** No station ran before this: an RTC reading earlier than it is a reset RTC, whatever its flag says. */
export const RTC_PLAUSIBLE_FROM_MS = Date.UTC(2025, 0, 1);
/** The system clock is set from the RTC only when they disagree by more than this. */
export const BOOT_SET_THRESHOLD_MS = 2000;
/** The RTC is rewritten from NTP time when it has drifted more than this. */
export const RTC_DRIFT_LIMIT_MS = 1000;

export type RtcVerdict = 'valid' | 'battery-lost' | 'implausible' | 'behind-last-seen';

export function assessRtc(r: RtcReading, lastSeenMs: number | null): { trusted: boolean; verdict: RtcVerdict } {
  if (!r.valid) return { trusted: false, verdict: 'battery-lost' };
  if (r.ms < RTC_PLAUSIBLE_FROM_MS) return { trusted: false, verdict: 'implausible' };
  // Allow slack for the RTC's drift since the time was last recorded.
  if (lastSeenMs !== null && r.ms < lastSeenMs - 60_000) return { trusted: false, verdict: 'behind-last-seen' };
  return { trusted: true, verdict: 'valid' };
}

export type BootClockPlan =
  | { action: 'set-system-from-rtc'; rtcMs: number; rtcTrusted: true; reason: 'rtc' }
  | { action: 'keep-system'; rtcTrusted: boolean; reason: 'ntp' | 'no-rtc' | 'rtc-agrees' | RtcVerdict };

/** What to do with the system clock at boot, given what is known. Pure. */
export function planBootClock(f: { rtc: RtcReading | null; ntpSynchronized: boolean; systemMs: number; lastSeenMs: number | null }): BootClockPlan {
  const rtc = f.rtc === null ? null : assessRtc(f.rtc, f.lastSeenMs);
  if (f.ntpSynchronized) return { action: 'keep-system', rtcTrusted: rtc?.trusted ?? false, reason: 'ntp' };
  if (f.rtc === null || rtc === null) return { action: 'keep-system', rtcTrusted: false, reason: 'no-rtc' };
  if (!rtc.trusted) return { action: 'keep-system', rtcTrusted: false, reason: rtc.verdict };
  if (Math.abs(f.rtc.ms - f.systemMs) <= BOOT_SET_THRESHOLD_MS) return { action: 'keep-system', rtcTrusted: true, reason: 'rtc-agrees' };
  return { action: 'set-system-from-rtc', rtcMs: f.rtc.ms, rtcTrusted: true, reason: 'rtc' };
}

/** Whether to write NTP time into the RTC. Pure. */
export function planRtcUpdate(f: { rtc: RtcReading; ntpSynchronized: boolean; systemMs: number }): { update: boolean; driftMs: number } {
  const driftMs = f.rtc.ms - f.systemMs;
  return { update: f.ntpSynchronized && (!f.rtc.valid || Math.abs(driftMs) > RTC_DRIFT_LIMIT_MS), driftMs };
}

export interface BootClockResult {
  plan: BootClockPlan;
  rtc: RtcReading | null;
  /** Set when reading the RTC failed (no bridge, no link, no RTC). */
  error: string | null;
  /** The system clock was set from the RTC. */
  applied: boolean;
}

/**
 * At boot: reads the RTC and, if NTP has not synchronised and the RTC is
 * trustworthy, sets the system clock from it. `rtcTrusted` in the result is
 * what the ClockMonitor's `rtcValid` should report.
 */
export async function clockAtBoot(
  client: BridgeClient,
  deps: { ntpSynchronized: () => Promise<boolean>; lastSeenMs: number | null; setSystemClock?: (ms: number) => Promise<void>; now?: () => number },
): Promise<BootClockResult> {
  const now = deps.now ?? Date.now;
  let rtc: RtcReading | null = null;
  let error: string | null = null;
  try {
    rtc = await client.readRtc();
  } catch (err) {
    error = (err as Error).message;
  }
  const plan = planBootClock({ rtc, ntpSynchronized: await deps.ntpSynchronized(), systemMs: now(), lastSeenMs: deps.lastSeenMs });
  if (plan.action !== 'set-system-from-rtc') return { plan, rtc, error, applied: false };
  await (deps.setSystemClock ?? setSystemClockWithDate)(plan.rtcMs);
  return { plan, rtc, error, applied: true };
}

/** When NTP is good, writes the system time into the RTC if it drifted or lost its battery. */
export async function syncRtcFromSystem(client: BridgeClient, f: { ntpSynchronized: boolean; now?: () => number }): Promise<{ updated: boolean; driftMs: number; rtc: RtcReading }> {
  const now = f.now ?? Date.now;
  const rtc = await client.readRtc();
  const plan = planRtcUpdate({ rtc, ntpSynchronized: f.ntpSynchronized, systemMs: now() });
  if (!plan.update) return { updated: false, driftMs: plan.driftMs, rtc };
  return { updated: true, driftMs: plan.driftMs, rtc: await client.setRtc(now()) };
}

/** Sets the kernel clock (needs root or CAP_SYS_TIME). */
export function setSystemClockWithDate(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('date', ['-u', '-s', `@${(ms / 1000).toFixed(3)}`], { timeout: 5000 }, (err, _out, stderr) =>
      err ? reject(new Error(`could not set the system clock from the RTC: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
}
