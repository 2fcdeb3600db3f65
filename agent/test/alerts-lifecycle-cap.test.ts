import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseCap } from '../src/alerts/cap/parse.js';
import type { CapAlert } from '../src/alerts/alert.js';
import { AlertsConfigSchema, alertStation } from '../src/alerts/config.js';
import {
  type AlertRegistry,
  type TimeBounds,
  alertActivity,
  alertKey,
  applyAlertMessage,
  applyEffects,
  repeatSchedule,
  timeBounds,
} from '../src/alerts/lifecycle.js';
import { boardView, speechPlan } from '../src/alerts/speech-plan.js';

/**
 * Real CAP XML (the OASIS examples and a Vietnamese flood warning chain)
 * through the parser and then the whole pure lifecycle: the codes survive
 * as strings, and the one decision, the registry, the speech plan, the
 * board and the repeat agree on what a station does with them.
 */

// Each document is parsed (schema validation included) once: the parser's cost is not what this file tests.
const parsed = new Map<string, Promise<CapAlert>>();
function cap(path: string): Promise<CapAlert> {
  let p = parsed.get(path);
  if (!p) {
    p = parseCap(readFileSync(new URL(`./fixtures/${path}`, import.meta.url))).then((r) => {
      if (!r.ok) throw new Error(`${path}: ${r.errors.join('; ')}`);
      return r.alert;
    });
    parsed.set(path, p);
  }
  return p;
}

const FLOOD_HMN = 'e'.repeat(64);
const config = AlertsConfigSchema.parse({
  languages: ['vi', 'hmn'],
  prerecorded: [{ valueName: 'VN-EVENT', value: 'LU-QUET', language: 'hmn', content: FLOOD_HMN }],
  area: {
    commune: '02992',
    containedIn: ['082', '10'],
    codes: { '0299201': ['zone-1'], '0299202': ['zone-2'] },
    zones: { 'zone-1': { point: [22.30, 103.90] }, 'zone-2': { point: [22.31, 103.92] }, 'zone-3': { point: [22.28, 103.94] } },
  },
});
const station = alertStation({ station: { id: 'xa-ta-van' }, relays: { zones: [{ name: 'zone-1' }, { name: 'zone-2' }, { name: 'zone-3' }] }, alerts: config });
const trusted = (iso: string): TimeBounds => timeBounds({ wallMs: Date.parse(iso), clockTrusted: true, provinceLowerMs: null });
const activity = (a: CapAlert, bounds: TimeBounds, registry?: 'live' | 'cancelled' | 'superseded') =>
  alertActivity(a, { bounds, policy: config, station, ...(registry ? { registry } : {}) });

t.test('a flood warning for two villages: those zones, Vietnamese then Hmong, never waiting for its audio, every 15 minutes', async (t) => {
  const alert = await cap('cap-lifecycle/flood-alert.xml');
  t.same(alert.info[0]!.areas[0]!.geocodes.map((g) => g.value), ['0299201', '0299202'], 'codes kept as strings');
  const act = activity(alert, trusted('2026-12-02T05:01:00Z'));
  t.same([act.state, act.outputs, act.target.kind === 'zones' && act.target.zones, act.infos], ['active', 'public', ['zone-1', 'zone-2'], [0, 1]]);
  t.equal(act.wakeAtMs, Date.parse('2026-12-02T06:00:00Z'), 'wakes at expiry');

  const first = speechPlan(alert, config, { resources: {} }, { infos: act.infos });
  t.same(first.steps.map((s) => s.kind === 'speech' ? `${s.key}: ${s.text}` : s.kind === 'prerecorded' ? `${s.key}: ${s.content.slice(0, 4)}` : s.key), [
    'chime',
    'lead: Cảnh báo lũ quét thôn Lồ Lao Chải và Hầu Thào.',
    'lang:hmn: eeee',
  ]);
  t.same(first.waitFor.map((r) => [r.key, r.uri, r.digest, r.size]), [['0.0', 'https://pctt.laocai.gov.vn/cap/LC-PCTT-2026-0042-vi.mp3', '3f786850e387550fdab836ed7e6dc881de23001b', 96000]]);
  const rest = speechPlan(alert, config, { resources: { '0.0': 'present' } }, { infos: act.infos, done: first.steps.map((s) => s.key) });
  t.same(rest.steps.map((s) => `${s.kind} ${s.key}`), ['resource lang:vi']);

  const board = boardView(alert, 'vi', { infos: act.infos, policy: config })!;
  t.same([board.headline, board.sender, board.expiresMs], ['Cảnh báo lũ quét thôn Lồ Lao Chải và Hầu Thào', 'Ban Chỉ huy PCTT và TKCN tỉnh Lào Cai', Date.parse('2026-12-02T06:00:00Z')]);
  const repeat = repeatSchedule(alert, act.infos, Date.parse('2026-12-02T05:01:40Z'), config, config.repeatMinutes);
  t.equal(repeat.nextPlayMs, Date.parse('2026-12-02T05:16:40Z'));
  t.equal(activity(alert, trusted('2026-12-02T06:00:00Z')).state, 'expired');
});

