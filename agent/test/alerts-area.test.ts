import t from 'tap';
import {
  type AlertAreaConfig,
  AlertAreaConfigSchema,
  checkAlertAreaNames,
  haversineKm,
  parseCapCircle,
  parseCapPolygon,
  pointInPolygon,
  polygonsOverlap,
  zonesForInfo,
  zonesForInfos,
} from '../src/alerts/area.js';
import { AlertsConfigSchema } from '../src/alerts/config.js';
import type { AlertArea } from '../src/alerts/alert.js';
import { capInfo } from './alert-builder.js';

// Xã Tả Van (Sa Pa, Lào Cai): four villages on four zones, the lower two also a group.
const zones = ['zone-1', 'zone-2', 'zone-3', 'zone-4'];
const area: AlertAreaConfig = AlertAreaConfigSchema.parse({
  commune: '02992',
  containedIn: ['082', '10'],
  codes: { '0299201': ['zone-1'], '0299202': ['zone-2'], '0299203': ['lower'], '292': ['zone-4'] },
  groups: { lower: ['zone-3', 'zone-4'] },
  zones: {
    'zone-1': { point: [22.3000, 103.9000] },
    'zone-2': { point: [22.3100, 103.9200] },
    'zone-3': { point: [22.2800, 103.9400] },
    // zone-4 is an area: a 0.02° square around (22.26, 103.96).
    'zone-4': { polygon: [[22.25, 103.95], [22.25, 103.97], [22.27, 103.97], [22.27, 103.95]] },
  },
});
const geo = (...values: string[]): AlertArea => ({ areaDesc: 'x', polygons: [], circles: [], geocodes: values.map((value) => ({ valueName: 'VN-ADMIN', value })) });
const shape = (polygons: string[], circles: string[] = []): AlertArea => ({ areaDesc: 'x', polygons, circles, geocodes: [] });
const target = (areas: AlertArea[], parameters = capInfo().parameters, cfg: AlertAreaConfig | null = area): unknown => {
  const r = zonesForInfo(capInfo({ areas, parameters }), cfg ?? undefined, zones);
  return r.kind === 'zones' ? r.zones : r.kind;
};

t.test('geocodes are matched as exact strings: "00292" is not "292"', async (t) => {
  const rows: Array<[string[], unknown]> = [
    [['02992'], 'station'],
    [['2992'], 'none'],
    [['082'], 'station'],
    [['82'], 'none'],
    [['10'], 'station'],
    [['0299201'], ['zone-1']],
    [['0299201', '0299202'], ['zone-1', 'zone-2']],
    [['0299203'], ['zone-3', 'zone-4']],
    [['292'], ['zone-4']],
    [['00292'], 'none'],
    [[' 0299201 '], ['zone-1']],
    [['0299201', '0299202', '0299203'], 'station'],
    [['99999'], 'none'],
  ];
  for (const [codes, expected] of rows) t.same(target([geo(...codes)]), expected, codes.join(','));
  const r = zonesForInfo(capInfo({ areas: [geo('02992')] }), area, zones);
  t.match(r.reason, /geocode 02992 covers the commune/);
  t.match(zonesForInfo(capInfo({ areas: [geo('0299299')] }), area, zones).reason, 'area not this station');
});

t.test('only the configured geocode names count, when given', async (t) => {
  const named = { ...area, geocodeNames: ['VN-ADMIN'] };
  t.same(target([geo('0299201')], [], named), ['zone-1']);
  const other: AlertArea = { areaDesc: 'x', polygons: [], circles: [], geocodes: [{ valueName: 'FIPS6', value: '0299201' }] };
  t.same(target([other], [], named), 'none');
  t.same(target([other]), ['zone-1'], 'any name when not configured');
});

t.test('the province marks an alert station-wide; an info with no area is station-wide; so is a station without a map', async (t) => {
  t.same(target([geo('0299201')], [{ valueName: 'LOA_STATION_WIDE', value: 'true' }]), 'station');
  t.same(target([geo('0299201')], [{ valueName: 'LOA_STATION_WIDE', value: ' 1 ' }]), 'station');
  t.same(target([geo('0299201')], [{ valueName: 'LOA_STATION_WIDE', value: 'false' }]), ['zone-1']);
  t.same(target([geo('99999')], [{ valueName: 'LOA_STATION_WIDE', value: 'yes' }]), 'station', 'the marker is the province saying so');
  t.same(target([]), 'station');
  t.same(target([geo('99999')], [], null), 'station');
});

