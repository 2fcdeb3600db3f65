import t from 'tap';
import { assessClock } from '../../agent/src/clock/trust.js';
import { assessRtc, clockAtBoot, planBootClock, planRtcUpdate, syncRtcFromSystem } from '../src/client/rtc.js';
import { rig } from './rig.js';

const NOW = Date.UTC(2026, 10, 27, 3, 0, 0);

t.test('planBootClock as data', async (t) => {
  const good = { valid: true, ms: NOW };
  t.match(planBootClock({ rtc: good, ntpSynchronized: true, systemMs: 0, lastSeenMs: null }), { action: 'keep-system', reason: 'ntp' });
  t.match(planBootClock({ rtc: null, ntpSynchronized: false, systemMs: 0, lastSeenMs: null }), { action: 'keep-system', rtcTrusted: false, reason: 'no-rtc' });
  t.same(planBootClock({ rtc: good, ntpSynchronized: false, systemMs: Date.UTC(1970, 0, 1), lastSeenMs: null }), { action: 'set-system-from-rtc', rtcMs: NOW, rtcTrusted: true, reason: 'rtc' });
  t.match(planBootClock({ rtc: good, ntpSynchronized: false, systemMs: NOW + 1500, lastSeenMs: null }), { action: 'keep-system', rtcTrusted: true, reason: 'rtc-agrees' });
  t.match(planBootClock({ rtc: { valid: false, ms: NOW }, ntpSynchronized: false, systemMs: 0, lastSeenMs: null }), { action: 'keep-system', rtcTrusted: false, reason: 'battery-lost' });
  t.match(planBootClock({ rtc: { valid: true, ms: Date.UTC(2000, 0, 1) }, ntpSynchronized: false, systemMs: 0, lastSeenMs: null }), { reason: 'implausible' });
  t.match(planBootClock({ rtc: good, ntpSynchronized: false, systemMs: 0, lastSeenMs: NOW + 3_600_000 }), { reason: 'behind-last-seen' });
  t.same(assessRtc({ valid: true, ms: NOW }, NOW + 30_000), { trusted: true, verdict: 'valid' }, 'a little drift behind last-seen is allowed');
});

t.test('planRtcUpdate as data', async (t) => {
  t.same(planRtcUpdate({ rtc: { valid: true, ms: NOW + 5000 }, ntpSynchronized: true, systemMs: NOW }), { update: true, driftMs: 5000 });
  t.same(planRtcUpdate({ rtc: { valid: true, ms: NOW + 5000 }, ntpSynchronized: false, systemMs: NOW }), { update: false, driftMs: 5000 }, 'never from an unsynchronised clock');
  t.same(planRtcUpdate({ rtc: { valid: true, ms: NOW + 300 }, ntpSynchronized: true, systemMs: NOW }), { update: false, driftMs: 300 });
  t.same(planRtcUpdate({ rtc: { valid: false, ms: NOW }, ntpSynchronized: true, systemMs: NOW }), { update: true, driftMs: 0 });
});

t.test('at boot without NTP the station takes its time from the RTC', async (t) => {
  // The board booted with its clock at the epoch (no battery on a Pi); the I/O board's RTC kept time.
  const { client } = await rig(t);
  const set: number[] = [];
  const r = await clockAtBoot(client, { ntpSynchronized: async () => false, lastSeenMs: null, now: () => 0, setSystemClock: async (ms) => void set.push(ms) });
  t.equal(r.applied, true);
  t.equal(set.length, 1);
  t.ok(Math.abs(set[0]! - Date.now()) < 2000, 'the system clock is set to the RTC time');
  t.equal(r.plan.rtcTrusted, true);
  t.same(assessClock({ nowMs: set[0]!, lastSeenMs: null, ntpSynchronized: false, rtcValid: r.plan.rtcTrusted, trustWithoutSync: false }), { trusted: true, reason: 'rtc' }, 'the agent trusts the clock because of the RTC');
});

t.test('a battery-lost RTC is not used, and NTP time repairs it', async (t) => {
  const { client } = await rig(t, { mcu: { rtcValid: false } });
  const set: number[] = [];
  const r = await clockAtBoot(client, { ntpSynchronized: async () => false, lastSeenMs: null, setSystemClock: async (ms) => void set.push(ms) });
  t.same([r.applied, r.plan.reason, set], [false, 'battery-lost', []]);
  const synced = await syncRtcFromSystem(client, { ntpSynchronized: true });
  t.equal(synced.updated, true);
  t.ok(synced.rtc.valid && Math.abs(synced.rtc.ms - Date.now()) < 2000);
  t.equal((await syncRtcFromSystem(client, { ntpSynchronized: true })).updated, false, 'in step: left alone');
});

t.test('no link at boot: the RTC is not used, and the error says why', async (t) => {
  const { client, sim } = await rig(t, { open: false });
  await sim.pty!.unplug();
  const r = await clockAtBoot(client, { ntpSynchronized: async () => false, lastSeenMs: null, setSystemClock: async () => void t.fail('must not set') });
  t.match(r, { applied: false, plan: { reason: 'no-rtc' }, error: /not connected/ });
});
