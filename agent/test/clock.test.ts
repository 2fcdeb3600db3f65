import t from 'tap';
import { assessClock, clockJumpMs, provesTime, RELEASED_NOT_BEFORE_MS, MAX_AHEAD_OF_EVIDENCE_MS } from '../src/clock/trust.js';
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

t.test('a clock far from every piece of evidence is not trusted', async (t) => {
  const year = 365 * 86_400_000;
  const base = { nowMs: now, lastSeenMs: now - 3600_000, ntpSynchronized: false, trustWithoutSync: false };
  const cases: Array<[string, Partial<Parameters<typeof assessClock>[0]>, string]> = [
    ['five years ahead of the last time seen', { nowMs: now + 5 * year }, 'ahead-of-evidence'],
    ['just within the bound', { nowMs: base.lastSeenMs + MAX_AHEAD_OF_EVIDENCE_MS }, 'after-last-seen'],
    ['just past the bound', { nowMs: base.lastSeenMs + MAX_AHEAD_OF_EVIDENCE_MS + 1 }, 'ahead-of-evidence'],
    ['ahead of a station never synced, beyond the release', { lastSeenMs: null, nowMs: RELEASED_NOT_BEFORE_MS + 3 * year }, 'ahead-of-evidence'],
    ['a recent province signature widens the bound', { nowMs: now + 3 * year, provinceMs: now + 2 * year }, 'after-last-seen'],
    ['five years behind: before this release', { nowMs: now - 5 * year, lastSeenMs: null }, 'before-release'],
    ['behind the province signature', { nowMs: now + 3600_000, provinceMs: now + 2 * 3600_000 }, 'before-province'],
    ['within the skew of the province', { nowMs: now + 3600_000, provinceMs: now + 3600_000 + 60_000 }, 'after-last-seen'],
    ['NTP outranks the evidence', { nowMs: now + 5 * year, ntpSynchronized: true }, 'ntp'],
    ['so does the RTC', { nowMs: now + 5 * year, rtcValid: true }, 'rtc'],
  ];
  for (const [what, facts, reason] of cases) t.equal(assessClock({ ...base, ...facts }).reason, reason, what);
  t.equal(provesTime({ trusted: true, reason: 'ntp' }), true);
  t.equal(provesTime({ trusted: true, reason: 'configured' }), true);
  t.equal(provesTime({ trusted: true, reason: 'after-last-seen' }), false, 'believed only because it follows the last time seen');
  t.equal(provesTime({ trusted: false, reason: 'ahead-of-evidence' }), false);
});

t.test('a boot with the clock years ahead is not saved as the last time seen', async (t) => {
  const seen = now - 3600_000;
  let lastSeen: number | null = seen;
  let wall = now + 5 * 365 * 86_400_000;
  const m = new ClockMonitor({
    log: silentLogger(),
    trustWithoutSync: false,
    loadLastSeen: () => lastSeen,
    saveLastSeen: (ms) => { lastSeen = ms; },
    ntpSynchronized: async () => false,
    ntpAskEveryMs: 0,
    now: () => wall,
  });
  await m.tick();
  t.same({ trusted: m.trusted, reason: m.state.reason }, { trusted: false, reason: 'ahead-of-evidence' });
  m.persist();
  t.equal(lastSeen, seen, 'last-seen unchanged');
  // The next boot at the right time, still without NTP, is believed.
  wall = now;
  await m.tick();
  t.same({ trusted: m.trusted, reason: m.state.reason }, { trusted: true, reason: 'after-last-seen' });
  m.persist();
  t.equal(lastSeen, seen, 'a time believed only for following the last one is not saved either');
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
  // The daemon's one-second look sees a step between two turns of its main loop, once.
  wall -= 60_000;
  m.lookForJump();
  await m.tick();
  t.same(events, ['trust:true:ntp', 'jump', 'jump'], 'the step back seen by lookForJump, not again by the next tick');
});
