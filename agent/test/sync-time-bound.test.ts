/**
 * The rule that keeps one wrongly dated signed time from turning the
 * station's clock bound against alerts (guard.ts `judgeProvinceTime`), as
 * data; the ProvinceClock that applies it, with its signed reset; and the
 * expiry judgement of the reset itself.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { migrate } from '../src/store/database.js';
import {
  MAX_TIME_STEP_MS,
  ProvinceClock,
  TIME_CONFIRM_SPAN_MS,
  decideCommand,
  judgeProvinceTime,
  provenWallMs,
  type CommandContext,
  type ProvinceTimeState,
  type TimeEvidence,
  type TimeVerdict,
} from '../src/sync/guard.js';
import { MAX_AHEAD_OF_EVIDENCE_MS } from '../src/clock/trust.js';
import type { Command } from '../src/sync/protocol.js';

const MIN = 60_000;
const DAY = 86_400_000;
const YEAR = 365 * DAY;
const RELEASED = Date.UTC(2026, 10, 27);
const T0 = Date.UTC(2027, 2, 1);

interface Case {
  name: string;
  issuedMs: number;
  state: ProvinceTimeState;
  evidence: Omit<TimeEvidence, 'releasedMs'>;
  verdict: TimeVerdict['kind'];
  boundMs: number;
}

const fresh: ProvinceTimeState = { boundMs: 0, unproven: [] };
const at = (boundMs: number): ProvinceTimeState => ({ boundMs, unproven: [] });

const cases: Case[] = [
  { name: 'not above the bound: kept', issuedMs: T0 - 1000, state: at(T0), evidence: { mono: 0 }, verdict: 'kept', boundMs: T0 },
  { name: 'within a step of the bound: raised', issuedMs: T0 + 5 * MIN, state: at(T0), evidence: { mono: 0 }, verdict: 'raised', boundMs: T0 + 5 * MIN },
  { name: 'exactly a step beyond the bound: raised', issuedMs: T0 + MAX_TIME_STEP_MS, state: at(T0), evidence: { mono: 0 }, verdict: 'raised', boundMs: T0 + MAX_TIME_STEP_MS },
  { name: 'a year beyond the bound, proven clock agrees with the bound: future-dated', issuedMs: T0 + YEAR, state: at(T0), evidence: { mono: 0, provenWallMs: T0 }, verdict: 'future-dated', boundMs: T0 },
  { name: 'a year beyond the bound, no proven clock: unproven, bound kept', issuedMs: T0 + YEAR, state: at(T0), evidence: { mono: 0 }, verdict: 'unproven', boundMs: T0 },
  { name: 'three weeks beyond the bound, proven clock there too: raised (the clock justifies it)', issuedMs: T0 + 21 * DAY, state: at(T0), evidence: { mono: 0, provenWallMs: T0 + 21 * DAY - MIN }, verdict: 'raised', boundMs: T0 + 21 * DAY },
  { name: 'proven clock behind the bound: the bound is what justifies', issuedMs: T0 + 5 * MIN, state: at(T0), evidence: { mono: 0, provenWallMs: T0 - DAY }, verdict: 'raised', boundMs: T0 + 5 * MIN },
  { name: 'first reading ever, proven clock: within a step of it', issuedMs: T0 + MIN, state: fresh, evidence: { mono: 0, provenWallMs: T0 }, verdict: 'raised', boundMs: T0 + MIN },
  { name: 'first reading ever, proven clock, an hour ahead of it: future-dated', issuedMs: T0 + 60 * MIN, state: fresh, evidence: { mono: 0, provenWallMs: T0 }, verdict: 'future-dated', boundMs: 0 },
  { name: 'first reading ever, no proven clock: accepted up to the release plus the evidence horizon', issuedMs: RELEASED + MAX_AHEAD_OF_EVIDENCE_MS, state: fresh, evidence: { mono: 0 }, verdict: 'raised', boundMs: RELEASED + MAX_AHEAD_OF_EVIDENCE_MS },
  { name: 'first reading ever, no proven clock, beyond that horizon: unproven', issuedMs: RELEASED + MAX_AHEAD_OF_EVIDENCE_MS + 1, state: fresh, evidence: { mono: 0 }, verdict: 'unproven', boundMs: 0 },
];

t.test('one signed time against the bound, case by case', async (t) => {
  for (const c of cases) {
    const r = judgeProvinceTime(c.issuedMs, c.state, { ...c.evidence, releasedMs: RELEASED });
    t.equal(r.verdict.kind, c.verdict, `${c.name}: verdict`);
    t.equal(r.state.boundMs, c.boundMs, `${c.name}: bound`);
  }
});

/** Readings fed in order from a bound of `startMs` at monotonic 0, carried on by monotonic time as ProvinceClock does. */
function run(startMs: number, readings: Array<{ issuedMs: number; mono: number }>, provenWall?: (mono: number) => number): Array<{ kind: string; boundMs: number }> {
  let bound = { ms: startMs, atMono: 0 };
  let unproven: ProvinceTimeState['unproven'] = [];
  return readings.map((r) => {
    const boundMs = bound.ms === 0 ? 0 : bound.ms + (r.mono - bound.atMono);
    const next = judgeProvinceTime(r.issuedMs, { boundMs, unproven }, { mono: r.mono, releasedMs: RELEASED, ...(provenWall ? { provenWallMs: provenWall(r.mono) } : {}) });
    unproven = next.state.unproven;
    if (next.state.boundMs !== boundMs) bound = { ms: next.state.boundMs, atMono: r.mono };
    return { kind: next.verdict.kind, boundMs: next.state.boundMs };
  });
}

