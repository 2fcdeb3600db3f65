import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import type { NatsCluster } from '../../province/src/nats-cluster.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { groupCmdTopic, stationTopics } from '../src/sync/topics.js';
import { makeContent, makeStation, programme, tempDir, until, waitEvent, type TestStation } from './sync-fixture.js';
import { brokersFrom, startNatsCluster } from './nats-fixture.js';

// The station suite's key sync cases against each broker loa supports: the
// project's Mosquitto and a three-node NATS cluster (JetStream, MQTT 3.1.1).
// The two are interchangeable: one station code, one ACL, one client-id rule.

const keys = generateProvinceKeys();
const stations = [
  { id: 'st-1', groups: ['commune-7'], password: 'pw-st-1' },
  { id: 'st-2', groups: ['commune-8'], password: 'pw-st-2' },
  { id: 'st-3', groups: ['commune-8'], password: 'pw-st-3' },
];
const province = { username: 'province', password: 'pw-prov' };
const provinceTools = [{ username: 'province-watch', password: 'pw-watch' }];

interface Rig {
  /** Broker URLs for the station (a list over the nodes on NATS). */
  stationBrokers: string[];
  /** Where the province and the probes connect. */
  provinceUrl: string;
  caFile: string;
  protocolVersion: 4 | 5;
}

/** One MQTT connection attempt: 'connected' at CONNACK, 'refused' when the broker says no or closes first. */
function attempt(url: string, o: IClientOptions, clients: MqttClient[]): Promise<{ result: 'connected' | 'refused'; client: MqttClient }> {
  const client = connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...o });
  clients.push(client);
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ result: 'connected', client }));
    client.once('error', () => resolve({ result: 'refused', client }));
    client.once('close', () => resolve({ result: 'refused', client }));
  });
}