t.test('the chain as it arrives: Update (station-wide) replaces it while it plays, Cancel withdraws the Update', async (t) => {
  const [alert, update, cancel] = await Promise.all(['flood-alert', 'flood-update', 'flood-cancel'].map((f) => cap(`cap-lifecycle/${f}.xml`)));
  t.equal(cancel!.info.length, 0, 'a Cancel with no info block');
  let registry: AlertRegistry = { alerts: [], overtaken: [] };
  const step = (m: CapAlert) => {
    const fx = applyAlertMessage(registry, m);
    registry = applyEffects(registry, fx);
    return fx;
  };
  step(alert!);
  const fxU = step(update!);
  t.same(fxU.replace, [{ old: alertKey(alert!), by: alertKey(update!) }]);
  const state = (a: CapAlert) => registry.alerts.find((k) => k.key === alertKey(a))!.state;
  const at = trusted('2026-12-02T05:12:00Z');
  t.equal(activity(alert!, at, state(alert!)).state, 'superseded');
  const u = activity(update!, at, state(update!));
  t.same([u.state, u.target.kind], ['active', 'station'], 'LOA_STATION_WIDE: every zone');
  const fxC = step(cancel!);
  t.same(fxC.withdraw, [alertKey(update!)]);
  t.same([alert, update].map((a) => activity(a!, trusted('2026-12-02T05:41:00Z'), state(a!)).state), ['superseded', 'cancelled']);
});

t.test('the Cancel overtakes both on a lossy link: neither ever plays', async (t) => {
  const [alert, update, cancel] = await Promise.all(['flood-alert', 'flood-update', 'flood-cancel'].map((f) => cap(`cap-lifecycle/${f}.xml`)));
  let registry: AlertRegistry = { alerts: [], overtaken: [] };
  for (const m of [cancel!, update!, alert!]) registry = applyEffects(registry, applyAlertMessage(registry, m));
  const states = [alert, update].map((a) => registry.alerts.find((k) => k.key === alertKey(a!))!.state);
  t.same(states, ['cancelled', 'cancelled']);
  t.same(registry.overtaken, [], 'memories used up');
});

t.test('an expired warning stays silent on a station whose clock is not synchronised, by the province\'s bound', async (t) => {
  const alert = await cap('cap-lifecycle/flood-alert.xml');
  const wrongClock = Date.parse('2019-01-01T00:00:00Z');
  const bounds = timeBounds({ wallMs: wrongClock, clockTrusted: false, provinceLowerMs: Date.parse('2026-12-02T06:05:00Z') });
  t.same([activity(alert, bounds).state, activity(alert, bounds).outputs], ['expired', 'none']);
  const fresh = timeBounds({ wallMs: Date.parse('2031-01-01T00:00:00Z'), clockTrusted: false, provinceLowerMs: Date.parse('2026-12-02T05:00:30Z') });
  t.equal(activity(alert, fresh).state, 'active', 'a clock years ahead does not silence it');
});