t.test('polygons: a zone given as a point is covered when inside; a zone given as an area when they overlap', async (t) => {
  // A box around zone-1 and zone-2 only (CAP: lat,lon pairs, first = last).
  const box12 = '22.29,103.89 22.29,103.93 22.32,103.93 22.32,103.89 22.29,103.89';
  t.same(target([shape([box12])]), ['zone-1', 'zone-2']);
  // A thin horizontal strip crossing zone-4's square with no vertex inside it and none of its vertices inside the strip.
  const strip = '22.259,103.90 22.259,104.00 22.261,104.00 22.261,103.90 22.259,103.90';
  t.same(target([shape([strip])]), ['zone-4']);
  // A polygon far away.
  t.same(target([shape(['21.0,105.8 21.0,105.9 21.1,105.9 21.0,105.8'])]), 'none');
  // A polygon around everything.
  t.same(target([shape(['22.0,103.5 22.0,104.5 22.5,104.5 22.5,103.5 22.0,103.5'])]), 'station');
  const r = zonesForInfo(capInfo({ areas: [shape([box12])] }), area, zones);
  t.match(r.reason, /polygon 1 covers zone-1/);
});

t.test('circles: by great-circle distance, radius in km', async (t) => {
  const km = haversineKm([22.3, 103.9], [22.31, 103.92]);
  t.ok(km > 2.3 && km < 2.4, `zone-1 to zone-2 is ${km.toFixed(3)} km`);
  t.same(target([shape([], [`22.3,103.9 ${(km - 0.01).toFixed(3)}`])]), ['zone-1']);
  t.same(target([shape([], [`22.3,103.9 ${(km + 0.01).toFixed(3)}`])]), ['zone-1', 'zone-2']);
  // A circle touching zone-4's square only at its edge: centre 1 km south of the square.
  const south = 22.25 - 1 / 111.195;
  t.same(target([shape([], [`${south},103.96 0.9`])]), 'none');
  t.same(target([shape([], [`${south},103.96 1.1`])]), ['zone-4']);
  t.same(target([shape([], ['22.26,103.96 0.1'])]), ['zone-4'], 'centre inside the zone');
  t.same(target([shape([], ['22.3,103.9 0'])]), ['zone-1'], 'radius 0 at the point itself');
});

t.test('malformed shapes cover nothing rather than everything', async (t) => {
  for (const p of ['', '22.3,103.9', '22.3,103.9 22.4,103.9 22.3,103.9', '22.3;103.9 1,2 3,4 22.3;103.9', '91,0 0,0 0,1 91,0', 'a,b c,d e,f a,b']) {
    t.equal(parseCapPolygon(p), null, JSON.stringify(p));
    t.same(target([shape([p])]), 'none');
  }
  for (const c of ['', '22.3,103.9', '22.3,103.9 -1', '22.3,103.9 x', '22.3,103.9 1 2', '22.3 1']) {
    t.equal(parseCapCircle(c), null, JSON.stringify(c));
    t.same(target([shape([], [c])]), 'none');
  }
  t.same(parseCapCircle(' 22.3,103.9  2.5 '), { centre: [22.3, 103.9], radiusKm: 2.5 });
});

t.test('geometry primitives', async (t) => {
  const sq: Array<[number, number]> = [[0, 0], [0, 1], [1, 1], [1, 0]];
  t.ok(pointInPolygon([0.5, 0.5], sq));
  t.notOk(pointInPolygon([1.5, 0.5], sq));
  t.notOk(pointInPolygon([0.5, -0.1], sq));
  t.ok(polygonsOverlap(sq, [[0.5, 0.5], [0.5, 2], [2, 2]]), 'a vertex inside');
  t.ok(polygonsOverlap(sq, [[-1, 0.4], [-1, 0.6], [2, 0.6], [2, 0.4]]), 'crossing, no vertex inside either');
  t.notOk(polygonsOverlap(sq, [[2, 2], [2, 3], [3, 3]]));
  t.ok(Math.abs(haversineKm([0, 105], [1, 105]) - 111.195) < 0.001, 'one degree of a meridian is 111.195 km');
  t.ok(Math.abs(haversineKm([21.0285, 105.8542], [10.7769, 106.7009]) - 1143.5) < 1, 'Hà Nội to Thành phố Hồ Chí Minh ≈ 1143.5 km');
});

