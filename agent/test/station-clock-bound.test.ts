/**
 * The clock cannot be turned against alerts, against a real Mosquitto (TLS,
 * passwords, ACL) and the real agent: a signed time beacon a year ahead,
 * left retained, does not make the emergencies that follow expire, with the
 * station clock unproven and proven, across a restart; each plays at the
 * sink. A bound already poisoned (as stations before this rule could be) is
 * brought down by the signed clock-reset; a reset signed by another key, or
 * replayed, changes nothing.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { TIME_TOPIC, stationTopics } from '../src/sync/topics.js';
import type { Command, TimeBeacon } from '../src/sync/protocol.js';
import { openStore, databasePath } from '../src/store/database.js';
import { silentLogger } from '../src/lib/logger.js';
import { listenedSink, startStation, type Station } from './station-fixture.js';
import { sleep, tonesHeard, until } from './daemon-fixture.js';

const YEAR = 365 * 86_400_000;
const ID = 'clock-bound';

t.test('a signed time a year ahead cannot expire the emergencies that follow; the signed reset recovers a poisoned bound', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-clock-bound-'));
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'broker'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: ID, groups: [], password: 'pw-station' }] });
  t.teardown(() => broker.stop());
  const ca = readFileSync(broker.certs.caFile);
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  const to = { station: ID };
  const sync = { brokers: [broker.url], provinceKeys: [keys.publicPem], password: 'pw-station', tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } };

  let stationDir = mkdtempSync(join(tmpdir(), 'loa-clock-bound-station-'));
  let sinkN = 0;
  let heardPath = '';
  const start = async (trustWithoutSync: boolean): Promise<Station> => {
    heardPath = join(stationDir, `heard-${++sinkN}.raw`);
    // trustWithoutSync stands for NTP (this machine has no time service): "configured" proves the clock; without it nothing does.
    const s = await startStation({ station: { id: ID, locale: 'en' }, clock: { trustWithoutSync }, sync }, stationDir, { sink: listenedSink(heardPath).sink });
    await until('the station to connect', () => (s.agent.sync?.status().connected ? true : undefined), 20_000);
    return s;
  };
  let s: Station | null = null;
  t.teardown(async () => s?.stop());

  let freq = 500;
  /** A signed emergency issued now, through the broker: resolves with its answer, and its tone if it played at the sink. */
  const emergency = async (st: Station): Promise<{ status: string; reason?: string; heard: boolean }> => {
    const f = (freq += 200);
    const sha = await st.tone(`alert-${f}`, { seconds: 2, freq: f });
    const cmd = await province.send(to, { action: 'play', content: sha, priority: 9, repeat: 1, label: 'Lũ quét' });
    const answer = await province.waitResponse(cmd.id);
    if (answer.status !== 'done') return { status: answer.status, ...(answer.reason ? { reason: answer.reason } : {}), heard: false };
    await until(`emergency ${cmd.id} recorded`, () => st.agent.store.recentPlays(200).find((r) => r.requestId === cmd.id && r.result === 'played'), 30_000);
    await sleep(300);
    return { status: answer.status, heard: tonesHeard(heardPath, [f]).some((x) => x.freq === f && x.durationS > 1.5) };
  };
  const poisonedBeacon = async (): Promise<void> => {
    const b: TimeBeacon = { type: 'time', seq: province.nextSeq(), issuedMs: Date.now() + YEAR };
    await province.publishRaw(TIME_TOPIC, signPayload(keys.privateKey, b), true);
  };
  const bound = (st: Station): number => Number(st.agent.store.getMeta('sync.province_time'));
  const refusedFuture = (st: Station): number => st.agent.sync!.status().refused['future-dated'] ?? 0;

  await t.test('station clock not proven: the beacon waits for confirmation that never comes', async (t) => {
    await province.beacon();
    s = await start(false);
    t.notOk(s.agent.clock.trusted, 'nothing proves this station clock');
    await until('the right beacon taken', () => (bound(s!) > Date.now() - 60_000 ? true : undefined), 20_000);
    await poisonedBeacon();
    await until('the year-ahead beacon refused', () => (refusedFuture(s!) >= 1 ? true : undefined), 20_000);
    t.ok(bound(s) < Date.now() + 60_000, 'the bound did not move');
    t.match(await emergency(s), { status: 'done', heard: true }, 'an emergency issued now plays at the sink');

    // A restart: the year-ahead beacon is still retained and arrives again on the new connection.
    await s.stop();
    s = await start(false);
    await until('the retained year-ahead beacon refused again', () => (refusedFuture(s!) >= 1 ? true : undefined), 20_000);
    t.ok(bound(s) < Date.now() + 60_000, 'the bound did not move across the restart either');
    t.match(await emergency(s), { status: 'done', heard: true }, 'and an emergency plays');
    await until('the province told', () => ([...province.received.values()].some((m) => m.kind === 'event' && (m.body as { event: string }).event === 'sync.future-dated') ? true : undefined), 20_000);
    await s.stop();
    s = null;
  });

  await t.test('station clock proven: the beacon is refused as future-dated at once', async (t) => {
    stationDir = mkdtempSync(join(tmpdir(), 'loa-clock-bound-proven-'));
    s = await start(true);
    await until('the year-ahead retained beacon refused', () => (refusedFuture(s!) >= 1 ? true : undefined), 20_000);
    t.ok(!(bound(s) > Date.now() + 60_000), 'the bound did not move');
    t.match(await emergency(s), { status: 'done', heard: true });
    await s.stop();
    s = null;
  });

  await t.test('a poisoned bound comes down only by a signed, fresh clock-reset', async (t) => {
    await province.beacon(); // the retained beacon right again
    // As a station before this rule could be left: its persisted bound a year ahead.
    const o = openStore(databasePath(join(stationDir, 'state')), silentLogger());
    o.db.prepare("UPDATE meta SET value = ? WHERE key = 'sync.province_time'").run(String(Date.now() + YEAR));
    o.db.close();
    s = await start(false);
    t.match(await emergency(s), { status: 'rejected', reason: /expired/ }, 'poisoned: an emergency issued now is refused as expired');

    // Signed by a key the station does not pin, or altered after signing: refused before anything is read.
    const forgedCmd: Command = { type: 'command', id: 'reset-forged', seq: province.nextSeq(), issuedMs: Date.now(), ttlMs: 60_000, to, command: { action: 'clock-reset', lowerBoundMs: Date.now() } };
    await province.publishRaw(stationTopics(ID).cmd, signPayload(generateProvinceKeys().privateKey, forgedCmd));
    await until('the reset signed by another key refused', () => ((s!.agent.sync!.status().refused['unknown-key'] ?? 0) > 0 ? true : undefined), 20_000);
    const signed = JSON.parse(province.signCommand(to, { action: 'clock-reset', lowerBoundMs: Date.now() + 1 }).payload) as { p: string };
    await province.publishRaw(stationTopics(ID).cmd, JSON.stringify({ ...signed, p: signed.p.replace(/"lowerBoundMs":\d+/, '"lowerBoundMs":0') }));
    await until('the altered reset refused', () => ((s!.agent.sync!.status().refused['bad-signature'] ?? 0) > 0 ? true : undefined), 20_000);
    t.ok(bound(s) > Date.now() + YEAR / 2, 'the bound is still poisoned');

    // The province's own reset: done, and an emergency plays again.
    const { cmd: reset, payload } = province.signCommand(to, { action: 'clock-reset', lowerBoundMs: Date.now() });
    await province.publishRaw(stationTopics(ID).cmd, payload);
    t.match(await province.waitResponse(reset.id), { status: 'done' });
    t.ok(bound(s) <= Date.now(), 'the bound is down');
    t.match(await emergency(s), { status: 'done', heard: true }, 'an emergency issued now plays');

    // Poisoned again; the same reset replayed runs no more (answered from the record), nor a new id on a used sequence.
    await s.stop();
    const o2 = openStore(databasePath(join(stationDir, 'state')), silentLogger());
    o2.db.prepare("UPDATE meta SET value = ? WHERE key = 'sync.province_time'").run(String(Date.now() + YEAR));
    o2.db.close();
    s = await start(false);
    const answersBefore = province.responses.get(reset.id)?.length ?? 0;
    await province.publishRaw(stationTopics(ID).cmd, payload);
    await until('the replay answered again', () => ((province.responses.get(reset.id)?.length ?? 0) > answersBefore ? true : undefined), 20_000);
    const sameSeq: Command = { ...reset, id: 'reset-same-seq' };
    await province.publishRaw(stationTopics(ID).cmd, signPayload(keys.privateKey, sameSeq));
    t.match(await province.waitResponse('reset-same-seq'), { status: 'rejected', reason: /replayed: sequence \d+ was (already used|too old)/ });
    t.ok(bound(s) > Date.now() + YEAR / 2, 'neither lowered the bound');
    t.match(await emergency(s), { status: 'rejected', reason: /expired/ });
    const fresh = await province.send(to, { action: 'clock-reset', lowerBoundMs: Date.now() });
    t.match(await province.waitResponse(fresh.id), { status: 'done' });
    const up = await province.send(to, { action: 'clock-reset', lowerBoundMs: Date.now() + YEAR });
    t.match(await province.waitResponse(up.id), { status: 'rejected', reason: /only lowers the bound/ }, 'a reset cannot raise it');
    t.match(await emergency(s), { status: 'done', heard: true });
  });
});