t.test('a Test message never reaches a village zone', async (t) => {
  const test = await cap('cap-lifecycle/drill-test.xml');
  const act = activity(test, trusted('2026-12-02T05:01:00Z'));
  t.same([act.state, act.outputs, act.target.kind], ['monitor-only', 'monitor', 'none']);
});

t.test('the OASIS examples at a Vietnamese station', async (t) => {
  const [thunder, quake, amber, homeland] = await Promise.all(
    ['severe-thunderstorm', 'earthquake', 'amber-alert', 'homeland-security'].map((f) => cap(`cap/oasis/${f}.xml`)),
  );
  // 2003: before this release, so the bounds are given as such rather than from a wall clock (timeBounds floors at the release).
  const at = (ms: number): TimeBounds => ({ lowerMs: ms, upperMs: ms, trusted: true });
  const during = (a: CapAlert): TimeBounds => at(a.sentMs + 60_000);
  // Not here at all: ignored, with the reason.
  t.same([activity(thunder!, during(thunder!)).state, activity(thunder!, during(thunder!)).reason], ['ignored', 'area not this station']);
  t.equal(activity(quake!, during(quake!)).state, 'ignored');
  // Placed in Alpine County, California: the storm polygon covers the zone; SAME geocodes mean nothing here.
  const alpine = alertStation({
    station: { id: 'alpine' },
    relays: { zones: [{ name: 'zone-1' }, { name: 'zone-2' }] },
    alerts: AlertsConfigSchema.parse({ area: { codes: { '6003': ['zone-2'] }, zones: { 'zone-1': { point: [38.5, -119.9] } } } }),
  });
  const th = alertActivity(thunder!, { bounds: during(thunder!), policy: config, station: alpine });
  t.same([th.state, th.target.kind === 'zones' && th.target.zones], ['active', ['zone-1']], '"006003" is not "6003"');
  t.equal(alertActivity(thunder!, { bounds: at(Date.parse('2003-06-17T23:00:00Z')), policy: config, station: alpine }).state, 'expired');
  // The earthquake is an Update of a message never seen: a new alert; it gives no expires, so the default lifetime ends it.
  const fx = applyAlertMessage({ alerts: [], overtaken: [] }, quake!);
  t.same([fx.add?.state, fx.remember.map((o) => o.key)], ['live', ['trinet@caltech.edu,TRI13970876.1,' + Date.parse('2003-06-12T03:30:00Z')]]);
  const nearBrawley = alertStation({
    station: { id: 'brawley' },
    relays: { zones: [{ name: 'zone-1' }] },
    alerts: AlertsConfigSchema.parse({ area: { zones: { 'zone-1': { point: [32.9525, -115.5527] } } } }),
  });
  const q = alertActivity(quake!, { bounds: during(quake!), policy: config, station: nearBrawley });
  t.same([q.state, q.target.kind], ['active', 'station'], 'a radius-0 circle at the zone');
  t.equal(alertActivity(quake!, { bounds: { lowerMs: quake!.sentMs + 24 * 3600_000, upperMs: null, trusted: false }, policy: config, station: nearBrawley }).state, 'expired');
  // English and Spanish only, at a station without an area map: nothing but the chime is played; the board still shows it.
  const anywhere = { ...station, area: undefined };
  const am = alertActivity(amber!, { bounds: during(amber!), policy: config, station: anywhere });
  t.equal(am.state, 'active');
  t.same(speechPlan(amber!, config, { resources: {} }, { infos: am.infos }).steps.map((s) => s.kind), ['chime']);
  t.equal(boardView(amber!, 'vi', { infos: am.infos })!.language, 'en-US');
  // Homeland security: an image resource is not audio.
  const hs = alertActivity(homeland!, { bounds: during(homeland!), policy: config, station: anywhere });
  t.equal(hs.state, 'active');
  t.same(speechPlan(homeland!, config, { resources: {} }, { infos: hs.infos }).waitFor, []);
});
