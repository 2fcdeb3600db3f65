import t from 'tap';
import Database from 'better-sqlite3';
import { migrate, type Db } from '../src/store/database.js';
import { groupCmdTopic, parseTopic, stationTopics, TIME_TOPIC } from '../src/sync/topics.js';
import { generateProvinceKeys, keyId, keyRing, loadPublicKey, openEnvelope, rawPublicKey, signPayload } from '../src/sync/signing.js';
import { CommandLog, ProvinceClock, ReplayGuard, decideCommand, type CommandContext } from '../src/sync/guard.js';
import { Outbox } from '../src/sync/outbox.js';
import { assembleTarget } from '../src/sync/target.js';
import { outboxMessage, type Command, type TimeBeacon } from '../src/sync/protocol.js';
import { buildTarget } from '../../province/src/target-builder.js';
import type { Programme } from '../src/domain/types.js';

function db(): Db {
  const d = new Database(':memory:');
  migrate(d);
  return d;
}

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function programme(id: string, content = SHA_A, zones = ['zone-1']): Programme {
  return { id, name: `Programme ${id}`, priority: 0, recurrence: { kind: 'daily', time: '06:00' }, items: [{ content, repeat: 1, gapMs: 0 }], zones, volume: 80 };
}

t.test('topics: one flat namespace per station, groups apart, nothing else parses', async (t) => {
  const s = stationTopics('hn-001');
  t.equal(s.target, 'loa/v1/station/hn-001/target');
  t.equal(s.targetPart('programmes-0'), 'loa/v1/station/hn-001/target/part/programmes-0');
  t.equal(groupCmdTopic('province-hn'), 'loa/v1/group/province-hn/cmd');
  t.same(parseTopic(s.targetPart('zones')), { kind: 'target-part', station: 'hn-001', part: 'zones' });
  t.same(parseTopic(s.out('play')), { kind: 'out', station: 'hn-001', stream: 'play' });
  t.same(parseTopic(groupCmdTopic('c1')), { kind: 'group-cmd', group: 'c1' });
  t.same(parseTopic(TIME_TOPIC), { kind: 'time' });
  for (const bad of ['loa/v1/station/x/other', 'loa/v2/station/x/cmd', 'loa/v1/station//cmd', 'loa/v1/group/g/cmd/extra', 'x']) {
    t.equal(parseTopic(bad), undefined, bad);
  }
  t.throws(() => stationTopics('a/b'), /cannot be used in a topic/);
  t.throws(() => groupCmdTopic('#'), /cannot be used in a topic/);
});

t.test('signing: a pinned key verifies; tampering, other keys and junk are refused with a reason', async (t) => {
  const k = generateProvinceKeys();
  const ring = keyRing([loadPublicKey(k.publicPem)]);
  const beacon: TimeBeacon = { type: 'time', seq: 5, issuedMs: 1000 };
  const env = signPayload(k.privateKey, beacon);
  const ok = openEnvelope(env, ring);
  t.ok(ok.ok);
  if (ok.ok) t.same(ok.payload, beacon);

  // The raw base64 form of the same key is accepted too.
  t.equal(keyId(loadPublicKey(rawPublicKey(k.publicKey).toString('base64'))), keyId(k.publicKey));

  const tampered = JSON.parse(env) as { p: string };
  tampered.p = tampered.p.replace('"seq":5', '"seq":6');
  t.match(openEnvelope(JSON.stringify(tampered), ring), { ok: false, reason: 'bad-signature' });

  const other = generateProvinceKeys();
  t.match(openEnvelope(signPayload(other.privateKey, beacon), ring), { ok: false, reason: 'unknown-key' });
  t.match(openEnvelope('{"hello":1}', ring), { ok: false, reason: 'malformed' });
  t.match(openEnvelope('not json', ring), { ok: false, reason: 'malformed' });
  t.match(openEnvelope(signPayload(k.privateKey, { type: 'time', seq: -1 }), ring), { ok: false, reason: 'invalid' });
  t.throws(() => loadPublicKey(Buffer.alloc(16).toString('base64')), /32 bytes/);
});

