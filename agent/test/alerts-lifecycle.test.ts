import t from 'tap';
import {
  type ActivityContext,
  type AlertPolicy,
  type AlertStation,
  type TimeBounds,
  DEFAULT_ALERT_POLICY,
  MAX_SENT_AHEAD_MS,
  alertActivity,
  parseAddresses,
  primaryLanguage,
  selectInfos,
  timeBounds,
  wakeDelayMs,
} from '../src/alerts/lifecycle.js';
import { assessClock, RELEASED_NOT_BEFORE_MS } from '../src/clock/trust.js';
import type { AlertMsgType, AlertStatus } from '../src/alerts/alert.js';
import { AlertsConfigSchema, alertStation } from '../src/alerts/config.js';
import { DAY, HOUR, MIN, T0, YEAR, capAlert, capInfo } from './alert-builder.js';

const station: AlertStation = { id: 'xa-ta-van', groups: ['lao-cai', 'sa-pa'], languages: ['vi', 'hmn'], zones: ['zone-1', 'zone-2'] };
const trustedAt = (ms: number): TimeBounds => ({ lowerMs: ms, upperMs: ms, trusted: true });
const ctx = (over: Partial<ActivityContext> = {}): ActivityContext => ({ bounds: trustedAt(T0 + MIN), policy: DEFAULT_ALERT_POLICY, station, ...over });
const policy = (over: Partial<AlertPolicy>): AlertPolicy => ({ ...DEFAULT_ALERT_POLICY, ...over });

t.test('status × msgType: only Actual reaches public outputs; Test the monitor; Exercise as configured; the rest nothing', async (t) => {
  const statuses: AlertStatus[] = ['Actual', 'Exercise', 'Test', 'System', 'Draft'];
  const types: AlertMsgType[] = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'];
  const expected = (status: AlertStatus, msgType: AlertMsgType, exercise: AlertPolicy['exercise']): [string, string] => {
    if (msgType === 'Ack' || msgType === 'Error' || msgType === 'Cancel') return ['ignored', 'none'];
    if (status === 'Actual') return ['active', 'public'];
    if (status === 'Test') return ['monitor-only', 'monitor'];
    if (status === 'Exercise') return exercise === 'public' ? ['active', 'public'] : exercise === 'monitor' ? ['monitor-only', 'monitor'] : ['ignored', 'none'];
    return ['ignored', 'none'];
  };
  for (const exercise of ['public', 'monitor', 'ignore'] as const) {
    for (const status of statuses) {
      for (const msgType of types) {
        const a = alertActivity(capAlert({ status, msgType }), ctx({ policy: policy({ exercise }) }));
        t.same([a.state, a.outputs], expected(status, msgType, exercise), `${status} ${msgType} (exercise: ${exercise}): ${a.reason}`);
        if (a.outputs !== 'public') t.equal(a.target.kind, 'none', 'no zones unless public');
      }
    }
  }
  t.match(alertActivity(capAlert({ msgType: 'Ack' }), ctx()).reason, /Ack/);
  t.match(alertActivity(capAlert({ msgType: 'Error' }), ctx()).reason, /Error/);
  t.match(alertActivity(capAlert({ status: 'Test' }), ctx()).reason, /Test: local monitor/);
});

t.test('expires is enforced from the lower bound, exactly at the instant, and is when the answer changes', async (t) => {
  const a = capAlert();
  const before = alertActivity(a, ctx({ bounds: trustedAt(T0 + HOUR - 1) }));
  t.equal(before.state, 'active');
  t.equal(before.wakeAtMs, T0 + HOUR, 'wakes at expiry so the board clears');
  t.equal(wakeDelayMs(before.wakeAtMs!, trustedAt(T0 + HOUR - 1)), 1);
  const at = alertActivity(a, ctx({ bounds: trustedAt(T0 + HOUR) }));
  t.same([at.state, at.outputs, at.infos, at.endsAtMs], ['expired', 'none', [], undefined]);
  t.match(at.reason, /expired 2026-12-02T06:00:00.000Z/);
  t.equal(at.wakeAtMs, undefined, 'nothing changes an expired alert but a new message');
});

