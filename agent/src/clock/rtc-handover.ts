/**
 * The system clock from the bridge's RTC, without giving the agent the right
 * to set the clock. The agent (ProtectClock=yes, no capability) owns the
 * serial link, so it reads the RTC and leaves the reading in a folder of its
 * own (group loa); systemd/loa-clock-set.path starts loa-clock-set.service,
 * which holds CAP_SYS_TIME and nothing else, takes the reading away (so the
 * path unit rests), judges it and sets the clock, then writes its verdict
 * where the agent can read it.
 *
 * The helper trusts the agent only within bounds, so that a compromised
 * agent gains little: never while NTP holds the clock, once per boot,
 * forward only, within the plausible years, and a reading at most a minute
 * old (its age measured on the monotonic clock, which both share).
 */
import { randomBytes } from 'node:crypto';
import { access, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { BOOT_SET_THRESHOLD_MS, RTC_PLAUSIBLE_FROM_MS, setSystemClockWithDate } from '../../../firmware-bridge/src/client/rtc.js';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { systemNtpSynchronized } from './monitor.js';
import { MAX_AHEAD_OF_EVIDENCE_MS, RELEASED_NOT_BEFORE_MS } from './trust.js';

/**
 * The folders the units agree on: the agent's request (its RuntimeDirectory
 * loa-clock; the path unit waits for request.json there), the helper's
 * verdict (its own RuntimeDirectory).
 */
export const CLOCK_HANDOVER = {
  requestDir: '/run/loa-clock',
  resultDir: '/run/loa-clock-set',
} as const;
export type ClockHandoverPaths = { [K in keyof typeof CLOCK_HANDOVER]: string };

const REQUEST = 'request.json';
const RESULT = 'result.json';
/** Present once the clock was set this boot (/run is RAM). */
const APPLIED = 'applied';
/** A reading older than this (the agent stalled, the helper was slow to start) is not used. */
export const CLOCK_REQUEST_MAX_AGE_MS = 60_000;
/** How long the agent waits for the helper's verdict: starting it is a process or two. */
export const CLOCK_HANDOVER_TIMEOUT_MS = 10_000;

const RequestSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  rtcMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, the same in every process) when the reading was handed over. */
  monoNs: z.string().regex(/^\d{1,20}$/),
});
export type ClockRequest = z.infer<typeof RequestSchema>;

export type ClockRefusal = 'ntp-synchronized' | 'already-set-this-boot' | 'stale' | 'before-release' | 'too-far-ahead' | 'backwards';
export type ClockVerdict = { apply: true; targetMs: number } | { apply: false; reason: ClockRefusal };

export interface ClockResult {
  /** The request answered; null when none could be read. */
  id: string | null;
  applied: boolean;
  reason: ClockRefusal | 'applied' | 'unreadable' | 'set-failed';
  /** The time set, when applied. */
  targetMs: number | null;
  problem: string | null;
}

/** Whether the helper sets the clock to this request. Pure. */
export function judgeClockRequest(f: {
  request: ClockRequest;
  monoNowNs: bigint;
  systemMs: number;
  ntpSynchronized: boolean;
  setThisBoot: boolean;
  releasedMs?: number;
}): ClockVerdict {
  if (f.ntpSynchronized) return { apply: false, reason: 'ntp-synchronized' };
  if (f.setThisBoot) return { apply: false, reason: 'already-set-this-boot' };
  const ageMs = Number(f.monoNowNs - BigInt(f.request.monoNs)) / 1e6;
  if (ageMs < 0 || ageMs > CLOCK_REQUEST_MAX_AGE_MS) return { apply: false, reason: 'stale' };
  const targetMs = Math.round(f.request.rtcMs + ageMs);
  const floorMs = Math.max(f.releasedMs ?? RELEASED_NOT_BEFORE_MS, RTC_PLAUSIBLE_FROM_MS);
  if (targetMs < floorMs) return { apply: false, reason: 'before-release' };
  if (targetMs > Math.max(f.systemMs, floorMs) + MAX_AHEAD_OF_EVIDENCE_MS) return { apply: false, reason: 'too-far-ahead' };
  // A system clock ahead of the RTC is left to NTP: stepping back could replay a day's programmes.
  if (targetMs < f.systemMs - BOOT_SET_THRESHOLD_MS) return { apply: false, reason: 'backwards' };
  return { apply: true, targetMs };
}

async function readJson(path: string, maxBytes: number): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  if (text.length > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
  return JSON.parse(text);
}

