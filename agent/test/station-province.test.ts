import t from 'tap';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { makeTestTone } from '../src/audio/tones.js';
import { startStation } from './station-fixture.js';
import { until } from './sync-fixture.js';

t.test('the province drives a real station: target to air, emergency command, proof of play back', async (t) => {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const keys = generateProvinceKeys();
  const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
  await province.connect();
  t.teardown(() => province.close());

  const s = await startStation({
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, groups: ['lai-chau'], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  });
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');

  const news = content.add(await makeTestTone(join(s.dir, 'news.wav'), 'ffmpeg', { durationMs: 1000, frequencyHz: 500 }), 'news.wav');
  const alert = content.add(await makeTestTone(join(s.dir, 'alert.wav'), 'ffmpeg', { durationMs: 800, frequencyHz: 1500 }), 'alert.wav');
  const at = DateTime.now().setZone(s.config.station.timezone).plus({ seconds: 6 }).startOf('second');
  await province.publishTarget({
    station: s.config.station.id,
    programmes: [{ id: 'news', name: 'Bản tin', priority: 0, volume: 80, recurrence: { kind: 'once', date: at.toISODate()!, time: at.toFormat('HH:mm:ss') }, items: [{ content: news.sha256, repeat: 1, gapMs: 0 }], zones: ['north'] }],
    content: [news, alert],
    zones: [{ name: 'north', volume: 90, enabled: true }, { name: 'south', volume: 50, enabled: true }],
  });
  const rows = await s.rows(1, 30_000);
  t.equal(rows[0]!.content, news.sha256, 'the target was downloaded, verified, activated and played');
  t.equal(rows[0]!.result, 'played');
  t.ok(Math.abs(rows[0]!.startedMs! - at.toMillis()) < 1000, 'on time (loose: scripts/bench playout-accuracy measures)');

  // A province-wide emergency: one publish to the group.
  const cmd = await province.send({ group: 'lai-chau' }, { action: 'play', content: alert.sha256, priority: 9, repeat: 1, label: 'Lũ quét' });
  const answer = await province.waitResponse(cmd.id);
  t.equal(answer.status, 'done');
  const played = await s.rows(2, 20_000);
  t.equal(played[1]!.content, alert.sha256);
  t.equal(played[1]!.priority, 9);
  t.same(played[1]!.zones, ['north', 'south']);

  // A stale "play now" from an hour ago stays silent.
  const stale = await province.send({ station: s.config.station.id }, { action: 'play', content: news.sha256, priority: 5, repeat: 1, label: 'old' }, { issuedMs: Date.now() - 3_600_000, ttlMs: 60_000 });
  const refused = await province.waitResponse(stale.id);
  t.equal(refused.status, 'rejected');

  // Proof of play reaches the province, each row once.
  await until(() => [...province.received.values()].filter((m) => m.kind === 'play').length >= 2, 20_000, 'play-log rows at the province');
  const plays = [...province.received.values()].filter((m) => m.kind === 'play').map((m) => (m.body as { content: string }).content);
  t.same(plays.slice(0, 2), [news.sha256, alert.sha256]);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(s.agent.store.outboxDepth(), 0, 'the outbox drained: every row acknowledged and deleted');
});