t.test('a station off for three weeks with no proven clock: the jump is taken once beacons agree over a minute', async (t) => {
  // Restarted with the bound persisted at T0; the province is three weeks on; beacons every 30 s (the first retained, 20 s old).
  const now = T0 + 21 * DAY;
  const beacons = [
    { issuedMs: now - 20_000, mono: 1000 },
    { issuedMs: now + 30_000, mono: 31_000 },
    { issuedMs: now + 60_000, mono: 61_000 },
  ];
  const out = run(T0, beacons);
  t.same(out.map((o) => o.kind), ['unproven', 'unproven', 'confirmed'], 'held until three agree over a minute');
  t.equal(out[0]!.boundMs, T0 + 1000, 'meanwhile the bound stays (carried by monotonic time)');
  t.ok(out[2]!.boundMs <= now + 60_000 && out[2]!.boundMs >= now + 60_000 - 2 * MIN, 'then it is the province time, as a lower bound (the least advanced agreeing reading)');
  const next = run(out[2]!.boundMs, [{ issuedMs: now + 90_000, mono: 30_000 }]);
  t.equal(next[0]!.kind, 'raised', 'and the next beacon moves it as usual');
});

t.test('agreement needs time: three readings within seconds of each other are not enough', async (t) => {
  const far = T0 + YEAR;
  const out = run(T0, [
    { issuedMs: far, mono: 0 },
    { issuedMs: far + 1000, mono: 1000 },
    { issuedMs: far + 2000, mono: 2000 },
  ]);
  t.same(out.map((o) => o.kind), ['unproven', 'unproven', 'unproven']);
  t.equal(out[2]!.boundMs, T0 + 2000);
  t.ok(TIME_CONFIRM_SPAN_MS > 2000);
});

t.test('one wrongly dated beacon among right ones never moves the bound', async (t) => {
  const out = run(T0, [
    // The province's clock a second ahead of the bound, as when the bound was taken from a message that travelled.
    { issuedMs: T0 + 31_000, mono: 30_000 },
    { issuedMs: T0 + YEAR, mono: 45_000 },
    { issuedMs: T0 + 61_000, mono: 60_000 },
    { issuedMs: T0 + 91_000, mono: 90_000 },
    { issuedMs: T0 + 121_000, mono: 120_000 },
  ]);
  // After the first, the right beacons are just where the bound carried on by monotonic time already is.
  t.same(out.map((o) => o.kind), ['raised', 'unproven', 'kept', 'kept', 'kept']);
  t.equal(out.at(-1)!.boundMs, T0 + 121_000, 'the bound follows the right beacons only');
});

t.test('readings that disagree with each other (two wrong clocks) confirm nothing', async (t) => {
  const out = run(T0, [
    { issuedMs: T0 + YEAR, mono: 0 },
    { issuedMs: T0 + 2 * YEAR, mono: 40_000 },
    { issuedMs: T0 + YEAR + 3 * DAY, mono: 80_000 },
    { issuedMs: T0 + YEAR + 120_000, mono: 120_000 },
  ]);
  t.same(out.map((o) => o.kind), ['unproven', 'unproven', 'unproven', 'unproven'], 'only two of the four agree');
});