t.test('an alert without expires lives the station default from its effective time (else sent)', async (t) => {
  const a = capAlert({ info: [capInfo({ expiresMs: undefined })] });
  t.equal(alertActivity(a, ctx({ bounds: trustedAt(T0 + DAY - 1) })).state, 'active');
  const e = alertActivity(a, ctx({ bounds: trustedAt(T0 + DAY) }));
  t.equal(e.state, 'expired');
  t.match(e.reason, /no expires: 1440 min lifetime/);
  const short = alertActivity(a, ctx({ bounds: trustedAt(T0 + 31 * MIN), policy: policy({ defaultLifetimeMinutes: 30 }) }));
  t.equal(short.state, 'expired');
  const eff = capAlert({ info: [capInfo({ expiresMs: undefined, effectiveMs: T0 + HOUR })] });
  t.equal(alertActivity(eff, ctx({ bounds: trustedAt(T0 + 70 * MIN), policy: policy({ defaultLifetimeMinutes: 30 }) })).state, 'active', 'counted from effective');
});

t.test('onset and effective in the future: pending until then (by the lower bound), then active', async (t) => {
  const cases = [
    { name: 'onset', info: capInfo({ onsetMs: T0 + 10 * MIN }), startMs: T0 + 10 * MIN },
    { name: 'effective', info: capInfo({ effectiveMs: T0 + 5 * MIN }), startMs: T0 + 5 * MIN },
    { name: 'both: the later', info: capInfo({ effectiveMs: T0 + 5 * MIN, onsetMs: T0 + 20 * MIN }), startMs: T0 + 20 * MIN },
    { name: 'onset in the past', info: capInfo({ onsetMs: T0 - HOUR }), startMs: T0 },
  ];
  for (const c of cases) {
    const a = capAlert({ info: [c.info] });
    const pending = alertActivity(a, ctx({ bounds: trustedAt(c.startMs - 1) }));
    if (c.startMs > T0) {
      t.same([pending.state, pending.outputs, pending.wakeAtMs, pending.endsAtMs], ['pending-onset', 'none', c.startMs, T0 + HOUR], c.name);
    }
    t.equal(alertActivity(a, ctx({ bounds: trustedAt(c.startMs) })).state, 'active', `${c.name}: active at start`);
  }
  // An untrusted clock waits for the province's bound to pass onset: never early.
  const a = capAlert({ info: [capInfo({ onsetMs: T0 + 10 * MIN })] });
  t.equal(alertActivity(a, ctx({ bounds: { lowerMs: T0 + 9 * MIN, upperMs: null, trusted: false } })).state, 'pending-onset');
  // Pending beats expired only while it has not ended: onset after expiry never plays.
  const never = capAlert({ info: [capInfo({ onsetMs: T0 + 2 * HOUR, expiresMs: T0 + HOUR })] });
  t.equal(alertActivity(never, ctx({ bounds: trustedAt(T0 + 90 * MIN) })).state, 'expired');
});

t.test('sent far in the future of the upper bound is suspect; without an upper bound it cannot be judged', async (t) => {
  const a = capAlert({ sentMs: T0 + HOUR, info: [capInfo({ expiresMs: T0 + 2 * HOUR })] });
  const suspect = alertActivity(a, ctx({ bounds: trustedAt(T0) }));
  t.same([suspect.state, suspect.outputs], ['ignored', 'none']);
  t.match(suspect.reason, /suspect: sent .* future/);
  const skew = capAlert({ sentMs: T0 + MAX_SENT_AHEAD_MS, info: [capInfo({ expiresMs: T0 + 2 * HOUR })] });
  t.equal(alertActivity(skew, ctx({ bounds: trustedAt(T0) })).state, 'active', 'within the clock skew: not suspect, in force on receipt');
  // An authentic message proves its sent has passed: an untrusted clock with an old bound still plays it.
  t.equal(alertActivity(a, ctx({ bounds: { lowerMs: T0, upperMs: null, trusted: false } })).state, 'active');
});

