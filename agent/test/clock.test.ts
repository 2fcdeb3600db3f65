import t from 'tap';
import { assessClock, clockJumpMs } from '../src/clock/trust.js';
import { ClockMonitor } from '../src/clock/monitor.js';
import { silentLogger } from '../src/lib/logger.js';

const now = Date.UTC(2026, 10, 27, 3, 0, 0);

t.test('clock trust', async (t) => {
  const base = { nowMs: now, lastSeenMs: null, ntpSynchronized: false, trustWithoutSync: false };
  t.same(assessClock(base), { trusted: false, reason: 'never-synced' });
  t.same(assessClock({ ...base, ntpSynchronized: true }), { trusted: true, reason: 'ntp' });
  t.same(assessClock({ ...base, rtcValid: true }), { trusted: true, reason: 'rtc' });
  t.same(assessClock({ ...base, lastSeenMs: now - 1000 }), { trusted: true, reason: 'after-last-seen' });
  // A Pi booting at 1970 (or any time before what the station already saw).
  t.same(assessClock({ ...base, nowMs: 0, lastSeenMs: now }), { trusted: false, reason: 'before-last-seen' });
  t.same(assessClock({ ...base, trustWithoutSync: true }), { trusted: true, reason: 'configured' });
});

t.test('a jump is wall-clock movement not matched by the monotonic clock', async (t) => {
  t.equal(clockJumpMs({ wallMs: 1000, monoMs: 50 }, { wallMs: 6000, monoMs: 5050 }), 0);
  t.equal(clockJumpMs({ wallMs: 1000, monoMs: 50 }, { wallMs: 3_601_000 + 5000, monoMs: 5050 }), 3_600_000);
});

t.test('the monitor becomes trusted when NTP syncs, reports jumps, and persists last-seen', async (t) => {
  let wall = now;
  let synced = false;
  let lastSeen: number | null = null;
  const m = new ClockMonitor({
    log: silentLogger(),
    trustWithoutSync: false,
    loadLastSeen: () => lastSeen,
    saveLastSeen: (ms) => { lastSeen = ms; },
    ntpSynchronized: async () => synced,
    ntpAskEveryMs: 0,
    now: () => wall,
  });
  const events: string[] = [];
  m.on('trust', (a) => events.push(`trust:${a.trusted}:${a.reason}`));
  m.on('jump', () => events.push('jump'));
  await m.tick();
  t.equal(m.trusted, false);
  synced = true;
  await m.tick();
  t.equal(m.trusted, true);
  t.equal(lastSeen, wall, 'last-seen is persisted once trusted');
  wall += 3_600_000; // NTP steps the clock by an hour
  await m.tick();
  t.same(events, ['trust:true:ntp', 'jump']);
});
