import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { makeContent, makeStation, programme, tempDir, until, waitEvent } from './sync-fixture.js';

// Station ids are not secret and station passwords sit on SD cards in
// communes: station B's valid credentials, asking for station A's client id,
// must not kick A off the broker nor wipe its persistent session.

const keys = generateProvinceKeys();

t.test('mosquitto: a client id is its user name, so B cannot take over A', async (t) => {
  const dir = tempDir('takeover');
  const broker = await MosquittoBroker.create({
    dir,
    province: { username: 'province', password: 'pw-prov' },
    stations: [
      { id: 'st-a', groups: [], password: 'pw-a' },
      { id: 'st-b', groups: [], password: 'pw-b' },
    ],
  });
  t.teardown(() => broker.stop());
  const ca = readFileSync(broker.certs.caFile);
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const [clip] = makeContent(tempDir('takeover-content'), 1, 4096).map((p) => content.add(p));
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  await province.beacon();
  const pw = join(dir, 'st-a.password');
  writeFileSync(pw, 'pw-a\n', { mode: 0o600 });
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile: pw, tls: { caFile: broker.certs.caFile } } });
  t.teardown(() => a.stop());
  await until(() => a.client.status().connected, 20_000, 'st-a connected');
  const applied = waitEvent(a.client, 'applied');
  await province.publishTarget({ station: 'st-a', programmes: [programme('morning', clip!.sha256)], content: [clip!] });
  await applied;
  let drops = 0;
  a.client.on('disconnected', () => drops++);

  const attackers: MqttClient[] = [];
  t.teardown(async () => {
    for (const c of attackers) await c.endAsync(true);
  });
  let reached = 0;
  for (let round = 0; round < 12; round++) {
    // A fresh takeover each round, with a clean session: today's broker would drop A and discard its subscriptions.
    const attacker = await connectAsync(broker.url, { username: 'st-b', password: 'pw-b', clientId: 'st-a', clean: true, ca, protocolVersion: round % 2 ? 5 : 4, reconnectPeriod: 0 });
    attackers.push(attacker);
    const before = a.sim.commands.length;
    const cmd = await province.send({ station: 'st-a' }, { action: 'play', content: clip!.sha256, priority: 5, repeat: 1, label: `round ${round}` });
    const answer = await province.waitResponse(cmd.id, undefined, 8000).catch(() => undefined);
    if (answer?.status === 'done' && a.sim.commands.length === before + 1) reached++;
  }
  t.equal(reached, 12, 'every signed command of the takeover loop reached A and ran once');
  t.equal(drops, 0, 'A was never disconnected');
  t.ok(a.client.status().connected);
});

t.test('embedded broker: a client id other than the user name is refused', async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 } });
  t.teardown(() => a.stop());
  await until(() => a.client.status().connected, 20_000, 'st-a connected');
  let drops = 0;
  a.client.on('disconnected', () => drops++);
  await t.rejects(connectAsync(broker.url, { username: 'st-b', clientId: 'st-a', protocolVersion: 4, reconnectPeriod: 0 }), /identifier rejected/i);
  await t.rejects(connectAsync(broker.url, { clientId: 'st-a', protocolVersion: 4, reconnectPeriod: 0 }), /identifier rejected/i, 'no user name: refused too');
  // A legitimate connection after the refusals proves the broker answered them all before this check.
  const ok = await connectAsync(broker.url, { username: 'st-b', clientId: 'st-b', protocolVersion: 4, reconnectPeriod: 0 });
  await ok.endAsync();
  t.equal(drops, 0, 'A was never disconnected');
  t.ok(a.client.status().connected);
});
