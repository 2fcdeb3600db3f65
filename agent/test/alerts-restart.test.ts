/**
 * The alert registry survives a restart: an alert cut off on air goes on
 * while it is active, and stays silent once it has expired (judged by the
 * province's signed time the station kept, without NTP).
 * Heard at a paced sink across the two runs of the agent.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { databasePath } from '../src/store/database.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys, signPayload } from '../src/sync/signing.js';
import { TIME_TOPIC } from '../src/sync/topics.js';
import type { TimeBeacon } from '../src/sync/protocol.js';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { ContentServer } from '../../province/src/content-server.js';
import { startStation } from './station-fixture.js';
import { ToneTracker, joinedTones, tempDir, type ToneSpan } from './audio-fixture.js';
import { until } from './sync-fixture.js';
import { capXml, wholeSecond } from './alerts-fixture.js';

function listening(): { sink: PacedSink; beeps: (freq: number) => ToneSpan[] } {
  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 4 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  return { sink, beeps: (freq) => joinedTones(tracker.spans, freq, 300) };
}

async function beepsServed(t: Test, freq: number): Promise<{ uri: string; file: string }> {
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const file = join(tempDir('alerts-restart'), `beeps-${freq}.wav`);
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=f=${freq}:d=30:sample_rate=16000`,
    '-af', "volume='if(lt(mod(t,1),0.8),0.25,0)':eval=frame,pan=stereo|c0=c0|c1=c0", '-c:a', 'pcm_s16le', file]);
  return { uri: content.add(file, 'beeps.wav').url, file };
}

t.test('an alert cut by a restart goes on while active, and never after it has expired', async (t) => {
  const audio = await beepsServed(t, 520);
  const dir = tempDir('alerts-restart-station');
  const over = { alerts: { chime: false } };
  const first = listening();
  let s = await startStation(over, dir, { sink: first.sink });
  const now = wholeSecond(Date.now());
  await s.agent.alerts.receiveCap(capXml({ identifier: 'LONG-1', sentMs: now - 1000, expiresMs: now + 3_600_000, resources: [audio] }), { origin: 'cap-command', via: 'test' });
  await until(() => first.beeps(520).length >= 3, 30_000, 'the alert on air');
  await s.stop();
  const heardBefore = first.beeps(520).length;
  t.ok(heardBefore < 30, `cut after ${heardBefore} beeps`);

  const second = listening();
  s = await startStation(over, dir, { sink: second.sink });
  t.teardown(() => s.stop());
  await until(() => second.beeps(520).length >= 3, 30_000, 'the alert going on after the restart');
  t.ok(s.played.every((r) => r.alertId === 'LONG-1'), 'it is the same alert');
  t.equal(s.agent.alerts.status().find((a) => a.identifier === 'LONG-1')?.state, 'active');
});

t.test('an alert that expired while the agent was down stays silent after the restart, judged by the province time it kept', async (t) => {
  const audio = await beepsServed(t, 610);
  const dir = tempDir('alerts-restart-expired');
  const first = listening();
  let s = await startStation({ alerts: { chime: false } }, dir, { sink: first.sink });
  const now = wholeSecond(Date.now());
  const expiresMs = now + 10_000;
  await s.agent.alerts.receiveCap(capXml({ identifier: 'SHORT-1', sentMs: now - 1000, expiresMs, resources: [audio] }), { origin: 'cap-command', via: 'test' });
  await until(() => first.beeps(610).length >= 2, 30_000, 'the alert on air');
  await s.stop();
  await new Promise((r) => setTimeout(r, Math.max(0, expiresMs - Date.now()) + 500));
  // The province's signed time as the station keeps it (sync's ProvinceClock in meta), past the expiry.
  const db = new Database(databasePath(s.config.paths.state));
  db.prepare("INSERT INTO meta (key, value) VALUES ('sync.province_time', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(Date.now()));
  db.close();

  const second = listening();
  s = await startStation({ alerts: { chime: false }, clock: { trustWithoutSync: false } }, dir, { sink: second.sink });
  t.teardown(() => s.stop());
  await new Promise((r) => setTimeout(r, 4000));
  t.equal(second.beeps(610).length, 0, 'not one beep after the restart');
  t.same(s.switches().filter((x) => x.on), [], 'no relay switched on');
});

t.test('an alert resumed on a kept province time that predates its expiry ends as soon as a newer signed time arrives', async (t) => {
  const audio = await beepsServed(t, 730);
  const dir = tempDir('alerts-restart-bound');
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'broker'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'bound-1', groups: [], password: 'pw-station' }] });
  t.teardown(() => broker.stop());
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  const stationDir = join(dir, 'station');
  const station = { station: { id: 'bound-1' }, alerts: { chime: false } };
  const first = listening();
  let s = await startStation(station, stationDir, { sink: first.sink });
  const now = wholeSecond(Date.now());
  const expiresMs = now + 120_000;
  await s.agent.alerts.receiveCap(capXml({ identifier: 'BOUND-1', sentMs: now - 1000, expiresMs, resources: [audio] }), { origin: 'cap-command', via: 'test' });
  await until(() => first.beeps(730).length >= 2, 30_000, 'the alert on air');
  await s.stop();
  // The station kept a province time from before the expiry, and no clock tells it how long it was down.
  const db = new Database(databasePath(s.config.paths.state));
  db.prepare("INSERT INTO meta (key, value) VALUES ('sync.province_time', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(now));
  db.close();

  const second = listening();
  const sync = { brokers: [broker.url], provinceKeys: [keys.publicPem], password: 'pw-station', tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } };
  s = await startStation({ ...station, clock: { trustWithoutSync: false }, sync }, stationDir, { sink: second.sink });
  t.teardown(() => s.stop());
  await until(() => second.beeps(730).length >= 1, 30_000, 'the alert going on: nothing yet says it expired');
  await until(() => (s.agent.sync?.status().connected ? true : undefined), 20_000, 'the station to connect');
  // The province's clock says the alert's expiry has passed (a step the bound takes: within minutes of it).
  const beacon: TimeBeacon = { type: 'time', seq: province.nextSeq(), issuedMs: expiresMs + 1000 };
  await province.publishRaw(TIME_TOPIC, signPayload(keys.privateKey, beacon), true);
  const beaconAt = Date.now();
  await until(() => s.agent.alerts.status().find((a) => a.identifier === 'BOUND-1')?.state === 'ended', 10_000, 'the alert ended as expired');
  await new Promise((r) => setTimeout(r, 1500));
  const last = Math.max(...second.beeps(730).map((b) => b.startMs + b.durationMs));
  t.ok(last < beaconAt + 1500, `silent ${Math.round(last - beaconAt)} ms after the signed time arrived`);
});