async function suite(t: Test, rig: Rig, nats?: NatsCluster): Promise<void> {
  const ca = readFileSync(rig.caFile);
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const [clip] = makeContent(tempDir('brokers-content'), 1, 4096).map((p) => content.add(p));
  const prov = new Province({ url: rig.provinceUrl, ...province, ca, privateKey: keys.privateKey, protocolVersion: rig.protocolVersion });
  await prov.connect();
  t.teardown(() => prov.close());
  await prov.beacon();
  const clients: MqttClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
  });
  const dir = tempDir('brokers');
  const pw = join(dir, 'st-1.password');
  writeFileSync(pw, 'pw-st-1\n', { mode: 0o600 });
  const s1: TestStation = makeStation({
    id: 'st-1',
    config: { brokers: rig.stationBrokers, provinceKeys: [keys.publicPem], groups: stations[0]!.groups, passwordFile: pw, tls: { caFile: rig.caFile }, protocolVersion: rig.protocolVersion },
  });
  t.teardown(() => s1.stop());
  const acl = waitEvent<string | undefined>(s1.client, 'acl', () => true, 30_000);
  let drops = 0;
  s1.client.on('disconnected', () => drops++);

  await t.test('the station receives its signed target and reports it applied', async (t) => {
    const applied = waitEvent(s1.client, 'applied', undefined, 30_000);
    const v = await prov.publishTarget({ station: 'st-1', programmes: [programme('morning', clip!.sha256)], content: [clip!] });
    t.equal(await applied, v);
    await until(() => prov.stations.get('st-1')?.reported?.applied === v, 20_000, 'reported');
  });

  await t.test('the ACL probe passes: own topics granted, other stations not readable', async (t) => {
    t.equal(await acl, undefined);
    t.same(s1.client.problems(), []);
  });

  await t.test('proof of play goes up once each; a group command runs once', async (t) => {
    const ids = Array.from({ length: 20 }, (_, i) => `play-${i}`);
    for (const id of ids) s1.client.send('play', { id, content: clip!.sha256, startedMs: Date.now(), durationMs: 10_000 }, id);
    await until(() => ids.every((id) => prov.received.get(id)?.kind === 'play'), 20_000, 'the play rows at the province');
    await until(() => s1.client.status().outboxDepth === 0, 10_000, 'outbox empty');
    const runs = s1.sim.commands.length;
    const cmd = await prov.send({ group: 'commune-7' }, { action: 'play', content: clip!.sha256, priority: 5, repeat: 1, label: 'group' });
    t.match(await prov.waitResponse(cmd.id), { status: 'done' });
    t.equal(s1.sim.commands.length, runs + 1);
  });

  await t.test("another station's credentials cannot take over the station's client id", async (t) => {
    for (let round = 0; round < 4; round++) {
      const url = rig.stationBrokers[round % rig.stationBrokers.length]!;
      // Mosquitto renames the client to its user (st-2); the NATS front closes the connection before NATS sees it.
      const a = await attempt(url, { username: 'st-2', password: 'pw-st-2', clientId: 'st-1', clean: true, ca, protocolVersion: 4 }, clients);
      t.comment(`round ${round}: ${a.result}`);
      if (nats) t.equal(a.result, 'refused', 'the NATS front refuses a client id other than the user name');
      const before = s1.sim.commands.length;
      const cmd = await prov.send({ station: 'st-1' }, { action: 'play', content: clip!.sha256, priority: 5, repeat: 1, label: `round ${round}` });
      t.match(await prov.waitResponse(cmd.id, undefined, 15_000), { status: 'done' });
      t.equal(s1.sim.commands.length, before + 1, 'the command reached st-1 and ran once');
    }
    t.equal(drops, 0, 'st-1 was never disconnected');
  });

  await t.test("a station reads only its own topics and cannot publish others' commands", async (t) => {
    const spy = (await attempt(rig.provinceUrl, { username: 'st-3', password: 'pw-st-3', clientId: 'st-3', ca, protocolVersion: 4 }, clients)).client;
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    const forbidden = [stationTopics('st-2').cmd, stationTopics('st-2').target, groupCmdTopic('commune-7'), 'loa/v1/station/+/status', 'loa/v1/#'];
    const granted = await new Promise<number[]>((resolve) => spy.subscribe(forbidden, { qos: 1 }, (_e, _g, packet) => resolve((packet as { granted: number[] }).granted)));
    t.comment(`SUBACK for others' topics: ${granted.join(', ')}`);
    if (nats) t.same(granted, forbidden.map(() => 128), 'NATS refuses them at subscribe');
    const watcher = (await attempt(rig.provinceUrl, { username: 'province-watch', password: 'pw-watch', clientId: 'province-watch', ca, protocolVersion: 4 }, clients)).client;
    const watched: string[] = [];
    watcher.on('message', (topic, _p, packet) => {
      if (!packet.retain) watched.push(topic);
    });
    await watcher.subscribeAsync('loa/v1/#', { qos: 1 });
    // A 3.1.1 broker drops a forbidden publish without a word; the watcher proves nothing got through.
    await spy.publishAsync(stationTopics('st-2').cmd, signPayload(generateProvinceKeys().privateKey, { type: 'command' }), { qos: 1 });
    await prov.publishRaw(stationTopics('st-2').cmd, 'for st-2 only');
    await prov.publishRaw(groupCmdTopic('commune-7'), 'for commune-7 only');
    await spy.subscribeAsync(stationTopics('st-3').cmd, { qos: 1 });
    await spy.publishAsync(stationTopics('st-3').out('event'), 'sentinel', { qos: 1 });
    await prov.publishRaw(stationTopics('st-3').cmd, 'sentinel');
    await until(() => seen.includes(stationTopics('st-3').cmd) && watched.includes(stationTopics('st-3').out('event')), 20_000, 'the sentinels');
    // The time beacon is everyone's (Mosquitto grants loa/v1/# and delivers only what the ACL allows).
    t.same(seen.filter((topic) => topic !== stationTopics('st-3').cmd && topic !== 'loa/v1/time'), [], `only its own topics reached st-3: ${[...new Set(seen)].join(', ')}`);
    t.same(watched.filter((topic) => topic === stationTopics('st-2').cmd).length, 1, "only the province's own message reached st-2's command topic");
  });

  if (!nats) return;
  await t.test('a node is lost: the station moves to another node and nothing is lost or doubled', async (t) => {
    const node = nats.urls.indexOf(s1.client.status().broker!);
    t.not(node, -1, `st-1 is on ${s1.client.status().broker}`);
    t.not(nats.urls[node], rig.provinceUrl, 'the province is on another node');
    const runs = s1.sim.commands.length;
    await nats.killNode(node);
    await until(() => !s1.client.status().connected, 20_000, 'the station sees the loss');
    // While it is away: commands for it, and proof of play it records.
    const cmds = [];
    for (let i = 0; i < 3; i++) cmds.push(await prov.send({ station: 'st-1' }, { action: 'play', content: clip!.sha256, priority: 5, repeat: 1, label: `while away ${i}` }));
    const ids = Array.from({ length: 50 }, (_, i) => `away-${i}`);
    for (const id of ids) s1.client.send('play', { id, content: clip!.sha256, startedMs: Date.now(), durationMs: 10_000 }, id);
    await until(() => s1.client.status().connected, 30_000, 'the station on another node');
    t.not(s1.client.status().broker, nats.urls[node]);
    for (const c of cmds) t.match(await prov.waitResponse(c.id, undefined, 30_000), { status: 'done' });
    await until(() => ids.every((id) => prov.received.has(id)), 30_000, 'every play row');
    t.equal(s1.sim.commands.length, runs + 3, 'each command sent while it was away ran once');
    t.equal(s1.sim.activated.length, 1, 'the retained target was recognised after the move, not applied again');
    await nats.startNode(node);
  });

  if (nats) {
    await t.test('a subscription the broker refuses is asked for again on the same connection: once granted, commands arrive', async (t) => {
      // NATS refuses a QoS 1 subscription (SUBACK 0x80) when JetStream is too busy to add its consumer, as in a
      // connect storm; a missing permission, fixed by a reload, refuses and then grants it the same way, on demand.
      const ownCmd = stationTopics('st-2').cmd;
      nats.reload((acl) => acl.replace(`topic read ${ownCmd}\n`, ''));
      const pw2 = join(dir, 'st-2.password');
      writeFileSync(pw2, 'pw-st-2\n', { mode: 0o600 });
      const s2 = makeStation({ id: 'st-2', config: { brokers: rig.stationBrokers, provinceKeys: [keys.publicPem], groups: stations[1]!.groups, passwordFile: pw2, tls: { caFile: rig.caFile }, protocolVersion: 4 } });
      t.teardown(() => s2.stop());
      let s2drops = 0;
      s2.client.on('disconnected', () => s2drops++);
      const refused = await waitEvent<string | undefined>(s2.client, 'acl', () => true, 30_000);
      t.match(refused, new RegExp(`refuses this station its own topics \\(${ownCmd}\\)`), 'refused, and said so');
      const granted = waitEvent<string | undefined>(s2.client, 'acl', (p) => p === undefined, 90_000);
      nats.reload();
      t.equal(await granted, undefined, 'asked again and granted: the problem is gone');
      t.same(s2.client.problems(), []);
      const cmd = await prov.send({ station: 'st-2' }, { action: 'volume', volume: 60 });
      t.match(await prov.waitResponse(cmd.id, undefined, 20_000), { status: 'done' });
      t.equal(s2.sim.commands.length, 1, 'the command reached st-2');
      t.equal(s2drops, 0, 'on the connection it had: the broker was asked again, not reconnected to');
    });
  }
}

t.test('mosquitto', async (t) => {
  const broker = await MosquittoBroker.create({ dir: tempDir('brokers-mosq'), province, provinceTools, stations });
  t.teardown(() => broker.stop());
  await suite(t, { stationBrokers: [broker.url], provinceUrl: broker.url, caFile: broker.certs.caFile, protocolVersion: 5 });
});

t.test('nats cluster (3 nodes)', async (t) => {
  const cluster = await startNatsCluster(t, { province, provinceTools, stations });
  await suite(t, { stationBrokers: brokersFrom(cluster, 0), provinceUrl: cluster.urls[2]!, caFile: cluster.certs.caFile, protocolVersion: 4 }, cluster);
});