t.test('replay guard: fresh above the high-water mark, once within the window, never below it; survives reopening', async (t) => {
  const d = db();
  const g = new ReplayGuard(d, 10);
  t.equal(g.check('cmd', 100), 'fresh');
  g.accept('cmd', 100);
  t.equal(g.check('cmd', 100), 'seen');
  t.equal(g.check('cmd', 95), 'fresh', 'out of order within the window');
  g.accept('cmd', 95);
  t.equal(g.check('cmd', 95), 'seen');
  t.equal(g.check('cmd', 90), 'too-old');
  t.equal(g.check('target', 100), 'fresh', 'streams are separate');
  t.equal(new ReplayGuard(d, 10).check('cmd', 100), 'seen', 'persisted');
});

t.test('province clock: a lower bound from verified issue times plus monotonic time, persisted', async (t) => {
  const d = db();
  let mono = 0;
  const c = new ProvinceClock(d, () => mono);
  t.equal(c.lowerBound(), 0);
  c.observe(1_000_000);
  mono = 5000;
  t.equal(c.lowerBound(), 1_005_000);
  c.observe(900_000);
  t.equal(c.lowerBound(), 1_005_000, 'an older issue time never lowers it');
  const again = new ProvinceClock(d, () => 0);
  t.equal(again.lowerBound(), 1_000_000, 'after a reboot: the last issue time seen');
});

t.test('commands: redirected, duplicate, replayed and expired commands never run', async (t) => {
  const cmd: Command = {
    type: 'command',
    id: 'c1',
    seq: 10,
    issuedMs: 1_000_000,
    ttlMs: 60_000,
    to: { group: 'commune-7' },
    command: { action: 'stop' },
  };
  const base: CommandContext = {
    stationId: 's1',
    groups: ['commune-7'],
    arrivedOn: { group: 'commune-7' },
    seqVerdict: 'fresh',
    previous: undefined,
    provinceNowMs: 1_000_500,
    trustedWallMs: undefined,
    provenWallMs: undefined,
  };
  t.same(decideCommand(cmd, base), { action: 'run' });
  t.match(decideCommand(cmd, { ...base, arrivedOn: { station: 's1' } }), { action: 'ignore' }, 'group command moved to a station topic');
  t.match(decideCommand(cmd, { ...base, groups: ['other'] }), { action: 'ignore' });
  const response = { id: 'c1', station: 's1', status: 'done' as const, atMs: 1 };
  t.same(decideCommand(cmd, { ...base, previous: { id: 'c1', seq: 10, status: 'done', response } }), { action: 'repeat-answer', response });
  t.match(decideCommand(cmd, { ...base, seqVerdict: 'seen' }), { action: 'reject', reason: /replayed/ });
  t.match(decideCommand(cmd, { ...base, provinceNowMs: 1_061_000 }), { action: 'reject', reason: /expired/ }, 'proved stale by the province clock');
  t.match(decideCommand(cmd, { ...base, provinceNowMs: 0, trustedWallMs: 5_000_000 }), { action: 'reject', reason: /expired/ }, 'by a trusted station clock');
  t.same(decideCommand(cmd, { ...base, provinceNowMs: 0 }), { action: 'run' }, 'no proof of staleness: runs');

  const d = db();
  const log = new CommandLog(d, 2);
  for (const [i, id] of ['a', 'b', 'c'].entries()) log.record({ id, seq: i + 1 }, { ...response, id }, i);
  log.prune();
  t.equal(log.get('a'), undefined, 'bounded: the oldest is forgotten (the replay guard still refuses it)');
  t.equal(log.get('c')?.response.id, 'c');
});

t.test('outbox: bounded with an explicit drop order, counts kept, ids unique, health coalesced', async (t) => {
  const d = db();
  const o = new Outbox(d, { maxRows: 100, maxBytes: 1_000_000 }, () => 42);
  o.putHealth({ n: 1 });
  o.putHealth({ n: 2 });
  t.equal(o.depth(), 1, 'one pending health report');
  for (let i = 0; i < 60; i++) o.add('play', { i }, `play-${i}`);
  o.add('play', { dup: true }, 'play-0');
  t.equal(o.depth(), 61, 'an id already queued is not queued twice');
  for (let i = 0; i < 60; i++) o.add('event', { i });
  t.ok(o.depth() <= 100);
  const dropped = o.dropped();
  t.equal(dropped.health, 1, 'health goes first');
  t.ok((dropped.event ?? 0) > 0, 'then events');
  t.equal(dropped.play, undefined, 'play log kept while anything else can go');
  for (let i = 60; i < 200; i++) o.add('play', { i }, `play-${i}`);
  t.ok((o.dropped().play ?? 0) > 0, 'play log goes last');
  const rows = o.next(1000);
  t.ok(rows.every((r, i) => i === 0 || r.seq > rows[i - 1]!.seq), 'oldest first');
  t.equal(rows.at(-1)!.id, 'play-199', 'the newest survive');
  o.delete(rows[0]!.seq);
  t.equal(o.depth(), rows.length - 1);
  const taken = o.takeDropped();
  t.ok(taken.play);
  t.same(o.dropped(), {}, 'drop counts are reported once');

  const bytes = new Outbox(db(), { maxRows: 1000, maxBytes: 70_000 });
  for (let i = 0; i < 20; i++) bytes.add('play', { pad: 'x'.repeat(10_000) });
  t.ok(bytes.depth() <= 7, 'the byte bound holds too');
});

