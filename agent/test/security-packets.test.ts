import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { stationTopics } from '../src/sync/topics.js';
import { MAX_PACKET_BYTES } from '../src/sync/protocol.js';
import { PacketMeter } from '../src/sync/packet-limit.js';
import { makeStation, tempDir, until } from './sync-fixture.js';

// Packet limits in both directions. A huge message must be refused by the
// broker (so no persistent session can redeliver it at every restart), must
// not be announced acceptable by the station, and a broker that sends one
// anyway must lose the connection before the station holds it.

const run = promisify(execFile);
const keys = generateProvinceKeys();
const MB = 1024 * 1024;

/**
 * The province connected and its time beacon out; station st-a connected
 * once (its persistent session made), then away while something huge is
 * queued for it. Returns what starts it again, and a 20 MB file to publish.
 */
async function awayStation(t: Test, dir: string, broker: MosquittoBroker, name: string): Promise<{ province: Province; ca: Buffer; stationDir: string; config: Parameters<typeof makeStation>[0]['config']; huge: string }> {
  const ca = readFileSync(broker.certs.caFile);
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  await province.beacon();
  const pw = join(dir, 'st-a.password');
  writeFileSync(pw, 'pw-a\n', { mode: 0o600 });
  const stationDir = tempDir(name);
  const config = { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile: pw, tls: { caFile: broker.certs.caFile } };
  const a = makeStation({ id: 'st-a', dir: stationDir, config });
  await until(() => a.client.status().connected, 20_000, 'st-a connected');
  await a.stop();
  const huge = join(dir, 'huge.bin');
  writeFileSync(huge, Buffer.alloc(20 * MB, 0x7b));
  return { province, ca, stationDir, config, huge };
}

t.test('the meter: packet boundaries over any chunking, a packet too large known from its header', async (t) => {
  // PUBLISH (0x30) with remaining length 3, then PINGRESP (0xd0 0x00), then one of 300 bytes (varint 0xac 0x02).
  const stream = Buffer.from([0x30, 0x03, 1, 2, 3, 0xd0, 0x00, 0x30, 0xac, 0x02, ...Buffer.alloc(300)]);
  for (const size of [1, 2, 3, 7, stream.length]) {
    const m = new PacketMeter(303);
    const verdicts = [];
    for (let i = 0; i < stream.length; i += size) verdicts.push(m.feed(stream.subarray(i, i + size)));
    t.ok(verdicts.every((v) => v.ok), `chunks of ${size}: a 303-byte packet is allowed at a 303 limit`);
  }
  const tight = new PacketMeter(302);
  t.ok(tight.feed(stream.subarray(0, 7)).ok);
  t.match(tight.feed(stream.subarray(7, 9)), { ok: true }, 'the length is not known until its last byte');
  t.match(tight.feed(stream.subarray(9, 10)), { ok: false, bytes: 303 });
  // 200 MB announced in the first 5 bytes.
  t.match(new PacketMeter(MAX_PACKET_BYTES).feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64])), { ok: false, bytes: 1 + 4 + 200 * MB });
  t.match(new PacketMeter(MAX_PACKET_BYTES).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), { ok: false, reason: /malformed/ });
});

t.test('mosquitto: a 20 MB command is refused at the broker, never reaches the station, is not redelivered', async (t) => {
  const dir = tempDir('packets');
  const broker = await MosquittoBroker.create({
    dir,
    province: { username: 'province', password: 'pw-prov' },
    provinceTools: [{ username: 'province-tool', password: 'pw-tool' }],
    stations: [
      { id: 'st-a', groups: [], password: 'pw-a' },
      { id: 'st-b', groups: [], password: 'pw-b' },
    ],
  });
  t.teardown(() => broker.stop());
  // A first connect makes the persistent session; then the station is away while the huge command is queued for it.
  const { province, ca, stationDir, config, huge } = await awayStation(t, dir, broker, 'packets-st-a');
  let a: ReturnType<typeof makeStation>;
  // MQTT 3.1.1: the publisher does not learn the broker's limit, so the broker itself must refuse.
  const pub = (user: string, password: string, topic: string, file: string, extra: string[] = []): Promise<unknown> =>
    run('mosquitto_pub', ['-h', 'localhost', '-p', String(broker.port), '--cafile', broker.certs.caFile, '-u', user, '-P', password, '-V', 'mqttv311', '-q', '1', '-t', topic, '-f', file, ...extra]);
  await t.rejects(pub('province-tool', 'pw-tool', stationTopics('st-a').cmd, huge), 'the broker cut the 20 MB publish');

  const rssBefore = process.memoryUsage().rss;
  for (let start = 0; start < 2; start++) {
    a = makeStation({ id: 'st-a', dir: stationDir, config });
    await until(() => a.client.status().connected, 20_000, 'st-a connected again');
    const cmd = await province.send({ station: 'st-a' }, { action: 'resync' });
    t.match(await province.waitResponse(cmd.id), { status: 'done' }, `start ${start + 1}: commands still reach it`);
    t.same(a.client.status().refused, {}, `start ${start + 1}: nothing oversized was delivered, so nothing refused`);
    await a.stop();
  }
  t.ok(process.memoryUsage().rss - rssBefore < 64 * MB, `memory stays bounded (grew ${Math.round((process.memoryUsage().rss - rssBefore) / MB)} MB)`);

  await t.test('a station cannot retain 10 MB at the province', async (t) => {
    const seen: Array<{ topic: string; bytes: number }> = [];
    const watcher = await connectAsync(broker.url, { username: 'province-tool', password: 'pw-tool', ca, protocolVersion: 5, reconnectPeriod: 0 });
    t.teardown(() => watcher.endAsync(true));
    watcher.on('message', (topic, payload) => seen.push({ topic, bytes: payload.length }));
    await watcher.subscribeAsync(stationTopics('st-b').status, { qos: 1 });
    const big = join(dir, 'big-status.bin');
    writeFileSync(big, Buffer.alloc(10 * MB, 0x20));
    await t.rejects(pub('st-b', 'pw-b', stationTopics('st-b').status, big, ['-r']), 'the broker cut the 10 MB retained publish');
    const small = join(dir, 'small-status.bin');
    writeFileSync(small, '{"sentinel":true}');
    await pub('st-b', 'pw-b', stationTopics('st-b').status, small, ['-r']);
    await until(() => seen.length > 0 && seen.at(-1)!.bytes === 17, 10_000, 'the sentinel');
    t.same(seen, [{ topic: stationTopics('st-b').status, bytes: 17 }], 'only the small status reached the province');
  });
});

