import t from 'tap';
import { startProvince } from './province-fixture.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { stationTopics } from '../src/sync/topics.js';
import { makeStation, tempDir, until } from './sync-fixture.js';

// Refusal counters are evidence of an attack: a restart (which an attacker
// can cause) must not wipe them. They reach the database in batches, not
// once per junk message.

t.test('refusal counters survive a restart, and health still reports them', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  const dir = tempDir('refusals');
  const config = { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 as const };
  let a = makeStation({ id: 'st-a', dir, config });
  t.teardown(() => a.stop());
  await until(() => a.client.status().connected, 20_000, 'connected');
  const forger = generateProvinceKeys().privateKey;
  for (let i = 0; i < 20; i++) await province.publishRaw(stationTopics('st-a').cmd, signPayload(forger, { type: 'command', n: i }));
  for (let i = 0; i < 5; i++) await province.publishRaw(stationTopics('st-a').cmd, `not json ${i}`);
  const counted = await until(() => {
    const r = a.client.status().refused;
    const total = Object.values(r).reduce((x, y) => x + y, 0);
    return total === 25 && r;
  }, 20_000, '25 refusals');
  t.equal(a.db.prepare("SELECT value FROM meta WHERE key = 'sync.refused'").get(), undefined, 'batched: not written message by message');

  await a.stop();
  a = makeStation({ id: 'st-a', dir, config });
  t.same(a.client.status().refused, counted, 'the same counts after the restart');
  await until(() => a.client.status().connected, 20_000, 'connected again');
  a.client.putHealth();
  const health = await until(() => [...province.received.values()].find((m) => m.kind === 'health')?.body as { refused: Record<string, number> } | undefined, 20_000, 'a health report');
  t.same(health.refused, counted, 'health counts them too');
});
