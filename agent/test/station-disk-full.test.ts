/**
 * The SD card fills up (or goes read-only) in the middle of a programme:
 * the station keeps playing what it can, says what is wrong where the
 * operator looks, and writes its records once the card takes them again.
 * The state folder is a real tmpfs (under the soaks' FUSE layer), filled
 * to its last byte or remounted read-only.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { makeTestTone } from '../src/audio/tones.js';
import { SoakDisk } from '../bench/soak/disk.js';
import { startProvince } from './province-fixture.js';
import { startStation } from './station-fixture.js';
import { until as waitFor } from './sync-fixture.js';
import { killHard, loa, loaJson, simStationConfig, sleep, startDaemon, tonesHeard, until, type Daemon } from './daemon-fixture.js';

const root = process.getuid?.() === 0;

for (const fault of ['full', 'read-only'] as const) t.test(`the state disk ${fault === 'full' ? 'fills up' : 'is remounted read-only'} mid-programme: the rest plays, the records follow`, { skip: root ? false : 'mounts a tmpfs and a FUSE file system: run as root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-disk-full-'));
  // The soaks' disk: a small tmpfs (it fills, and remounts read-only) under the FUSE layer, whose files
  // the kernel does not count as open for writing on the tmpfs itself.
  const disk = new SoakDisk(dir, 24);
  await disk.start();
  t.teardown(() => disk.stop());
  t.equal(disk.mount, join(dir, 'state'), 'the station config below keeps its state there');
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'disk-full', dir, sink })));
  const d: Daemon = await startDaemon(configPath);
  t.teardown(() => killHard(d));
  const tones = [440, 660, 880];
  const shas: string[] = [];
  for (const f of tones) shas.push((await loaJson<{ sha256: string }>(configPath, 'cache', 'import', await makeTestTone(join(dir, `t${f}.wav`), 'ffmpeg', { durationMs: 3000, frequencyHz: f }))).sha256);
  const at = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 4 }).startOf('second');
  writeFileSync(join(dir, 's.json'), JSON.stringify({ programmes: [{ id: 'news', name: 'news', recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') }, items: shas.map((content) => ({ content })), zones: ['north'] }] }));
  t.equal((await loa('--config', configPath, 'schedule', 'import', join(dir, 's.json'))).code, 0);
  await until('the first item on air', async () => (tonesHeard(sink, tones).length > 0 ? true : undefined), 30_000);
  if (fault === 'full') disk.fill();
  else disk.readOnly(true);
  await until('the rest of the programme', async () => (tonesHeard(sink, tones).length === 3 ? true : undefined), 30_000);
  await sleep(3500); // the last item to its end
  const heard = tonesHeard(sink, tones);
  t.same(heard.map((h) => h.freq), tones, 'every item heard, in order, once');
  t.ok(heard.every((h) => Math.abs(h.durationS - 3) <= 0.1), `each whole: ${JSON.stringify(heard)}`);
  const st = await loaJson<{ problems: string[] }>(configPath, 'status');
  t.ok(st.problems.some((p) => /state disk takes no writes \((database or disk is full|disk I\/O error|attempt to write a readonly database)\).*records held in memory/.test(p)), `loa status says so: ${JSON.stringify(st.problems)}`);

  // Room again: the records held in memory are written, and the programme is not played again.
  // An emergency while the disk still refuses everything: it plays, and its row follows with the others.
  const siren = shas[0]!;
  const asked = await loa('--config', configPath, '--json', 'play', siren, '--class', 'emergency');
  t.equal(asked.code, 0, `loa play --class emergency is accepted: ${asked.err}${asked.out}`);
  await until('the emergency heard', async () => (tonesHeard(sink, tones).length === 4 ? true : undefined), 30_000);
  await sleep(3500);
  t.same(tonesHeard(sink, tones).map((h) => h.freq), [...tones, 440], 'the emergency on the speakers');

  disk.heal();
  await until('the rows written', async () => {
    const log = await loaJson<{ rows: Array<{ result: string; content?: string }> }>(configPath, 'log', '--limit', '20');
    return log.rows.filter((r) => r.result === 'played').length >= 4 ? log.rows : undefined;
  }, 20_000);
  const log = await loaJson<{ rows: Array<{ result: string; content?: string }> }>(configPath, 'log', '--limit', '20');
  t.same(log.rows.filter((r) => r.result === 'played').map((r) => r.content).sort(), [...shas, siren].sort(), 'one played row per item, and the emergency\'s');
  t.same((await loaJson<{ problems: string[] }>(configPath, 'status')).problems.filter((p) => /state disk/.test(p)), [], 'and the problem is gone');
  await sleep(3000);
  t.same(tonesHeard(sink, tones).map((h) => h.freq), [...tones, 440], 'nothing replayed');
});

for (const fault of ['full', 'read-only'] as const) t.test(`a province emergency while the state disk is ${fault}: it plays, once, and its answer and row follow`, { skip: root ? false : 'mounts a tmpfs and a FUSE file system: run as root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-disk-full-sync-'));
  const disk = new SoakDisk(dir, 24);
  await disk.start();
  t.teardown(() => disk.stop());
  const { broker, content, keys, province } = await startProvince(t);
  const s = await startStation({ sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } } }, dir);
  t.teardown(() => s.stop());
  t.equal(s.config.paths.state, disk.mount, 'the station keeps its state on that disk');
  await waitFor(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');
  const alert = content.add(await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 1500, frequencyHz: 1500 }), 'alert.wav');
  await province.publishTarget({ station: s.config.station.id, programmes: [], content: [alert] });
  await waitFor(() => s.agent.media.has(alert.sha256) || undefined, 20_000, 'the emergency content in the cache');
  // Offline for a moment, events queued: they go out once the disk takes no writes, so their rows cannot be deleted.
  await broker.goDown();
  await waitFor(() => !s.agent.sync?.status().connected || undefined, 20_000, 'the station offline');
  const queued = ['one', 'two', 'three'].map((n) => `disk-full.${n}`);
  for (const e of queued) s.agent.sync!.event(e, 'info', `queued while offline: ${e}`);
  if (fault === 'full') disk.fill();
  else disk.readOnly(true);
  await broker.comeBack();
  await waitFor(() => s.agent.sync?.status().connected, 20_000, 'the station back');
  const eventsThere = (): string[] => [...province.received.values()].filter((m) => m.kind === 'event').map((m) => (m.body as { event: string }).event);
  await province.waitFor(() => (queued.every((e) => eventsThere().includes(e)) ? true : undefined), 20_000, 'the queued events at the province');
  const duplicates = province.duplicates;
  // A time beacon first: its clock bound cannot be written either, and that must not cost the command after it.
  await province.beacon();
  const cmd = await province.send({ station: s.config.station.id }, { action: 'play', content: alert.sha256, priority: 9, repeat: 1, label: 'Lũ quét' });
  await waitFor(() => s.played.find((r) => r.content === alert.sha256 && r.result === 'played'), 20_000, 'the emergency played');
  const sink = s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '';
  t.same(tonesHeard(sink, [1500]).map((h) => h.freq), [1500], 'on the speakers');
  t.ok(s.agent.problems().some((p) => /province link: the state disk takes no writes/.test(p)), `the operator is told: ${JSON.stringify(s.agent.problems())}`);
  // The broker redelivers it (a reconnect, a province retry): known in memory, answered, not played again.
  await province.send({ station: s.config.station.id }, { action: 'play', content: alert.sha256, priority: 9, repeat: 1, label: 'Lũ quét' }, { id: cmd.id });
  await sleep(2500);
  t.same(tonesHeard(sink, [1500]).map((h) => h.freq), [1500], 'played once');

  disk.heal();
  const answer = await province.waitResponse(cmd.id, (r) => r.status === 'done', 20_000);
  t.equal(answer.status, 'done', 'its answer reaches the province once the disk takes it');
  const atProvince = (): unknown => [...province.received.values()].find((m) => m.kind === 'play' && (m.body as { content?: string; result?: string }).content === alert.sha256 && (m.body as { result?: string }).result === 'played');
  t.ok(await province.waitFor(atProvince, 20_000, 'the play-log row at the province'), 'and its play-log row');
  t.same(s.agent.problems().filter((p) => /state disk/.test(p)), [], 'and the problem is gone');
  await waitFor(() => s.agent.sync?.status().outboxDepth === 0 || undefined, 20_000, 'the outbox empty');
  t.equal(province.duplicates, duplicates, 'the events the disk would not let go were not sent again');
});