t.test("mosquitto without max_packet_size: the station's announced maximum makes it drop the 20 MB command, not redeliver it", async (t) => {
  const dir = tempDir('packets-announced');
  const broker = await MosquittoBroker.create({
    dir,
    province: { username: 'province', password: 'pw-prov' },
    provinceTools: [{ username: 'province-tool', password: 'pw-tool' }],
    stations: [{ id: 'st-a', groups: [], password: 'pw-a' }],
    editConfig: (conf) => conf.replace(/^max_packet_size .*$/m, ''),
  });
  t.teardown(() => broker.stop());
  const { province, stationDir, config, huge } = await awayStation(t, dir, broker, 'packets-announced-st-a');
  let a: ReturnType<typeof makeStation>;
  await run('mosquitto_pub', ['-h', 'localhost', '-p', String(broker.port), '--cafile', broker.certs.caFile, '-u', 'province-tool', '-P', 'pw-tool', '-V', 'mqttv311', '-q', '1', '-t', stationTopics('st-a').cmd, '-f', huge]);
  for (let start = 0; start < 2; start++) {
    a = makeStation({ id: 'st-a', dir: stationDir, config });
    await until(() => a.client.status().connected, 20_000, 'st-a connected again');
    const cmd = await province.send({ station: 'st-a' }, { action: 'resync' });
    t.match(await province.waitResponse(cmd.id), { status: 'done' }, `start ${start + 1}: commands still reach it`);
    t.same(a.client.status().refused, {}, `start ${start + 1}: the queued 20 MB command was never sent to it`);
    await a.stop();
  }
});

t.test('a broker without limits: the station cuts the connection at the header and keeps working', async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
  await province.connect();
  t.teardown(() => province.close());
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 } });
  t.teardown(() => a.stop());
  await until(() => a.client.status().connected, 20_000, 'st-a connected');
  const attacker = await connectAsync(broker.url, { username: 'st-x', clientId: 'st-x', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => attacker.endAsync(true));
  await attacker.publishAsync(stationTopics('st-a').cmd, Buffer.alloc(20 * MB, 0x7b), { qos: 0 });
  await until(() => a.client.status().refused['oversize-packet'] === 1, 20_000, 'the cut');
  await until(() => a.client.status().connected, 20_000, 'reconnected');
  const cmd = await province.send({ station: 'st-a' }, { action: 'resync' });
  t.match(await province.waitResponse(cmd.id), { status: 'done' }, 'commands still reach it');
  t.same(a.client.status().refused, { 'oversize-packet': 1 }, 'cut unread: never parsed, so never refused as an oversize payload');
});

t.test('the province reads bounded too: a 20 MB report cuts its connection unread, and it carries on', async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
  const cut: Array<{ errors: string[] }> = [];
  province.on('invalid', (v: { errors: string[] }) => cut.push(v));
  await province.connect();
  t.teardown(() => province.close());
  const rogue = await connectAsync(broker.url, { username: 'st-x', clientId: 'st-x', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => rogue.endAsync(true));
  await rogue.publishAsync(stationTopics('st-x').out('event'), Buffer.alloc(20 * MB, 0x7b), { qos: 0 });
  await until(() => cut.length > 0, 20_000, 'the cut');
  t.match(cut, [{ errors: [new RegExp(`packet of ${20 * MB + 1 + 4 + stationTopics('st-x').out('event').length + 2} bytes, more than the ${MAX_PACKET_BYTES} accepted`)] }]);
  // Reconnected on its own: a station's birth reaches it again.
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 } });
  t.teardown(() => a.stop());
  await until(() => province.stations.get('st-a')?.status?.state === 'online', 30_000, 'the province hears st-a');
});
