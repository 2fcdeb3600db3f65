/**
 * Live items in programmes, targets and province commands, as data: what
 * validates, what is refused and why. The schemas are the station's only
 * gate before a URL reaches ffmpeg.
 */
import t from 'tap';
import { ProgrammeSchema, ScheduleDocumentSchema, describeIssues } from '../src/domain/schemas.js';
import { CommandSchema } from '../src/sync/protocol.js';
import { assembleTarget } from '../src/sync/target.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { buildTarget } from '../../province/src/target-builder.js';
import { itemContents, type Programme } from '../src/domain/types.js';

const SHA_A = 'a'.repeat(64);
const SHA_F = 'f'.repeat(64);

const relay = (live: Record<string, unknown>): unknown => ({
  id: 'vov1-morning',
  name: 'Tiếp sóng VOV1',
  recurrence: { kind: 'daily', time: '06:00' },
  items: [{ live }],
  zones: ['zone-1'],
});
const VOV1 = {
  label: 'VOV1',
  display: 'Đang tiếp sóng VOV1',
  durationMs: 1_800_000,
  sources: [
    { id: 'vov1', kind: 'http', url: 'http://stream.vov.example:8000/vov1.mp3' },
    { id: 'vov1-hls', kind: 'hls', url: 'https://hls.vov.example/vov1/index.m3u8' },
    { id: 'tinh', kind: 'rtp', url: 'rtp://239.1.2.3:5004' },
    { id: 'fallback', kind: 'file', contents: [SHA_F] },
    { id: 'fm', kind: 'fm', fmKHz: 102_700 },
  ],
};

t.test('"Relay VOV1 06:00-06:30 on every zone" is one programme with one live item', async (t) => {
  const r = ProgrammeSchema.safeParse(relay(VOV1));
  t.ok(r.success, r.success ? 'valid' : describeIssues(r.error).join('; '));
  if (!r.success) return;
  t.equal(r.data.items.length, 1);
  t.same(itemContents(r.data.items[0]!), [SHA_F], 'its fallback file is content the cache must hold');
});

t.test('existing schedules keep validating: a file item is unchanged', async (t) => {
  const doc = { programmes: [{ id: 'm', name: 'Morning', recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: SHA_A }], zones: ['zone-1'] }] };
  const r = ScheduleDocumentSchema.safeParse(doc);
  t.ok(r.success);
  if (r.success) t.same(r.data.programmes[0]!.items[0], { content: SHA_A, repeat: 1, gapMs: 0 }, 'defaults as before');
});

t.test('hostile or mistaken live items are refused, naming the field', async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a local file as a stream', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: 'file:///etc/passwd' }] }, /sources\.0\.url: use an http/],
    ['an ffmpeg protocol chain', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: 'concat:http://a|http://b' }] }, /sources\.0\.url/],
    ['a subfile trick in an http URL', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: 'http://a/b|subfile' }] }, /sources\.0\.url/],
    ['whitespace in a URL', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: 'http://a/b c' }] }, /sources\.0\.url/],
    ['an http URL as RTP', { ...VOV1, sources: [{ id: 'x', kind: 'rtp', url: 'http://a/b' }] }, /sources\.0\.url: use an rtp/],
    ['an overlong URL', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: `http://a/${'x'.repeat(2000)}` }] }, /sources\.0\.url/],
    ['a URL on a file source', { ...VOV1, sources: [{ id: 'x', kind: 'file', contents: [SHA_F], url: 'http://a' }] }, /unknown key "url"/],
    ['no source', { ...VOV1, sources: [] }, /sources/],
    ['nine sources', { ...VOV1, sources: Array.from({ length: 9 }, (_, i) => ({ id: `s${i}`, kind: 'http', url: 'http://a/b' })) }, /sources/],
    ['two sources with one id', { ...VOV1, sources: [{ id: 'x', kind: 'http', url: 'http://a/b' }, { id: 'x', kind: 'hls', url: 'http://a/c.m3u8' }] }, /sources\.1\.id: source id "x" appears twice/],
    ['both a duration and an end', { ...VOV1, untilTime: '06:30' }, /durationMs: give either durationMs or untilTime/],
    ['neither a duration nor an end', { ...VOV1, durationMs: undefined }, /durationMs: give either/],
    ['a day-long relay', { ...VOV1, durationMs: 24 * 3_600_000 }, /durationMs/],
    ['an FM frequency out of band', { ...VOV1, sources: [{ id: 'fm', kind: 'fm', fmKHz: 150_000 }] }, /fmKHz/],
  ];
  for (const [what, live, message] of cases) {
    const r = ProgrammeSchema.safeParse(relay(live));
    t.notOk(r.success, `${what}: refused`);
    if (!r.success) t.match(describeIssues(r.error).join('\n'), message, `${what}: says why`);
  }
});

t.test('a target: a live item\'s fallback file must be in the content manifest', async (t) => {
  const k = generateProvinceKeys();
  const programme = ProgrammeSchema.parse(relay(VOV1)) as Programme;
  const zones = [{ name: 'zone-1', volume: 100, enabled: true }];
  const without = buildTarget({ station: 's1', version: 1, issuedMs: 1, programmes: [programme], content: [], zones }, k.privateKey);
  const r1 = assembleTarget(without.head, new Map(without.parts.map((p) => [p.name, Buffer.from(p.payload)])), ['zone-1']);
  t.equal(r1.state, 'invalid');
  if (r1.state === 'invalid') t.match(r1.errors.join('\n'), new RegExp(`item 0: content ${SHA_F} is not in the content manifest`));
  const content = [{ sha256: SHA_F, name: 'fallback.mp3', bytes: 10, url: 'http://127.0.0.1/f' }];
  const withFile = buildTarget({ station: 's1', version: 2, issuedMs: 1, programmes: [programme], content, zones }, k.privateKey);
  const r2 = assembleTarget(withFile.head, new Map(withFile.parts.map((p) => [p.name, Buffer.from(p.payload)])), ['zone-1']);
  t.equal(r2.state, 'complete');
  if (r2.state === 'complete') t.same(r2.target.programmes[0]!.items[0], programme.items[0], 'the live item arrives as signed');
});

t.test('a province live command: sources bounded like a programme\'s, duration optional', async (t) => {
  const cmd = (command: Record<string, unknown>): unknown => ({ type: 'command', id: 'live-1', seq: 1, issuedMs: 1, ttlMs: 60_000, to: { group: 'district-1' }, command });
  const ok = CommandSchema.safeParse(cmd({ action: 'live', sources: VOV1.sources, priority: 5, label: 'Đài tỉnh', display: 'Đang tiếp sóng Đài tỉnh' }));
  t.ok(ok.success, ok.success ? 'valid without a duration (until stop)' : describeIssues(ok.error).join('; '));
  const bad = CommandSchema.safeParse(cmd({ action: 'live', sources: [{ id: 'x', kind: 'http', url: 'javascript:alert(1)' }], priority: 5 }));
  t.notOk(bad.success, 'a non-audio scheme refused');
  const long = CommandSchema.safeParse(cmd({ action: 'live', sources: VOV1.sources, priority: 5, durationMs: 13 * 3_600_000 }));
  t.notOk(long.success, 'longer than the longest live item refused');
});