t.test('registry state: cancelled and superseded alerts are silent whatever their times', async (t) => {
  t.same(pick(alertActivity(capAlert(), ctx({ registry: 'cancelled' }))), { state: 'cancelled', outputs: 'none' });
  t.same(pick(alertActivity(capAlert(), ctx({ registry: 'superseded' }))), { state: 'superseded', outputs: 'none' });
  t.same(pick(alertActivity(capAlert(), ctx({ registry: 'live' }))), { state: 'active', outputs: 'public' });
  t.same(pick(alertActivity(capAlert({ info: [] }), ctx())), { state: 'ignored', outputs: 'none' }, 'no info block');
});

t.test('scope: Public plays; Restricted or Private only when addressed to this station or one of its groups', async (t) => {
  const rows: Array<[Partial<Parameters<typeof capAlert>[0]>, string, string]> = [
    [{ scope: 'Public' }, 'active', 'public'],
    [{ scope: 'Restricted', restriction: 'for the commune people committee' }, 'monitor-only', 'monitor'],
    [{ scope: 'Private' }, 'monitor-only', 'monitor'],
    [{ scope: 'Private', addresses: 'xa-ban-ho xa-ta-van' }, 'active', 'public'],
    [{ scope: 'Restricted', addresses: '"ban chi huy" sa-pa' }, 'active', 'public'],
    [{ scope: 'Private', addresses: 'xa-ta-van-2 "xa ta van"' }, 'monitor-only', 'monitor'],
    [{ scope: 'Private', addresses: 'xa-ta-van', status: 'Test' }, 'monitor-only', 'monitor'],
  ];
  for (const [over, state, outputs] of rows) {
    const a = alertActivity(capAlert(over), ctx());
    t.same([a.state, a.outputs], [state, outputs], `${JSON.stringify(over)}: ${a.reason}`);
  }
  t.same(parseAddresses('a "b c" d'), ['a', 'b c', 'd']);
  t.same(parseAddresses(undefined), []);
});

t.test('hold-off from a local stop: silent until its end, then active again; expiry still wins', async (t) => {
  const held = alertActivity(capAlert(), ctx({ heldOffUntilMs: T0 + 10 * MIN }));
  t.same([held.state, held.outputs, held.wakeAtMs, held.endsAtMs], ['held-off', 'none', T0 + 10 * MIN, T0 + HOUR]);
  t.equal(alertActivity(capAlert(), ctx({ bounds: trustedAt(T0 + 10 * MIN), heldOffUntilMs: T0 + 10 * MIN })).state, 'active');
  t.equal(alertActivity(capAlert(), ctx({ heldOffUntilMs: T0 + 2 * HOUR })).wakeAtMs, T0 + HOUR, 'a hold-off beyond expiry wakes at expiry');
  t.equal(alertActivity(capAlert(), ctx({ bounds: trustedAt(T0 + HOUR), heldOffUntilMs: T0 + 2 * HOUR })).state, 'expired');
  t.equal(alertActivity(capAlert(), ctx({ heldOffUntilMs: null })).state, 'active');
  t.equal(alertActivity(capAlert(), ctx({ heldOffUntilMs: T0 + 10 * MIN, registry: 'cancelled' })).state, 'cancelled');
  const pending = capAlert({ info: [capInfo({ onsetMs: T0 + 20 * MIN })] });
  t.equal(alertActivity(pending, ctx({ heldOffUntilMs: T0 + 10 * MIN })).state, 'pending-onset');
});