/**
 * The agent's side (BridgeLink's setSystemClock): hands the RTC time over and
 * resolves once the helper set the clock, or rejects with its reason.
 */
export async function setClockThroughHelper(
  rtcMs: number,
  o: { paths?: ClockHandoverPaths; timeoutMs?: number; monoNs?: () => bigint; now?: () => number } = {},
): Promise<void> {
  const paths = o.paths ?? CLOCK_HANDOVER;
  const monoNs = o.monoNs ?? process.hrtime.bigint;
  const now = o.now ?? Date.now;
  const request: ClockRequest = { id: randomBytes(8).toString('hex'), rtcMs: Math.round(rtcMs), monoNs: monoNs().toString() };
  // Whole or not at all under the name the path unit waits for. No fsync: /run is RAM, and a request is worth nothing after a reboot.
  const scratch = join(paths.requestDir, `.tmp-${request.id}`);
  await writeFile(scratch, JSON.stringify(request), { mode: 0o640 });
  await rename(scratch, join(paths.requestDir, REQUEST));
  const deadline = now() + (o.timeoutMs ?? CLOCK_HANDOVER_TIMEOUT_MS);
  for (;;) {
    const result = (await readJson(join(paths.resultDir, RESULT), 4096).catch(() => null)) as ClockResult | null;
    if (result?.id === request.id) {
      if (!result.applied) throw new Error(`loa-clock-set did not set the clock from the RTC: ${result.reason}${result.problem ? ` (${result.problem})` : ''}`);
      return;
    }
    if (now() >= deadline) {
      throw new Error(`loa-clock-set gave no answer within ${o.timeoutMs ?? CLOCK_HANDOVER_TIMEOUT_MS} ms (is loa-clock-set.path enabled? systemctl status loa-clock-set.path)`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The helper's side (bin/loa-clock-set.js, run by loa-clock-set.service): one request judged and answered. */
export async function runClockSetter(o: {
  log: Logger;
  paths?: ClockHandoverPaths;
  ntpSynchronized?: () => Promise<boolean>;
  setClock?: (ms: number) => Promise<void>;
  monoNs?: () => bigint;
  now?: () => number;
}): Promise<ClockResult | null> {
  const paths = o.paths ?? CLOCK_HANDOVER;
  const resultPath = join(paths.resultDir, RESULT);
  // Kept apart from the verdict, which each request overwrites.
  const appliedPath = join(paths.resultDir, APPLIED);
  const requestPath = join(paths.requestDir, REQUEST);
  let request: ClockRequest;
  try {
    request = RequestSchema.parse(await readJson(requestPath, 1024));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // nothing asked
    await unlink(requestPath).catch(() => undefined);
    return answer(o.log, resultPath, { id: null, applied: false, reason: 'unreadable', targetMs: null, problem: (err as Error).message.slice(0, 300) });
  }
  // Taken: while it stays, the path unit starts this again (PathExists=).
  await unlink(requestPath);
  const verdict = judgeClockRequest({
    request,
    monoNowNs: (o.monoNs ?? process.hrtime.bigint)(),
    systemMs: (o.now ?? Date.now)(),
    ntpSynchronized: await (o.ntpSynchronized ?? systemNtpSynchronized)(),
    setThisBoot: await access(appliedPath).then(() => true, () => false),
  });
  if (!verdict.apply) return answer(o.log, resultPath, { id: request.id, applied: false, reason: verdict.reason, targetMs: null, problem: null });
  try {
    await (o.setClock ?? setSystemClockWithDate)(verdict.targetMs);
  } catch (err) {
    return answer(o.log, resultPath, { id: request.id, applied: false, reason: 'set-failed', targetMs: verdict.targetMs, problem: (err as Error).message.slice(0, 300) });
  }
  await writeFileAtomic(appliedPath, `${verdict.targetMs}\n`);
  return answer(o.log, resultPath, { id: request.id, applied: true, reason: 'applied', targetMs: verdict.targetMs, problem: null });
}

async function answer(log: Logger, path: string, result: ClockResult): Promise<ClockResult> {
  await writeFileAtomic(path, `${JSON.stringify(result)}\n`);
  const level = result.applied ? 'info' : result.reason === 'set-failed' || result.reason === 'unreadable' ? 'error' : 'warn';
  log[level]({ ...result }, result.applied ? 'system clock set from the RTC' : 'system clock not set from the RTC');
  return result;
}
