import t from 'tap';
import { startKiosk } from './chromium-fixture.js';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './audio-fixture.js';
import { DateTime } from 'luxon';
import { makeTestTone } from '../src/audio/tones.js';
import { startStation } from './station-fixture.js';
import { until } from './sync-fixture.js';
import { startProvince } from './province-fixture.js';

t.test('the province drives a real station: target to air, emergency command, proof of play back', async (t) => {
  const { broker, content, keys, province } = await startProvince(t);

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


t.test('the board follows the province: playlists and images in the target, kept across a restart; an emergency shows its text', async (t) => {
  const { broker, content, keys, province } = await startProvince(t);
  const kioskDir = tempDir('kiosk');
  t.teardown(() => rmSync(kioskDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));
  const devtoolsSocket = join(kioskDir, 'devtools.sock');
  const over = {
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, groups: ['lai-chau'], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
    board: { port: 0, kiosk: { devtoolsSocket, restartCommand: ['true'], checkIntervalMs: 60_000 } },
  };
  let s = await startStation(over);
  const dir = s.dir;
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');
  // The kiosk browser, started as its systemd unit would: its own process behind the DevTools socket.
  const kiosk = await startKiosk({ socket: devtoolsSocket, profile: join(kioskDir, 'profile'), url: s.agent.board!.server.url, windowSize: '640,360' });
  t.teardown(() => kiosk.kill());

  const png = join(dir, 'map.png');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=navy:s=320x180', '-frames:v', '1', png]);
  const map = content.add(png, 'map.png', 'image');
  const alert = content.add(await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 4000, frequencyHz: 1500 }), 'alert.wav');
  await province.publishTarget({
    station: s.config.station.id,
    programmes: [],
    content: [map, alert],
    board: {
      defaultPlaylist: {
        id: 'xa',
        ticker: 'Xã Mường Tè',
        items: [
          { kind: 'image', id: 'map', durationS: 3600, content: map.sha256, caption: 'Bản đồ vùng nguy cơ sạt lở' },
        ],
      },
    },
  });
  await until(() => s.agent.board?.server.showing()?.item.id === 'map', 30_000, 'the province image on the board');
  t.equal(s.agent.media.cache.get(map.sha256)?.kind, 'image', 'the image was downloaded into the cache as an image');

  // A province emergency carries what people must read and do.
  const cmd = await province.send({ group: 'lai-chau' }, {
    action: 'play', content: alert.sha256, priority: 9, repeat: 1, label: 'Cảnh báo lũ quét',
    text: 'Mưa lớn kéo dài, nguy cơ lũ quét trên suối Nậm Na.', instructions: 'Di chuyển ngay lên vùng cao; không qua ngầm, tràn.',
  });
  t.equal((await province.waitResponse(cmd.id)).status, 'done');
  await until(() => s.agent.board?.server.showing()?.source === 'emergency', 20_000, 'the emergency on the board');
  t.match(s.agent.board!.server.showing()!.item, { kind: 'emergency', title: 'Cảnh báo lũ quét', text: /Nậm Na/, instructions: /vùng cao/ });
  // The province asks what the screen shows: proof of display, from the kiosk itself.
  const shot = await province.send({ station: s.config.station.id }, { action: 'board-screenshot', quality: 50 });
  const shotAnswer = await province.waitResponse(shot.id);
  t.equal(shotAnswer.status, 'done', JSON.stringify(shotAnswer).slice(0, 300));
  const result = shotAnswer.result as { format: string; showing: string; base64: string };
  t.match(result.showing, /^emergency\//, 'taken while the emergency held the screen');
  const jpeg = Buffer.from(result.base64, 'base64');
  t.same([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG image');
  await s.rows(1, 20_000);
  await until(() => s.agent.board?.server.showing()?.source !== 'emergency', 10_000, 'the board back after the emergency');
  await until(
    () => [...province.received.values()].some((m) => m.kind === 'event' && (m.body as { event?: string; data?: { source?: string } }).event === 'board.shown' && (m.body as { data?: { source?: string } }).data?.source === 'emergency'),
    20_000, 'proof of display of the emergency at the province',
  );

  // Power cut: the board comes back on the province's playlist with no network.
  await kiosk.kill();
  await s.stop();
  await province.close();
  await broker.close();
  s = await startStation(over, dir);
  t.equal(s.agent.board?.server.showing()?.item.id, 'map', 'the stored board schedule and image, offline');
});
