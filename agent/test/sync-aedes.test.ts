import t from 'tap';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { stationTopics, groupCmdTopic } from '../src/sync/topics.js';
import { readAppliedTarget } from '../src/sync/station-port.js';
import type { Programme } from '../src/domain/types.js';
import { makeContent, makeStation, programme, programmeIds, tempDir, until, waitEvent, type TestStation } from './sync-fixture.js';

// The main flows against the embedded broker (aedes, MQTT 3.1.1): real sync
// code, real SQLite, real HTTP downloads; only the station hardware is simulated.

const keys = generateProvinceKeys();
const files = tempDir('aedes-content');
const clips = makeContent(files, 4);

t.test('aedes', async (t) => {
  const broker = await EmbeddedBroker.start();
  const content = new ContentServer();
  await content.listen();
  const entries = clips.map((c) => content.add(c));
  const [a, b, c, d] = entries as [typeof entries[0], typeof entries[0], typeof entries[0], typeof entries[0]];
  const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
  await province.connect();
  await province.beacon();
  const stationConfig = { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 as const, groups: ['commune-7', 'province-hn'] };
  const s1 = makeStation({ id: 'st-1', config: stationConfig });
  const s2 = makeStation({ id: 'st-2', config: { ...stationConfig, groups: ['commune-8', 'province-hn'] } });
  const stations: TestStation[] = [s1, s2];
  t.teardown(async () => {
    for (const s of stations) await s.stop();
    await province.close();
    await content.close();
    await broker.close();
  });
  await until(() => province.stations.get('st-1')?.status?.state === 'online' && province.stations.get('st-2')?.status?.state === 'online', 20_000, 'both births');

  let v1 = 0;
  await t.test('a target is downloaded, checked and applied in one step; reports follow', async (t) => {
    const applied = waitEvent(s1.client, 'applied');
    v1 = await province.publishTarget({
      station: 'st-1',
      programmes: [programme('morning', a.sha256), programme('evening', b.sha256, ['zone-1', 'zone-2'])],
      content: [a, b],
      zones: [{ name: 'zone-1', volume: 70, enabled: true }],
      settings: { volume: 90 },
    });
    t.equal(await applied, v1);
    t.same(programmeIds(s1.db), ['evening', 'morning']);
    t.equal(readAppliedTarget(s1.db)?.version, v1);
    t.ok(s1.sim.contentCache.has(a.sha256) && s1.sim.contentCache.has(b.sha256), 'content in the cache');
    t.equal(s1.sim.activated.length, 1, 'the scheduler was told once');
    t.same(readdirSync(join(s1.dir, 'downloads')), [], 'no partial files left');
    const reported = await province.waitFor(() => (province.stations.get('st-1')?.reported?.applied === v1 ? province.stations.get('st-1')!.reported : undefined), 10_000, 'reported state');
    t.equal(reported.pending, undefined);
    const ev = await province.waitFor(() => [...province.received.values()].find((m) => m.kind === 'event' && (m.body as { event: string }).event === 'target.applied'), 10_000, 'applied event');
    t.ok(ev);
    const birth = province.stations.get('st-1')!.status!;
    t.match(birth, { state: 'online', zones: ['zone-1', 'zone-2'], groups: ['commune-7', 'province-hn'] });
  });

  await t.test('bad, truncated and unsigned targets are refused whole; the last good one stays', async (t) => {
    const topics = stationTopics('st-1');
    const rejected = waitEvent<{ state: string; errors: string[] }>(s1.client, 'pending', (p) => p.state === 'rejected');
    const bad = await province.publishTarget({ station: 'st-1', programmes: [programme('x', c.sha256, ['attic'])], content: [] });
    const p = await rejected;
    t.match(p.errors.join('\n'), /not in the content manifest/);
    t.match(p.errors.join('\n'), /zone "attic" does not exist/);
    const reported = await province.waitFor(() => province.stations.get('st-1')?.reported?.pending?.version === bad ? province.stations.get('st-1')!.reported : undefined, 10_000, 'rejection reported');
    t.equal(reported.applied, v1, 'still on the last good version');
    t.equal(reported.pending?.state, 'rejected');

    const before = s1.client.status().refused;
    const envelope = signPayload(keys.privateKey, { type: 'target', station: 'st-1', version: province.nextSeq(), issuedMs: Date.now(), parts: [{ name: 'p', sha256: a.sha256, bytes: 10 }] });
    await province.publishRaw(topics.target, envelope.slice(0, envelope.length / 2), true);
    await province.publishRaw(topics.target, JSON.stringify({ type: 'target', station: 'st-1', version: province.nextSeq(), issuedMs: 1, parts: [] }), true);
    const forger = generateProvinceKeys();
    await province.publishRaw(topics.target, signPayload(forger.privateKey, { type: 'target', station: 'st-1', version: province.nextSeq(), issuedMs: 1, parts: [{ name: 'p', sha256: a.sha256, bytes: 10 }] }), true);
    await until(() => (s1.client.status().refused['unknown-key'] ?? 0) > (before['unknown-key'] ?? 0), 10_000, 'forged head refused');
    const after = s1.client.status().refused;
    t.equal((after.malformed ?? 0) - (before.malformed ?? 0), 2, 'truncated and unsigned heads refused as malformed');
    t.equal(readAppliedTarget(s1.db)?.version, v1);
    t.same(programmeIds(s1.db), ['evening', 'morning']);
  });

  await t.test('a target from a newer province with an unknown key is refused whole, the key named, and the province told', async (t) => {
    const rejected = waitEvent<{ state: string; errors: string[] }>(s1.client, 'pending', (p) => p.state === 'rejected');
    const daily = { ...programme('dawn', a.sha256), recurrence: { kind: 'daily', time: '05:00', weekday: [1] } } as unknown as Programme;
    const version = await province.publishTarget({ station: 'st-1', programmes: [daily], content: [a], settings: { volume: 80, nightVolume: 20 } as unknown as { volume: number } });
    const p = await rejected;
    t.match(p.errors.join('\n'), /recurrence: unknown key "weekday": did you mean "weekdays"\?/);
    t.match(p.errors.join('\n'), /settings: unknown key "nightVolume"/);
    const ev = await province.waitFor(
      () => [...province.received.values()].find((m) => m.kind === 'event' && (m.body as { event: string; data?: { version?: number } }).event === 'target.rejected' && (m.body as { data?: { version?: number } }).data?.version === version),
      10_000,
      'rejection event',
    );
    t.match(JSON.stringify(ev.body), /unknown key \\"weekday\\": did you mean \\"weekdays\\"/, 'the event names the key and the nearest known one');
    t.equal(readAppliedTarget(s1.db)?.version, v1, 'nothing of it applied');
    t.same(programmeIds(s1.db), ['evening', 'morning']);
  });

  await t.test('a content hash mismatch fails the target; the last good one stays', async (t) => {
    content.faults.corrupt = new Set([c.sha256]);
    const failed = waitEvent<{ state: string; errors: string[] }>(s1.client, 'pending', (p) => p.state === 'failed');
    await province.publishTarget({ station: 'st-1', programmes: [programme('noon', c.sha256)], content: [c] });
    const p = await failed;
    t.match(p.errors[0], /hash mismatch/);
    t.equal(readAppliedTarget(s1.db)?.version, v1);
    t.notOk(s1.sim.contentCache.has(c.sha256), 'bad bytes never reach the cache');
    content.faults.corrupt = new Set();
  });

  await t.test('an interrupted download resumes with a Range request', async (t) => {
    content.faults.cutAfterBytes = 20_000;
    content.faults.cuts = 1;
    content.requests.length = 0;
    const applied = waitEvent(s1.client, 'applied');
    const v = await province.publishTarget({ station: 'st-1', programmes: [programme('noon', c.sha256)], content: [c] });
    t.equal(await applied, v);
    const mine = content.requests.filter((r) => r.sha256 === c.sha256);
    t.ok(mine.some((r) => /^bytes=\d+-$/.test(r.range ?? '') && r.range !== 'bytes=0-'), `resumed: ${JSON.stringify(mine)}`);
    t.ok(s1.sim.contentCache.has(c.sha256));
  });

  await t.test('commands: done once, a duplicate is answered again without running, expired and replayed never run', async (t) => {
    const cmd = await province.send({ station: 'st-1' }, { action: 'play', content: a.sha256, priority: 5, repeat: 1, label: '' });
    const done = await province.waitResponse(cmd.id);
    t.equal(done.status, 'done');
    t.same(province.responses.get(cmd.id)!.map((r) => r.status), ['done'], 'a quick command gets its final answer alone');
    const slow = await province.send({ station: 'st-1' }, { action: 'relay-test', durationMs: 1500 });
    await province.waitResponse(slow.id);
    t.same(province.responses.get(slow.id)!.map((r) => r.status), ['accepted', 'done'], 'a slow one is accepted first');
    t.equal(s1.sim.playing[0]?.content, a.sha256);

    const runs = s1.sim.commands.length;
    const { cmd: again, payload } = province.signCommand({ station: 'st-1' }, { action: 'volume', volume: 30 });
    await province.publishRaw(stationTopics('st-1').cmd, payload);
    await province.publishRaw(stationTopics('st-1').cmd, payload);
    await province.waitFor(() => ((province.responses.get(again.id)?.filter((r) => r.status === 'done').length ?? 0) >= 2 ? true : undefined), 10_000, 'the answer given twice');
    t.equal(s1.sim.commands.length, runs + 1, 'ran once');

    const stale = await province.send({ station: 'st-1' }, { action: 'play', content: a.sha256, priority: 9, repeat: 1, label: '' }, { issuedMs: Date.now() - 3 * 3600_000, ttlMs: 60_000 });
    const r = await province.waitResponse(stale.id);
    t.equal(r.status, 'rejected');
    t.match(r.reason, /expired/);
    t.equal(s1.sim.commands.length, runs + 1, 'a stale play-now stays silent');

    const bad = await province.send({ station: 'st-1' }, { action: 'play', content: d.sha256, priority: 1, repeat: 1, label: '' });
    t.match(await province.waitResponse(bad.id), { status: 'rejected', reason: /not in the cache/ });

    // A signed command for st-1 published on st-2's topic is not run by either.
    const { cmd: moved, payload: movedPayload } = province.signCommand({ station: 'st-1' }, { action: 'reboot', reason: 'test' });
    const misBefore = s2.client.status().refused.misaddressed ?? 0;
    await province.publishRaw(stationTopics('st-2').cmd, movedPayload);
    await until(() => (s2.client.status().refused.misaddressed ?? 0) > misBefore, 10_000, 'redirected command refused');
    t.notOk(s2.sim.rebootRequested);
    t.equal(province.responses.get(moved.id), undefined, 'no answer to a misaddressed command');
  });

  await t.test('a group command reaches every member once', async (t) => {
    const cmd = await province.send({ group: 'province-hn' }, { action: 'stop' });
    await province.waitFor(() => (province.responses.get(cmd.id)?.filter((r) => r.status === 'done').length === 2 ? true : undefined), 10_000, 'both stations done');
    t.same(new Set(province.responses.get(cmd.id)!.filter((r) => r.status === 'done').map((r) => r.station)), new Set(['st-1', 'st-2']));
    const only7 = await province.send({ group: 'commune-7' }, { action: 'volume', volume: 55 });
    await province.waitResponse(only7.id);
    t.equal(s1.sim.volume, 55);
    t.not(s2.sim.volume, 55, 'not a member: untouched');
  });

  await t.test('broker down, then back: the outbox drains, nothing lost, nothing twice', async (t) => {
    await broker.goDown();
    await until(() => !s1.client.status().connected, 10_000, 'disconnect');
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = `offline-${i}`;
      ids.push(id);
      s1.client.send('event', { event: 'test', level: 'info', message: `while offline ${i}` }, id);
    }
    t.equal(s1.client.status().outboxDepth >= 300, true, 'kept on disk while offline');
    await broker.comeBack();
    await until(() => s1.client.status().connected, 20_000, 'reconnect');
    await until(() => ids.every((id) => province.received.has(id)), 30_000, 'all offline events delivered');
    await until(() => s1.client.status().outboxDepth === 0, 10_000, 'outbox empty');
    const got = [...province.received.values()].filter((m) => m.id.startsWith('offline-'));
    t.equal(got.length, 300, 'each exactly once at the province (duplicates dropped by id)');
    t.equal(province.stations.get('st-1')?.status?.state, 'online', 'online republished on reconnect');
  });

  await t.test('the broker restarts mid-download; the target still applies once', async (t) => {
    content.faults.delayMs = 1500;
    const downloading = waitEvent<{ state: string }>(s2.client, 'pending', (p) => p.state === 'downloading');
    const applied = waitEvent(s2.client, 'applied');
    const v = await province.publishTarget({ station: 'st-2', programmes: [programme('p', d.sha256)], content: [d] });
    await downloading;
    await broker.goDown();
    await broker.comeBack();
    t.equal(await applied, v);
    content.faults.delayMs = 0;
    // On reconnect the retained head arrives again: the station sees it is current and does nothing.
    await until(() => s2.client.status().connected, 20_000, 'reconnect');
    await until(() => province.stations.get('st-2')?.reported?.applied === v, 20_000, 'reported after restart');
    t.equal(s2.sim.activated.length, 1, 'applied exactly once');
  });

  await t.test('a file lost from the cache is fetched again on resync of the same version, without re-activating', async (t) => {
    const applied = readAppliedTarget(s1.db)!;
    const activations = s1.sim.activated.length;
    const lost = applied.content![0]!;
    unlinkSync(join(s1.sim.contentCache.dir, lost.sha256));
    t.notOk(s1.sim.contentCache.has(lost.sha256), 'gone from the cache');
    const asked = content.requests.filter((r) => r.sha256 === lost.sha256).length;
    const cmd = await province.send({ station: 'st-1' }, { action: 'resync' });
    t.equal((await province.waitResponse(cmd.id)).status, 'done');
    await until(() => s1.sim.contentCache.has(lost.sha256), 20_000, 'the lost file back in the cache');
    t.ok(content.requests.filter((r) => r.sha256 === lost.sha256).length > asked, 'downloaded again from the province');
    t.equal(readAppliedTarget(s1.db)?.version, applied.version, 'the same version stays in force');
    t.equal(s1.sim.activated.length, activations, 'nothing re-activated: the schedule is not reloaded');
  });

  await t.test('while a newer target fails, a file the target in force lost is still fetched again', async (t) => {
    const applied = readAppliedTarget(s1.db)!;
    const lost = applied.content![0]!;
    unlinkSync(join(s1.sim.contentCache.dir, lost.sha256));
    content.faults.corrupt = new Set([d.sha256]);
    const failed = waitEvent<{ state: string; errors: string[] }>(s1.client, 'pending', (p) => p.state === 'failed');
    await province.publishTarget({ station: 'st-1', programmes: [programme('late', d.sha256)], content: [d] });
    t.match((await failed).errors[0], /hash mismatch/, 'the newer target fails');
    t.ok(s1.sim.contentCache.has(lost.sha256), 'the schedule in force has its file back');
    t.equal(readAppliedTarget(s1.db)?.version, applied.version, 'and stays in force');
    content.faults.corrupt = new Set();
  });

  await t.test('a failed download is retried on a timer until it succeeds, reported once', async (t) => {
    const s4 = makeStation({ id: 'st-4', config: { ...stationConfig, download: { parallel: 2, attempts: 1, retry: { initialMs: 300, maxMs: 1200 } } } });
    stations.push(s4);
    await until(() => s4.client.status().connected, 20_000, 'st-4 connected');
    content.faults.unavailable = 4;
    const failed = waitEvent<{ state: string; errors: string[] }>(s4.client, 'pending', (p) => p.state === 'failed');
    const applied = waitEvent(s4.client, 'applied', () => true, 60_000);
    const v = await province.publishTarget({ station: 'st-4', programmes: [programme('p', a.sha256)], content: [a] });
    t.match((await failed).errors[0], /HTTP 503/);
    t.equal(await applied, v, 'applied with no new target and no command: the timer tried again');
    t.equal(content.faults.unavailable, 0, 'every 503 was met by a retry');
    t.ok(s4.sim.contentCache.has(a.sha256));
    await until(() => [...province.received.values()].some((m) => m.station === 'st-4' && (m.body as { event?: string }).event === 'target.applied'), 10_000, 'applied event');
    const failures = [...province.received.values()].filter((m) => m.station === 'st-4' && (m.body as { event?: string }).event === 'target.failed');
    t.equal(failures.length, 1, 'the same failure is reported once, not once per retry');
  });

  await t.test('the province refuses, and says so, an event without the outbox envelope', async (t) => {
    const refused = waitEvent<{ station: string; errors: string[] }>(province, 'invalid', (r) => r.station === 'st-1');
    // What the content cache once wrote straight into the outbox table: a bare event body.
    await province.publishRaw(stationTopics('st-1').out('event'), JSON.stringify({ event: 'content.problem', level: 'error', message: 'x', data: {} }));
    t.ok((await refused).errors.length > 0, 'named as invalid, with the reasons');
    const bodyRefused = waitEvent<{ station: string; errors: string[] }>(province, 'invalid', (r) => r.station === 'st-1');
    await province.publishRaw(stationTopics('st-1').out('event'), JSON.stringify({ id: 'e-1', station: 'st-1', kind: 'event', createdMs: Date.now(), body: { event: 'x', level: 'loud' } }));
    t.ok((await bodyRefused).errors.length > 0, 'an envelope with an unreadable event body is refused too');
    t.notOk(province.received.has('e-1'));
  });

  await t.test('failover: a dead broker in the list is skipped', async (t) => {
    const { freePort } = await import('../../province/src/mosquitto.js');
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const s3 = makeStation({ id: 'st-3', config: { ...stationConfig, brokers: [dead, broker.url] } });
    stations.push(s3);
    await until(() => s3.client.status().connected, 20_000, 'connected through the second broker');
    t.equal(s3.client.status().broker, broker.url);
    t.ok(s3.client.status().connectSeq >= 2, 'the dead broker was tried first');
  });

  await t.test('10,000 malformed payloads: refused, counted, and the station still works', async (t) => {
    const topics = stationTopics('st-1');
    const junk = ['', '{', 'null', '[]', '{"v":1}', '{"v":1,"k":"0000000000000000","p":"{}","s":"x"}', 'x'.repeat(300_000), '\u0000\u0001'];
    const before = Object.values(s1.client.status().refused).reduce((a, b) => a + b, 0);
    const targets = [topics.cmd, topics.target, groupCmdTopic('commune-7'), topics.targetPart('zz')];
    const pubs: Array<Promise<void>> = [];
    for (let i = 0; i < 10_000; i++) {
      pubs.push(province.publishRaw(targets[i % targets.length]!, junk[i % junk.length]! + (i % 3 === 0 ? String(i) : '')));
      if (pubs.length >= 500) await Promise.all(pubs.splice(0));
    }
    await Promise.all(pubs);
    const cmd = await province.send({ station: 'st-1' }, { action: 'relay-test', durationMs: 500 });
    t.equal((await province.waitResponse(cmd.id, undefined, 60_000)).status, 'done', 'a real command still works afterwards');
    const after = Object.values(s1.client.status().refused).reduce((a, b) => a + b, 0);
    t.ok(after - before >= 5000, `refused ${after - before} (target-part junk is only stored, empty payloads are cleared retained messages)`);
    t.equal(readAppliedTarget(s1.db)?.version !== undefined, true);
    t.ok(s1.client.status().connected);
  });
});