t.test('with a proven clock no number of agreeing readings moves the bound far ahead of it', async (t) => {
  const far = T0 + YEAR;
  const out = run(T0, [0, 40_000, 80_000, 120_000].map((mono) => ({ issuedMs: far + mono, mono })), (mono) => T0 + mono);
  t.same(out.map((o) => o.kind), ['future-dated', 'future-dated', 'future-dated', 'future-dated']);
});

t.test('ProvinceClock: the rule applied, persisted, and reset by the signed command', async (t) => {
  const d = new Database(':memory:');
  migrate(d);
  let mono = 0;
  const c = new ProvinceClock(d, () => mono, RELEASED);
  t.equal(c.observe(T0).kind, 'raised');
  t.equal(c.observe(T0 + YEAR).kind, 'unproven', 'a year ahead without a proven clock');
  t.equal(c.observe(T0 + YEAR, T0).kind, 'future-dated', 'and with one');
  mono = 1000;
  t.equal(c.lowerBound(), T0 + 1000, 'the bound did not move');
  t.equal(new ProvinceClock(d, () => 0, RELEASED).lowerBound(), T0, 'nor what is persisted');

  t.equal(c.reset(T0 + YEAR), false, 'the reset never raises it');
  t.equal(c.lowerBound(), T0 + 1000);
  // A bound poisoned before this fix (or by a province whose clock stayed wrong) comes down only by the reset.
  d.prepare("UPDATE meta SET value = ? WHERE key = 'sync.province_time'").run(String(T0 + YEAR));
  const poisoned = new ProvinceClock(d, () => mono, RELEASED);
  t.equal(poisoned.observe(T0 + 2000).kind, 'kept', 'no ordinary message lowers it');
  t.equal(poisoned.reset(T0), true);
  t.equal(poisoned.lowerBound(), T0, 'the reset brings it down');
  t.equal(new ProvinceClock(d, () => 0, RELEASED).lowerBound(), T0, 'persisted across a restart');
});

t.test('the clock-reset command: judged for expiry by a proven clock only, replay refused like any command', async (t) => {
  const cmd: Command = { type: 'command', id: 'reset-1', seq: 5, issuedMs: T0, ttlMs: 60_000, to: { station: 's1' }, command: { action: 'clock-reset', lowerBoundMs: T0 } };
  const base: CommandContext = { stationId: 's1', groups: [], arrivedOn: { station: 's1' }, seqVerdict: 'fresh', previous: undefined, provinceNowMs: T0 + YEAR, trustedWallMs: undefined, provenWallMs: undefined };
  t.same(decideCommand(cmd, base), { action: 'run' }, 'a bound a year ahead does not expire its own correction');
  t.match(decideCommand({ ...cmd, command: { action: 'stop' } }, base), { action: 'reject', reason: /expired/ }, 'while it does expire any other command (the poison this fixes)');
  t.match(decideCommand(cmd, { ...base, provenWallMs: T0 + 2 * MIN }), { action: 'reject', reason: /expired/ }, 'a proven clock still expires a stale reset');
  t.match(decideCommand(cmd, { ...base, trustedWallMs: T0 + 2 * MIN }), { action: 'run' }, 'a clock only believed (after the last time seen) does not');
  t.match(decideCommand(cmd, { ...base, seqVerdict: 'seen' }), { action: 'reject', reason: /replayed/ });
  t.match(decideCommand(cmd, { ...base, seqVerdict: 'too-old' }), { action: 'reject', reason: /replayed/ });
});

t.test('which clocks prove the time', async (t) => {
  t.equal(provenWallMs({ trusted: true, reason: 'ntp' }, 5), 5);
  t.equal(provenWallMs({ trusted: true, reason: 'rtc' }, 5), 5);
  t.equal(provenWallMs({ trusted: true, reason: 'configured' }, 5), 5);
  t.equal(provenWallMs({ trusted: true, reason: 'after-last-seen' }, 5), undefined, 'believed only because it follows the last time seen');
  t.equal(provenWallMs({ trusted: false, reason: 'never-synced' }, 5), undefined);
});
