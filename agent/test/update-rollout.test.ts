/**
 * The province's staged rollout over a real broker: stations with the real
 * sync client (commands signed, replay-protected, answered through the
 * outbox) whose update outcome is simulated, reported as update.* events.
 */
import t from 'tap';
import { startProvince } from './province-fixture.js';
import { makeStation, type TestStation } from './sync-fixture.js';
import { rollout } from '../../province/src/rollout.js';
import { fakeBundle } from './update-fixture.js';

t.test('1 %, 5 %, 25 %, 100 %: a fleet that takes the release gets it all; one that rolls it back stops at the stage that failed', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  const stations: TestStation[] = [];
  const failing = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const id = `st-${String(i).padStart(2, '0')}`;
    const st = makeStation({ id, config: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4 } });
    st.sim.onUpdate = (_cmd, a) => {
      const version = (JSON.parse(JSON.parse(a.manifest).p) as { version: string }).version;
      setTimeout(() => (failing.has(`${id}@${version}`)
        ? st.client.event('update.rolled-back', 'error', 'rolled back', { version, from: '1.0.0', reason: 'simulated' })
        : st.client.event('update.committed', 'info', 'committed', { version, from: '1.0.0' })), 100);
      return { status: 'done', result: { version } };
    };
    stations.push(st);
  }
  t.teardown(() => Promise.all(stations.map((s) => s.stop())));
  const ids = stations.map((s) => s.id);
  await province.waitFor(() => (ids.every((id) => province.stations.get(id)?.status?.state === 'online') ? true : undefined), 30_000, 'every station online');

  const good = await fakeBundle('2.0.0', { payloadBytes: 1024 });
  const ok = await rollout({ province, stations: ids, version: '2.0.0', manifest: good.signed, url: 'http://127.0.0.1:9/x', threshold: 0.1, stageTimeoutMs: 20_000 });
  t.equal(ok.completed, true);
  t.same(ok.stages.map((s) => [s.percent, s.stations.length, s.verdict.failures]), [[1, 1, 0], [5, 1, 0], [25, 8, 0], [100, 30, 0]], 'cumulative 1, 2, 10, 40 stations');

  // 2.1.0 fails on 3 of the 8 stations of the 25 % stage (and would on more later).
  for (const id of ['st-02', 'st-05', 'st-07', 'st-20', 'st-30']) failing.add(`${id}@2.1.0`);
  const bad = await fakeBundle('2.1.0', { payloadBytes: 1024 });
  const halted = await rollout({ province, stations: ids, version: '2.1.0', manifest: bad.signed, url: 'http://127.0.0.1:9/x', threshold: 0.1, stageTimeoutMs: 20_000 });
  t.equal(halted.completed, false);
  t.equal(halted.haltedAt, 25, 'stopped at the stage whose failure rate is above 10 %');
  t.same(halted.stages.at(-1)!.verdict, { failures: 3, total: 8, rate: 0.375, goOn: false });
  const offered = new Set(halted.stages.flatMap((s) => s.stations));
  t.equal(offered.size, 10, 'the other 30 stations were never offered 2.1.0');
  t.notOk(offered.has('st-20'));
});