t.test('targets: assembled from parts pinned by the signed head, validated whole', async (t) => {
  const k = generateProvinceKeys();
  const content = [
    { sha256: SHA_A, name: 'a.mp3', bytes: 10, url: 'http://127.0.0.1/a' },
    { sha256: SHA_B, name: 'b.mp3', bytes: 10, url: 'http://127.0.0.1/b' },
  ];
  const many = Array.from({ length: 120 }, (_, i) => programme(`p${i}`, i % 2 ? SHA_A : SHA_B));
  const built = buildTarget(
    { station: 's1', version: 7, issuedMs: 1, programmes: many, content, zones: [{ name: 'zone-1', volume: 70, enabled: true }], settings: { volume: 90 } },
    k.privateKey,
    8 * 1024,
  );
  t.ok(built.parts.filter((p) => p.name.startsWith('programmes-')).length > 1, 'split into several parts');
  t.ok(built.parts.every((p) => p.payload.length <= 8 * 1024), 'no part over the limit');
  const parts = new Map(built.parts.map((p) => [p.name, Buffer.from(p.payload)]));
  const zones = ['zone-1', 'zone-2'];
  const r = assembleTarget(built.head, parts, zones);
  t.equal(r.state, 'complete');
  if (r.state === 'complete') {
    t.equal(r.target.programmes.length, 120);
    t.same(r.target.settings, { volume: 90 });
  }

  const partial = new Map(parts);
  partial.delete('zones');
  t.same(assembleTarget(built.head, partial, zones), { state: 'incomplete', missing: ['zones'] });
  const swapped = new Map(parts);
  swapped.set('settings', Buffer.from(JSON.stringify({ kind: 'settings', version: 7, settings: { volume: 10 } })));
  t.same(assembleTarget(built.head, swapped, zones), { state: 'incomplete', missing: ['settings'] }, 'a part whose hash the head does not pin is not used');

  const bad = buildTarget(
    {
      station: 's1',
      version: 8,
      issuedMs: 1,
      programmes: [programme('x', 'c'.repeat(64)), programme('y', SHA_A, ['attic']), programme('x')],
      content,
      zones: [{ name: 'nowhere', volume: 5, enabled: true }],
    },
    k.privateKey,
  );
  const rb = assembleTarget(bad.head, new Map(bad.parts.map((p) => [p.name, Buffer.from(p.payload)])), zones);
  t.equal(rb.state, 'invalid');
  if (rb.state === 'invalid') t.match(rb.errors.join('\n'), /appears twice/);

  const bad2 = buildTarget({ station: 's1', version: 9, issuedMs: 1, programmes: [programme('x', 'c'.repeat(64)), programme('y', SHA_A, ['attic'])], content, zones: [{ name: 'nowhere', volume: 5, enabled: true }] }, k.privateKey);
  const rb2 = assembleTarget(bad2.head, new Map(bad2.parts.map((p) => [p.name, Buffer.from(p.payload)])), zones);
  t.equal(rb2.state, 'invalid');
  if (rb2.state === 'invalid') {
    t.match(rb2.errors.join('\n'), /not in the content manifest/);
    t.match(rb2.errors.join('\n'), /zone "attic" does not exist/);
    t.match(rb2.errors.join('\n'), /zones: zone "nowhere"/);
  }

  const wrongVersion = { ...built.head, version: 99 };
  const rw = assembleTarget(wrongVersion, parts, zones);
  t.equal(rw.state, 'invalid', 'parts of another version are refused');
});

