/**
 * The RTC handover: the helper's judgement as data, and the agent's and the
 * helper's halves against each other on real files (the path unit's part, a
 * start whenever request.json exists, played by the test; under systemd in
 * systemd-boot.test.ts). The clock setter is recorded, never run.
 */
import t from 'tap';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judgeClockRequest, runClockSetter, setClockThroughHelper, CLOCK_REQUEST_MAX_AGE_MS, type ClockRequest } from '../src/clock/rtc-handover.js';
import { MAX_AHEAD_OF_EVIDENCE_MS, RELEASED_NOT_BEFORE_MS } from '../src/clock/trust.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';

const now = RELEASED_NOT_BEFORE_MS + 30 * 86_400_000;
const mono = 5_000_000_000n;
const req = (rtcMs: number, ageMs = 0): ClockRequest => ({ id: '0123456789abcdef', rtcMs, monoNs: String(mono - BigInt(ageMs) * 1_000_000n) });
const judge = (r: ClockRequest, over: Partial<Parameters<typeof judgeClockRequest>[0]> = {}) =>
  judgeClockRequest({ request: r, monoNowNs: mono, systemMs: now, ntpSynchronized: false, setThisBoot: false, ...over });

t.test('the helper sets the clock only within its bounds', async (t) => {
  t.same(judge(req(now + 3_600_000, 500)), { apply: true, targetMs: now + 3_600_500 }, 'forward, corrected by the reading\'s age');
  t.same(judge(req(now + 3_600_000), { ntpSynchronized: true }), { apply: false, reason: 'ntp-synchronized' });
  t.same(judge(req(now + 3_600_000), { setThisBoot: true }), { apply: false, reason: 'already-set-this-boot' });
  t.same(judge(req(now, CLOCK_REQUEST_MAX_AGE_MS + 1)), { apply: false, reason: 'stale' });
  t.same(judge(req(now, -1)), { apply: false, reason: 'stale' }, 'a reading from the future of the monotonic clock');
  t.same(judge(req(RELEASED_NOT_BEFORE_MS - 1), { systemMs: 0 }), { apply: false, reason: 'before-release' });
  t.same(judge(req(now + MAX_AHEAD_OF_EVIDENCE_MS + 1)), { apply: false, reason: 'too-far-ahead' });
  t.same(judge(req(now - 3_000)), { apply: false, reason: 'backwards' }, 'never back: a day\'s programmes could play twice');
  t.same(judge(req(now - 1_000)), { apply: true, targetMs: now - 1_000 }, 'a second back is within the boot threshold');
  t.same(judge(req(RELEASED_NOT_BEFORE_MS + 1000), { systemMs: 0 }), { apply: true, targetMs: RELEASED_NOT_BEFORE_MS + 1000 }, 'a Pi booted at the epoch');
});

t.test('agent and helper over files: applied once per boot, refusals reach the agent with their reason, the request is taken away', async (t) => {
  const dir = tempDir('clock-handover');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const paths = { requestDir: join(dir, 'loa-clock'), resultDir: join(dir, 'loa-clock-set') };
  for (const d of Object.values(paths)) mkdirSync(d);
  const set: number[] = [];
  let stop = false;
  // The path unit: the helper starts whenever request.json exists.
  const unit = (async () => {
    while (!stop) {
      if (existsSync(join(paths.requestDir, 'request.json'))) await runClockSetter({ log: silentLogger(), paths, ntpSynchronized: async () => false, setClock: async (ms) => void set.push(ms) });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.teardown(async () => { stop = true; await unit; });

  const target = Date.now() + 3_600_000;
  await setClockThroughHelper(target, { paths, timeoutMs: 5000 });
  t.equal(set.length, 1);
  t.ok(set[0]! >= target && set[0]! - target < 2000, 'set to the reading plus its age');
  t.notOk(existsSync(join(paths.requestDir, 'request.json')), 'the request was taken away');
  await t.rejects(setClockThroughHelper(Date.now() + 7_200_000, { paths, timeoutMs: 5000 }), /did not set the clock from the RTC: already-set-this-boot/);
  t.equal(set.length, 1, 'not twice in a boot');

  writeFileSync(join(paths.requestDir, 'request.json'), '{"id":"x"}');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(existsSync(join(paths.requestDir, 'request.json')), 'an unusable request is taken away too (the path unit would start the helper forever)');
  t.equal(await runClockSetter({ log: silentLogger(), paths }), null, 'no request: nothing answered');
  await t.rejects(setClockThroughHelper(Date.now(), { paths: { ...paths, resultDir: join(dir, 'nobody') }, timeoutMs: 300 }), /gave no answer within 300 ms \(is loa-clock-set\.path enabled/);
});
