import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { groupCmdTopic, stationTopics } from '../src/sync/topics.js';
import { readAppliedTarget } from '../src/sync/station-port.js';
import { makeContent, makeStation, programme, tempDir, until, waitEvent } from './sync-fixture.js';

// Against a real Mosquitto started on a free port with the project's own
// configuration (province/mosquitto): TLS with a pinned CA, one password per
// station, and the ACL. Each denial is proved with a sentinel: a message the
// client may see, sent after the forbidden one, so "nothing arrived" is
// known without waiting on a clock.

const keys = generateProvinceKeys();
const dir = tempDir('mosq');
const stations = [
  { id: 'st-1', groups: ['commune-7', 'province-hn'], password: 'pw-st-1' },
  { id: 'st-2', groups: ['commune-8', 'province-hn'], password: 'pw-st-2' },
  { id: 'st-3', groups: ['commune-8'], password: 'pw-st-3' },
];

t.test('mosquitto', async (t) => {
  const broker = await MosquittoBroker.create({ dir, province: { username: 'province', password: 'pw-prov' }, provinceTools: [{ username: 'province-watch', password: 'pw-watch' }], stations });
  const ca = readFileSync(broker.certs.caFile);
  const content = new ContentServer();
  await content.listen();
  const [clip] = makeContent(tempDir('mosq-content'), 1).map((p) => content.add(p));
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  await province.beacon();
  const clients: MqttClient[] = [];
  const raw = async (username: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> => {
    const c = await connectAsync(broker.url, { username, password, ca, protocolVersion: 5, reconnectPeriod: 0, clientId: `${username}-probe-${clients.length}`, ...extra });
    clients.push(c);
    return c;
  };
  const pw = join(dir, 'st-1.password');
  (await import('node:fs')).writeFileSync(pw, 'pw-st-1\n', { mode: 0o600 });
  const s1 = makeStation({
    id: 'st-1',
    config: { brokers: [broker.url], provinceKeys: [keys.publicPem], groups: stations[0]!.groups, passwordFile: pw, tls: { caFile: broker.certs.caFile } },
    // The clock cannot be trusted: expiry rests on the province's signed time.
    clockTrusted: false,
  });
  t.teardown(async () => {
    await s1.stop();
    for (const c of clients) await c.endAsync(true);
    await province.close();
    await content.close();
    await broker.stop();
  });

  await t.test('over TLS with its own password a station gets its target', async (t) => {
    const applied = waitEvent(s1.client, 'applied');
    const v = await province.publishTarget({ station: 'st-1', programmes: [programme('morning', clip!.sha256)], content: [clip!] });
    t.equal(await applied, v);
    await until(() => province.stations.get('st-1')?.reported?.applied === v, 10_000, 'reported');
  });

  await t.test('denied: wrong password, unknown user, no TLS, an unpinned CA', async (t) => {
    await t.rejects(connectAsync(broker.url, { username: 'st-1', password: 'wrong', ca, reconnectPeriod: 0, protocolVersion: 5 }), /not authorized|bad user name or password/i);
    await t.rejects(connectAsync(broker.url, { username: 'nobody', password: 'x', ca, reconnectPeriod: 0, protocolVersion: 5 }), /not authorized|bad user name or password/i);
    await t.rejects(connectAsync(broker.url, { username: 'st-1', password: 'pw-st-1', reconnectPeriod: 0 }), /self.signed|certificate/i, 'the system CA store does not vouch for the province broker');
    await t.rejects(
      connectAsync(`mqtt://127.0.0.1:${broker.port}`, { username: 'st-1', password: 'pw-st-1', reconnectPeriod: 0, connectTimeout: 3000 }),
      'plain MQTT on the TLS port fails',
    );
  });

  // The broker allows one connection per user, so the probes use st-3, which runs no station here.
  await t.test("denied: a station cannot read another station's or another group's topics", async (t) => {
    await province.publishRaw(stationTopics('st-2').target, 'for st-2 only', true);
    await province.publishRaw(stationTopics('st-2').cmd, 'for st-2 only');
    const spy = await raw('st-3', 'pw-st-3');
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    // Mosquitto 2.0 grants the subscription and then delivers nothing from it.
    await spy.subscribeAsync([stationTopics('st-2').target, stationTopics('st-2').cmd, groupCmdTopic('commune-7'), 'loa/v1/station/+/status', 'loa/v1/#'], { qos: 1 });
    await province.publishRaw(groupCmdTopic('commune-7'), 'for commune-7 only');
    await province.publishRaw(stationTopics('st-2').cmd, 'for st-2 only');
    await spy.subscribeAsync(stationTopics('st-3').cmd, { qos: 1 });
    await province.publishRaw(stationTopics('st-3').cmd, 'sentinel');
    await until(() => seen.includes(stationTopics('st-3').cmd), 10_000, 'the sentinel');
    t.same(
      seen.filter((topic) => topic !== stationTopics('st-3').cmd && topic !== 'loa/v1/time' && !topic.startsWith('loa/v1/station/st-3/target') && !topic.startsWith('loa/v1/group/commune-8')),
      [],
      `only its own topics reached it: ${[...new Set(seen)].join(', ')}`,
    );
  });

  await t.test('denied: a station cannot publish commands, targets or reports for others', async (t) => {
    const seen: string[] = [];
    const watcher = await raw('province-watch', 'pw-watch');
    // Retained messages replayed on subscribe are old news; only live publishes count.
    watcher.on('message', (topic, _payload, packet) => {
      if (!packet.retain) seen.push(topic);
    });
    await watcher.subscribeAsync('loa/v1/#', { qos: 1 });
    const rogue = await raw('st-3', 'pw-st-3');
    const forged = signPayload(generateProvinceKeys().privateKey, { type: 'command' });
    for (const topic of [stationTopics('st-3').cmd, stationTopics('st-2').cmd, groupCmdTopic('province-hn'), stationTopics('st-2').target, stationTopics('st-2').status, 'loa/v1/time']) {
      // MQTT 5 tells the publisher (PUBACK "Not authorized"); 3.1.1 would drop silently.
      await t.rejects(rogue.publishAsync(topic, forged, { qos: 1 }), /not authorized/i, `publish to ${topic} refused`);
    }
    await rogue.publishAsync(stationTopics('st-3').out('event'), 'sentinel', { qos: 1 });
    await until(() => seen.includes(stationTopics('st-3').out('event')), 10_000, 'the sentinel');
    t.same(seen.filter((x) => /\/cmd$|\/target$|st-2|\/time$/.test(x)), [], 'nothing forbidden reached any subscriber');
  });

  await t.test('a stale play-now issued hours ago stays silent even with a wrong station clock', async (t) => {
    const runs = s1.sim.commands.length;
    const stale = await province.send({ station: 'st-1' }, { action: 'play', content: clip!.sha256, priority: 9, repeat: 1, label: '' }, { issuedMs: Date.now() - 4 * 3600_000, ttlMs: 300_000 });
    t.match(await province.waitResponse(stale.id), { status: 'rejected', reason: /expired/ });
    const fresh = await province.send({ group: 'province-hn' }, { action: 'play', content: clip!.sha256, priority: 9, repeat: 1, label: '' });
    t.match(await province.waitResponse(fresh.id), { status: 'done' });
    t.equal(s1.sim.commands.length, runs + 1);
  });

  await t.test('broker restart: retained target kept, station back online, outbox drained exactly once', async (t) => {
    const v = readAppliedTarget(s1.db)!.version;
    await broker.stop();
    await until(() => !s1.client.status().connected, 10_000, 'disconnect');
    const ids = Array.from({ length: 200 }, (_, i) => `down-${i}`);
    for (const id of ids) s1.client.send('event', { event: 'test', level: 'info', message: id }, id);
    await broker.start();
    await until(() => s1.client.status().connected, 30_000, 'reconnect');
    await until(() => ids.every((id) => province.received.has(id)), 30_000, 'all events');
    await until(() => s1.client.status().outboxDepth === 0, 10_000, 'outbox empty');
    t.equal([...province.received.keys()].filter((k) => k.startsWith('down-')).length, 200);
    await until(() => province.stations.get('st-1')?.status?.state === 'online' && province.stations.get('st-1')?.reported?.applied === v, 20_000, 'online again');
    t.equal(s1.sim.activated.length, 1, 'the retained target was recognised, not applied again');
  });
});