t.test('several info blocks and areas: the union of their zones', async (t) => {
  const r = zonesForInfos([capInfo({ areas: [geo('0299201')] }), capInfo({ areas: [geo('0299202')] })], area, zones);
  t.same(r.kind === 'zones' && r.zones, ['zone-1', 'zone-2']);
  t.equal(zonesForInfos([capInfo({ areas: [geo('0299201')] }), capInfo({ areas: [] })], area, zones).kind, 'station');
  t.equal(zonesForInfos([capInfo({ areas: [geo('1')] })], area, zones).kind, 'none');
  t.same(target([geo('0299201'), shape(['22.275,103.935 22.275,103.945 22.29,103.945 22.29,103.935 22.275,103.935'])]), ['zone-1', 'zone-3']);
});

t.test('zones the station does not have are not driven', async (t) => {
  const stale = AlertAreaConfigSchema.parse({ codes: { '0299205': ['zone-9'], '0299206': ['zone-9', 'zone-1'] } });
  const r = zonesForInfo(capInfo({ areas: [geo('0299205')] }), stale, zones);
  t.equal(r.kind, 'none');
  t.match(r.reason, /zones this station does not have: zone-9/);
  t.same(target([geo('0299206')], [], stale), ['zone-1']);
  t.same(checkAlertAreaNames(stale, zones), ['alerts.area.codes.0299205: no zone or group named "zone-9"', 'alerts.area.codes.0299206: no zone or group named "zone-9"']);
  t.same(checkAlertAreaNames(area, zones), []);
  const bad = AlertAreaConfigSchema.parse({ groups: { 'zone-1': ['zone-2'], g: ['zone-7'] }, zones: { 'zone-8': { point: [0, 0] } } });
  t.same(checkAlertAreaNames(bad, zones), [
    'alerts.area.groups: "zone-1" is already a zone name',
    'alerts.area.groups.g: no zone named "zone-7"',
    'alerts.area.zones: no zone named "zone-8"',
  ]);
});

t.test('the configuration keeps codes as strings and says what is wrong', async (t) => {
  t.throws(() => AlertAreaConfigSchema.parse({ commune: 2992 }), /expected string/);
  t.throws(() => AlertAreaConfigSchema.parse({ commune: '02 992' }), /codes are strings/);
  t.throws(() => AlertAreaConfigSchema.parse({ zones: { 'zone-1': {} } }), /give point or polygon/);
  t.throws(() => AlertAreaConfigSchema.parse({ zones: { 'zone-1': { point: [95, 0] } } }));
  t.throws(() => AlertAreaConfigSchema.parse({ comune: '02992' }), /did you mean \W+commune/);
  const cfg = AlertsConfigSchema.parse({ languages: ['vi', 'hmn'], area: { commune: '02992' } });
  // The lifecycle's own fields (the alerts section has more, for the adapters).
  t.match(cfg, { exercise: 'monitor', defaultLifetimeMinutes: 1440, languages: ['vi', 'hmn'], prerecorded: [], chime: true });
  t.same(cfg.area, { commune: '02992', containedIn: [], codes: {}, groups: {}, zones: {} });
  t.equal(cfg.repeatMinutes, undefined);
  t.throws(() => AlertsConfigSchema.parse({ languages: ['hmn', 'vi'] }), /Vietnamese \W+vi\W+ comes first/);
  t.throws(() => AlertsConfigSchema.parse({ exercise: 'yes' }));
  t.throws(() => AlertsConfigSchema.parse({ prerecorded: [{ valueName: 'VN-EVENT', value: 'LU', content: 'abc' }] }), /SHA-256/);
});