t.test('several info blocks: in force while any of the station\'s languages is; the station\'s order; the next boundary wakes', async (t) => {
  const a = capAlert({
    info: [
      capInfo({ language: 'en-US', expiresMs: T0 + 3 * HOUR }),
      capInfo({ language: 'hmn', expiresMs: T0 + 2 * HOUR }),
      capInfo({ language: 'vi-VN', expiresMs: T0 + HOUR }),
    ],
  });
  const first = alertActivity(a, ctx());
  t.same([first.state, first.infos, first.wakeAtMs, first.endsAtMs], ['active', [2, 1], T0 + HOUR, T0 + 2 * HOUR], 'Vietnamese first; English not configured; ends with the Hmong block');
  const later = alertActivity(a, ctx({ bounds: trustedAt(T0 + 90 * MIN) }));
  t.same([later.state, later.infos, later.wakeAtMs], ['active', [1], T0 + 2 * HOUR], 'Hmong still in force');
  t.equal(alertActivity(a, ctx({ bounds: trustedAt(T0 + 2 * HOUR) })).state, 'expired', 'English (not configured) does not keep it alive');
  const staged = capAlert({ info: [capInfo({ language: 'vi', onsetMs: T0 + 30 * MIN }), capInfo({ language: 'hmn' })] });
  const s = alertActivity(staged, ctx());
  t.same([s.state, s.infos, s.wakeAtMs], ['active', [1], T0 + 30 * MIN], 'a later block starting wakes the adapter to re-plan');
  t.same(selectInfos(capAlert({ info: [capInfo({ language: 'en-US' }), capInfo({ language: 'fr' })] }), ['vi']), [0, 1], 'none configured: all');
  t.same(['vi-VN', 'VI', 'hmn_VN', ' en '].map(primaryLanguage), ['vi', 'vi', 'hmn', 'en']);
});

t.test('an alert for another place is ignored, with the reason', async (t) => {
  const a = capAlert({ info: [capInfo({ areas: [{ areaDesc: 'Xã Bản Hồ', polygons: [], circles: [], geocodes: [{ valueName: 'VN-ADMIN', value: '02993' }] }] })] });
  const withMap = { ...station, area: { commune: '02992', containedIn: [], codes: {}, groups: {}, zones: {} } };
  const act = alertActivity(a, ctx({ station: withMap }));
  t.same([act.state, act.outputs, act.reason], ['ignored', 'none', 'area not this station']);
  t.equal(alertActivity(a, ctx()).state, 'active', 'a station without an area map takes every alert as station-wide');
  const here = alertActivity(a, ctx({ station: { ...withMap, area: { ...withMap.area, commune: '02993' } } }));
  t.same([here.state, here.target.kind], ['active', 'station']);
});

t.test('the clock cannot be turned against alerts: bounds from the station facts', async (t) => {
  const province = T0 + 2 * HOUR; // the province signed this time: it has certainly passed
  const rows: Array<{ name: string; wallMs: number; ntp: boolean; provinceMs: number | null; alert: ReturnType<typeof capAlert>; state: string }> = [
    { name: 'unsynchronised clock, province bound past expiry → expired (silent)', wallMs: T0 + 10 * MIN, ntp: false, provinceMs: province, alert: capAlert(), state: 'expired' },
    { name: 'clock years behind, province bound still expires it', wallMs: T0 - 5 * YEAR, ntp: false, provinceMs: province, alert: capAlert(), state: 'expired' },
    { name: 'clock years ahead (untrusted) does not expire a fresh alert', wallMs: T0 + 5 * YEAR, ntp: false, provinceMs: T0 + MIN, alert: capAlert(), state: 'active' },
    { name: 'NTP-synchronised clock decides', wallMs: T0 + 10 * MIN, ntp: true, provinceMs: T0, alert: capAlert(), state: 'active' },
    { name: 'NTP-synchronised but behind the province: the province wins', wallMs: T0 + 10 * MIN, ntp: true, provinceMs: province, alert: capAlert(), state: 'expired' },
    { name: 'nothing heard, untrusted: a fresh alert plays', wallMs: T0 + 5 * YEAR, ntp: false, provinceMs: null, alert: capAlert(), state: 'active' },
  ];
  for (const r of rows) {
    const clock = assessClock({ nowMs: r.wallMs, lastSeenMs: T0 - DAY, ntpSynchronized: r.ntp, trustWithoutSync: false, provinceMs: r.provinceMs });
    const bounds = timeBounds({ wallMs: r.wallMs, clockTrusted: clock.trusted, provinceLowerMs: r.provinceMs });
    const a = alertActivity(r.alert, ctx({ bounds }));
    t.equal(a.state, r.state, `${r.name} (clock ${clock.reason})`);
    if (r.state !== 'active') t.equal(a.outputs, 'none');
  }
  t.same(timeBounds({ wallMs: T0, clockTrusted: false, provinceLowerMs: null }), { lowerMs: RELEASED_NOT_BEFORE_MS, upperMs: null, trusted: false }, 'the release date is a bound too');
  t.same(timeBounds({ wallMs: T0, clockTrusted: true, provinceLowerMs: T0 - MIN }), { lowerMs: T0, upperMs: T0, trusted: true });
  t.same(timeBounds({ wallMs: T0, clockTrusted: false, provinceLowerMs: T0 - MIN, releasedMs: 0 }), { lowerMs: T0 - MIN, upperMs: null, trusted: false });
  t.equal(wakeDelayMs(T0, trustedAt(T0 + 5)), 0, 'a due wake is now, never negative');
});

