import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { stationTopics } from '../src/sync/topics.js';
import { makeStation, tempDir, until, waitEvent } from './sync-fixture.js';

// A wrong broker ACL looks fine from the station: Mosquitto 2.0 grants every
// subscription and filters at delivery. The probe at each connect proves the
// station cannot read what it must not (another station's status), and a
// wrong ACL is a fault in status, health and the province's events.

const keys = generateProvinceKeys();

async function withMosquitto(t: Test, editAcl?: (acl: string) => string): Promise<{ broker: MosquittoBroker; province: Province; dir: string }> {
  const dir = tempDir('acl');
  const broker = await MosquittoBroker.create({
    dir,
    province: { username: 'province', password: 'pw-prov' },
    stations: [
      { id: 'st-a', groups: [], password: 'pw-a' },
      { id: 'st-b', groups: [], password: 'pw-b' },
    ],
    ...(editAcl ? { editAcl } : {}),
  });
  t.teardown(() => broker.stop());
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  // Another station's retained status is on the broker, as in any province.
  const b = await connectAsync(broker.url, { username: 'st-b', password: 'pw-b', ca: readFileSync(broker.certs.caFile), protocolVersion: 5, reconnectPeriod: 0 });
  await b.publishAsync(stationTopics('st-b').status, JSON.stringify({ state: 'offline', station: 'st-b', connectSeq: 1, reason: 'shutdown' }), { qos: 1, retain: true });
  await b.endAsync();
  return { broker, province, dir };
}

function stationOn(broker: MosquittoBroker, dir: string): ReturnType<typeof makeStation> {
  const pw = join(dir, 'st-a.password');
  writeFileSync(pw, 'pw-a\n', { mode: 0o600 });
  return makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile: pw, tls: { caFile: broker.certs.caFile } } });
}

t.test("the project's ACL: the probe passes", async (t) => {
  const { broker, dir } = await withMosquitto(t);
  const a = stationOn(broker, dir);
  t.teardown(() => a.stop());
  t.equal(await waitEvent(a.client, 'acl', () => true, 20_000), undefined, 'no problem found');
  t.same(a.client.problems(), []);
});

t.test('an ACL that lets a station read every station topic is a fault, reported', async (t) => {
  // A plausible slip: one broad line instead of the station's own target.
  const { broker, province, dir } = await withMosquitto(t, (acl) => acl.replace('topic read loa/v1/station/st-a/target/#', 'topic read loa/v1/station/#'));
  const a = stationOn(broker, dir);
  t.teardown(() => a.stop());
  const problem = await waitEvent<string | undefined>(a.client, 'acl', () => true, 20_000);
  t.match(problem, /^broker ACL wrong: the broker lets this station read station status topics, which no station may read \(loa\/v1\/station\/st-[ab]\/status.*fix the ACL for user st-a$/);
  t.same(a.client.problems(), [problem], 'in loa status and health (the agent lists sync problems)');
  await until(() => [...province.received.values()].find((m) => m.kind === 'event' && (m.body as { event: string }).event === 'sync.acl'), 20_000, 'the event at the province');
  t.same(a.client.status().refused, {}, 'the canary is not counted as junk');
});

t.test("the embedded broker keeps the station ACL: the probe passes, another station's command is refused", async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 } });
  t.teardown(() => a.stop());
  t.equal(await waitEvent(a.client, 'acl', () => true, 20_000), undefined);
  const spy = await connectAsync(broker.url, { username: 'st-b', clientId: 'st-b', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => spy.endAsync(true));
  const suback = await new Promise<unknown>((resolve) => spy.subscribe({ [stationTopics('st-a').cmd]: { qos: 1 }, [stationTopics('st-b').cmd]: { qos: 1 } }, (_err, _granted, packet) => resolve(packet)));
  t.match(suback, { granted: [128, 1] });
});

t.test('own topics refused at subscribe (SUBACK 0x80) is a fault naming them', async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  // The broker knows this station as st-x, so st-a's topics are not its own there.
  const a = makeStation({ id: 'st-a', config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, username: 'st-x' } });
  t.teardown(() => a.stop());
  const problem = await waitEvent<string | undefined>(a.client, 'acl', () => true, 20_000);
  t.match(problem, /^broker ACL wrong: the broker refuses this station its own topics \(loa\/v1\/station\/st-a\/target, loa\/v1\/station\/st-a\/target\/part\/\+, loa\/v1\/station\/st-a\/cmd\); fix the ACL for user st-x \(refused topics are asked for again, up to every 15 s: a broker too busy to add a subscription refuses it too\)$/);
  t.same(a.client.problems().filter((p) => !p.startsWith('INSECURE')), [problem], 'next to the loopback plaintext warning');
});