t.test('targets: the board part, and each content entry used as the kind it is', async (t) => {
  const k = generateProvinceKeys();
  const SHA_IMG = 'c'.repeat(64);
  const content = [
    { sha256: SHA_A, name: 'a.mp3', bytes: 10, url: 'http://127.0.0.1/a' },
    { sha256: SHA_IMG, kind: 'image' as const, name: 'map.png', bytes: 10, url: 'http://127.0.0.1/map' },
  ];
  const board = {
    playlists: [{ id: 'sang', dayparts: [{ from: '06:00', to: '09:00' }], items: [{ kind: 'image' as const, id: 'map', durationS: 20, content: SHA_IMG }] }],
    defaultPlaylist: { id: 'd', items: [{ kind: 'notice' as const, id: 'n', durationS: 30, title: 'Lịch tiêm chủng', body: 'Thứ Bảy tại trạm y tế xã' }] },
  };
  const assemble = (spec: Parameters<typeof buildTarget>[0]) => {
    const b = buildTarget(spec, k.privateKey);
    return assembleTarget(b.head, new Map(b.parts.map((p) => [p.name, Buffer.from(p.payload)])), ['zone-1']);
  };
  const ok = assemble({ station: 's1', version: 1, issuedMs: 1, programmes: [programme('p')], content, board });
  t.equal(ok.state, 'complete');
  if (ok.state === 'complete') {
    t.equal(ok.target.board?.playlists[0]?.items[0]?.id, 'map');
    t.equal(ok.target.content.find((c) => c.sha256 === SHA_A)?.kind, 'audio', 'kind defaults to audio');
  }
  const none = assemble({ station: 's1', version: 2, issuedMs: 1, programmes: [], content: [] });
  t.equal(none.state === 'complete' && none.target.board, null, 'no board part: the board keeps its built-in clock');

  const bad = assemble({
    station: 's1', version: 3, issuedMs: 1, programmes: [programme('p', SHA_IMG)], content,
    board: { defaultPlaylist: { id: 'd', items: [
      { kind: 'video', id: 'v', durationS: 10, content: SHA_A },
      { kind: 'image', id: 'gone', durationS: 10, content: 'd'.repeat(64) },
    ] } },
  });
  t.equal(bad.state, 'invalid');
  if (bad.state === 'invalid') {
    t.match(bad.errors.join('\n'), /programme p: item 0: content c+ is image, not audio/);
    t.match(bad.errors.join('\n'), /board playlist d: item v: content a+ is audio, not video/);
    t.match(bad.errors.join('\n'), /board playlist d: item gone: content d+ is not in the content manifest/);
  }
});

t.test('outbox: proof of display (board.shown) outlives other events and answers, goes before the play log', async (t) => {
  const o = new Outbox(db(), { maxRows: 100, maxBytes: 1_000_000 }, () => 42);
  const shown = (i: number): unknown => outboxMessage('s1', 'event', { event: 'board.shown', level: 'info', message: 'board text x: completed', data: { i } }, `shown-${i}`, 42);
  for (let i = 0; i < 40; i++) o.add('event', shown(i), `shown-${i}`);
  for (let i = 0; i < 30; i++) o.add('play', { i }, `play-${i}`);
  for (let i = 0; i < 20; i++) o.add('response', { i });
  for (let i = 0; i < 40; i++) o.add('event', outboxMessage('s1', 'event', { event: 'input', level: 'info', message: 'x' }, `ev-${i}`, 42), `ev-${i}`);
  const d1 = o.dropped();
  t.ok((d1.event ?? 0) > 0, 'other events dropped first');
  t.equal(d1.proof, undefined, 'no showing dropped while other events remain');
  t.equal(o.next(1000).filter((r) => r.id.startsWith('shown-')).length, 40);
  for (let i = 30; i < 90; i++) o.add('play', { i }, `play-${i}`);
  const d2 = o.dropped();
  t.ok((d2.proof ?? 0) > 0, 'showings go once events and answers are gone');
  t.equal(d2.play, undefined, 'the play log goes last');
  t.equal(o.next(1000).filter((r) => r.id.startsWith('play-')).length, 90);
  t.equal(o.next(1000).filter((r) => !r.id.startsWith('play-') && !r.id.startsWith('shown-')).length, 0, 'nothing else left');
});