function pick(a: { state: string; outputs: string }): { state: string; outputs: string } {
  return { state: a.state, outputs: a.outputs };
}

t.test('from the configuration: a flood warning for two villages plays on those zones only, unless marked station-wide', async (t) => {
  const alerts = AlertsConfigSchema.parse({
    languages: ['vi', 'hmn'],
    area: { commune: '02992', codes: { '0299201': ['zone-1'], '0299202': ['zone-2'] } },
  });
  const st = alertStation({
    station: { id: 'xa-ta-van' },
    sync: { groups: ['lao-cai'] },
    relays: { zones: [{ name: 'zone-1' }, { name: 'zone-2' }, { name: 'zone-3' }] },
    alerts,
  });
  t.same(st, { id: 'xa-ta-van', groups: ['lao-cai'], languages: ['vi', 'hmn'], zones: ['zone-1', 'zone-2', 'zone-3'], area: alerts.area });
  const villages = { areaDesc: 'Thôn 1, Thôn 2', polygons: [], circles: [], geocodes: [{ valueName: 'VN-ADMIN', value: '0299201' }, { valueName: 'VN-ADMIN', value: '0299202' }] };
  const a = alertActivity(capAlert({ info: [capInfo({ areas: [villages] })] }), ctx({ station: st }));
  t.same([a.state, a.target], ['active', { kind: 'zones', zones: ['zone-1', 'zone-2'], reason: 'geocode 0299201; geocode 0299202' }]);
  const wide = alertActivity(capAlert({ info: [capInfo({ areas: [villages], parameters: [{ valueName: 'LOA_STATION_WIDE', value: 'true' }] })] }), ctx({ station: st }));
  t.equal(wide.target.kind, 'station');
  const test = alertActivity(capAlert({ status: 'Test', info: [capInfo({ areas: [villages] })] }), ctx({ station: st }));
  t.same([test.state, test.outputs, test.target.kind], ['monitor-only', 'monitor', 'none'], 'Test never reaches a village zone');
  t.equal(alertStation({ station: { id: 'x' }, relays: { zones: [{ name: 'zone-1' }] }, alerts: AlertsConfigSchema.parse({}) }).area, undefined);
});

t.test('malformed times are refused with a reason, never an exception', async (t) => {
  for (const bad of [{ sentMs: NaN }, { info: [capInfo({ expiresMs: Infinity })] }, { info: [capInfo({ onsetMs: NaN })] }]) {
    const a = alertActivity(capAlert(bad), ctx());
    t.same([a.state, a.outputs, a.reason], ['ignored', 'none', 'malformed times']);
  }
  // A time beyond what Date can show does not throw either.
  t.equal(alertActivity(capAlert({ info: [capInfo({ onsetMs: 8.64e15 + 1, expiresMs: 8.64e15 + 2 })] }), ctx()).state, 'pending-onset');
});
