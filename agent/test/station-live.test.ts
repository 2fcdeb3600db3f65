/**
 * Live relays on a running station, heard at its paced sound card: a
 * programme's live item from a real icecast2 (stream-fixture.ts) plays from
 * its start to its end on its zones, fails over to the backup when the main
 * source dies, is proved by its play-log row (segments, playedMs) and rejoins
 * live after an emergency cut it, to the end it had; a province `live`
 * command on a group is relayed by two stations, each proving what it played.
 */
import t from 'tap';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { wallClockMs } from '../src/audio/clock.js';
import type { LiveSourceSpec } from '../src/domain/types.js';
import { startStation } from './station-fixture.js';
import { ToneTracker, isTone, type ToneSpan } from './audio-fixture.js';
import { freePort, startIcecast } from './stream-fixture.js';
import { sleep } from './daemon-fixture.js';
import { until } from './sync-fixture.js';
import { startProvince } from './province-fixture.js';

const MAIN_HZ = 440;
const BACKUP_HZ = 880;
const ALERT_HZ = 1500;

/** A paced virtual sound card whose every period goes through a tone tracker, on the wall clock. */
function listeningSink() {
  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 4 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  return { sink, tracker };
}

/** Spans of one tone split by less than 300 ms (a loaded machine's underruns, a lossy frame) joined, with their audio added up. */
function heard(spans: ToneSpan[], freqs: readonly number[]): Array<{ freqHz: number; startMs: number; endMs: number; audibleMs: number }> {
  const out: Array<{ freqHz: number; startMs: number; endMs: number; audibleMs: number }> = [];
  for (const s of spans) {
    const freqHz = freqs.find((f) => isTone(s, f));
    if (freqHz === undefined || s.durationMs < 30) continue;
    const last = out.at(-1);
    if (last && last.freqHz === freqHz && s.startMs - last.endMs < 300) {
      last.endMs = s.endMs;
      last.audibleMs += s.durationMs;
    } else out.push({ freqHz, startMs: s.startMs, endMs: s.endMs, audibleMs: s.durationMs });
  }
  return out;
}

const sleepUntil = (ms: number): Promise<void> => sleep(Math.max(0, ms - wallClockMs()));
const s1 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

t.test('a programme\'s live item: the main source from its start, the backup when it dies, to its end, proved', async (t) => {
  const ic = await startIcecast();
  t.teardown(() => ic.close());
  const main = await ic.feed('main.mp3', MAIN_HZ);
  await ic.feed('backup.mp3', BACKUP_HZ);
  const { sink, tracker } = listeningSink();
  const s = await startStation({ board: { port: 0 } }, undefined, { sink });
  t.teardown(() => s.stop());
  const sources: LiveSourceSpec[] = [
    { id: 'vov1', kind: 'http', url: ic.url('main.mp3') },
    { id: 'vov1-backup', kind: 'http', url: ic.url('backup.mp3') },
  ];
  const DURATION = 14_000;
  const at = s.once({ id: 'vov1', name: 'Tiếp sóng VOV1', items: [{ live: { label: 'VOV1', display: 'Đang tiếp sóng VOV1', sources, durationMs: DURATION } }], zones: ['north'] }, 1500);
  await sleepUntil(at + 3000);
  t.equal(s.agent.board?.server.showing()?.ticker, 'Đang tiếp sóng VOV1', 'the board says what is relayed while it plays');
  await sleepUntil(at + 7000);
  const killedAt = wallClockMs();
  await main.stop();
  const [row] = await s.rows(1, 40_000);
  await sleep(300);
  t.equal(s.agent.board?.server.showing()?.ticker, '', 'and stops saying it when the relay ends');
  const tones = heard(tracker.finish(), [MAIN_HZ, BACKUP_HZ]);
  t.comment(tones.map((x) => `${x.freqHz} Hz ${s1(x.startMs - at)}..${s1(x.endMs - at)}`).join('; '));

  t.same(tones.map((x) => x.freqHz), [MAIN_HZ, BACKUP_HZ], 'the main tone, then the backup\'s, nothing else');
  const [m, b] = tones as [(typeof tones)[0], (typeof tones)[0]];
  t.ok(Math.abs(m.startMs - at) < 700, `the main source is heard from the programme's start (${s1(m.startMs - at)} after it)`);
  t.ok(Math.abs(m.endMs - killedAt) < 1500, `the main tone ends when its server dies (${s1(m.endMs - killedAt)} after)`);
  t.ok(b.startMs - m.endMs < 2500, `the backup follows within the dead-air bound (${s1(b.startMs - m.endMs)} of silence)`);
  t.ok(Math.abs(b.endMs - (at + DURATION)) < 800, `the relay ends at its end (${s1(b.endMs - at)} after the start, for ${s1(DURATION)})`);

  t.equal(row!.result, 'played', 'the row says played');
  t.equal(row!.content, undefined, 'a live row names no file');
  t.equal(row!.live?.label, 'VOV1', 'and names the relay');
  t.same(row!.live?.sources.map((x) => x.id), ['vov1', 'vov1-backup'], 'the row names the sources as planned');
  const segs = row!.live?.segments ?? [];
  t.same(segs.map((g) => g.sourceId), ['vov1', 'vov1-backup'], 'segments: the main source, then the backup');
  t.match(segs[0]?.endReason, /dropped|stalled|silent/, `the main source was left because it failed (${segs[0]?.endReason})`);
  t.ok(Math.abs(segs[0]!.startMs - m.startMs) < 700, `the main segment starts with the main tone at the sink (${s1(segs[0]!.startMs - m.startMs)})`);
  t.ok(Math.abs(segs[1]!.startMs - b.startMs) < 700, `the backup segment starts with the backup tone at the sink (${s1(segs[1]!.startMs - b.startMs)})`);
  t.ok(Math.abs((segs[1]!.endMs ?? 0) - b.endMs) < 700, 'the backup segment ends with the relay');
  const atSink = b.endMs - m.startMs;
  t.ok(Math.abs(row!.playedMs! - atSink) < 700, `playedMs ${row!.playedMs} matches the ${Math.round(atSink)} ms from the first to the last sample at the sink`);
  t.ok(Math.abs(row!.startedMs! - m.startMs) < 300, 'startedMs is the first sample at the sink');

  const sw = s.switches();
  const on = sw.find((x) => x.name === 'north' && x.on);
  const off = sw.find((x) => x.name === 'north' && !x.on && on !== undefined && x.atMs > on.atMs);
  t.ok(on && on.atMs <= m.startMs, 'the zone was switched on before the relay was heard');
  t.ok(off && off.atMs >= b.endMs - 50, 'and off only after its last sample');
  t.notOk(sw.some((x) => x.name === 'south' && x.on), 'the zone not named stayed off');
});

t.test('an emergency cuts a live relay; the relay is rejoined live afterwards, to the end it had (nothing replayed)', async (t) => {
  const ic = await startIcecast();
  t.teardown(() => ic.close());
  await ic.feed('main.mp3', MAIN_HZ);
  const { sink, tracker } = listeningSink();
  const s = await startStation({}, undefined, { sink });
  t.teardown(() => s.stop());
  const alert = await s.tone('alert', { seconds: 2, freq: ALERT_HZ });
  const DURATION = 14_000;
  const at = s.once({ id: 'vov1', name: 'Tiếp sóng VOV1', items: [{ live: { label: 'VOV1', sources: [{ id: 'vov1', kind: 'http', url: ic.url('main.mp3') }], durationMs: DURATION } }], zones: ['north'] }, 1500);
  await sleepUntil(at + 4000);
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Lũ quét', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'cli' });
  const rows = await s.rows(3, 40_000);
  await sleep(300);
  const tones = heard(tracker.finish(), [MAIN_HZ, ALERT_HZ]);
  t.comment(tones.map((x) => `${x.freqHz} Hz ${s1(x.startMs - at)}..${s1(x.endMs - at)}`).join('; '));

  t.same(tones.map((x) => x.freqHz), [MAIN_HZ, ALERT_HZ, MAIN_HZ], 'the relay, the alert, the relay again');
  const [before, alarm, after] = tones as [(typeof tones)[0], (typeof tones)[0], (typeof tones)[0]];
  t.ok(Math.abs(before.startMs - at) < 700, 'the relay starts at the programme\'s start');
  t.ok(Math.abs(alarm.endMs - alarm.startMs - 2000) < 200, 'the alert is heard whole');
  t.ok(after.startMs - alarm.endMs < 3000, `the relay is rejoined right after the alert (${s1(after.startMs - alarm.endMs)})`);
  t.ok(Math.abs(after.endMs - (at + DURATION)) < 900, `and ends at the end it had (${s1(after.endMs - at)} after the start), not ${s1(DURATION)} after the rejoin`);

  t.same(rows.map((r) => `${r.live ? 'live' : r.content === alert ? 'alert' : r.content} ${r.result}`), ['live interrupted', 'alert played', 'live played'], 'rows: the cut relay, the alert, the rejoined relay');
  const [cut, , rejoined] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
  t.ok(Math.abs(cut.playedMs! - (before.endMs - before.startMs)) < 700, `the cut row's playedMs ${cut.playedMs} matches the sink`);
  t.ok(Math.abs(rejoined.playedMs! - (after.endMs - after.startMs)) < 700, `the rejoined row's playedMs ${rejoined.playedMs} matches the sink`);
  t.same(rejoined.live?.segments.map((g) => g.sourceId), ['vov1'], 'the rejoined relay played its main source');
  t.equal(rejoined.occurrenceId, cut.occurrenceId, 'both rows prove the same occurrence');
});

t.test('a relay whose every source is dead: a failed row that says so, and the programme goes on', async (t) => {
  const { sink, tracker } = listeningSink();
  const s = await startStation({}, undefined, { sink });
  t.teardown(() => s.stop());
  const next = await s.tone('next', { seconds: 1, freq: BACKUP_HZ });
  const nobody = await freePort();
  s.once({ id: 'vov1', name: 'Tiếp sóng VOV1', items: [{ live: { label: 'VOV1', sources: [{ id: 'vov1', kind: 'http', url: `http://127.0.0.1:${nobody}/vov1.mp3` }], durationMs: 8000 } }, { content: next, repeat: 1, gapMs: 0 }], zones: ['north'] }, 1500);
  // 8 s: on a loaded machine ffmpeg can take seconds to start and report the refused connection; a relay
  // that ends first says only that it ended.
  const [live, file] = await s.rows(2, 30_000);
  await sleep(300);
  t.equal(live!.result, 'failed', 'the relay is a failed row');
  t.match(live!.reason, /no live source could be heard \(vov1 dropped\)/, 'saying which source failed how');
  t.equal(file!.result, 'played', 'the next item played');
  t.same(heard(tracker.finish(), [MAIN_HZ, BACKUP_HZ]).map((x) => x.freqHz), [BACKUP_HZ], 'the sink heard only the next item');
});

t.test('a province live command on a group reaches two stations; both relay it and report what they played', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  const ic = await startIcecast();
  t.teardown(() => ic.close());
  await ic.feed('tinh.mp3', MAIN_HZ);
  const sync = (id: string) => ({
    station: { id, locale: 'en' },
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, groups: ['muong-te'], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  });
  const stations = await Promise.all(['xa-ka-lang', 'xa-thu-lum'].map(async (id) => {
    const { sink, tracker } = listeningSink();
    const s = await startStation(sync(id), undefined, { sink });
    t.teardown(() => s.stop());
    return { id, s, tracker };
  }));
  for (const { s } of stations) await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');

  const DURATION = 8000;
  const sentAt = wallClockMs();
  const cmd = await province.send({ group: 'muong-te' }, {
    action: 'live', sources: [{ id: 'tinh', kind: 'http', url: ic.url('tinh.mp3') }], durationMs: DURATION, priority: 5, label: 'Đài tỉnh', display: 'Đang tiếp sóng Đài tỉnh',
  });
  for (const { id } of stations) t.equal((await province.waitResponse(cmd.id, (r) => r.station === id && r.status !== 'accepted')).status, 'done', `${id} took the command`);
  for (const { id, s, tracker } of stations) {
    const [row] = await s.rows(1, 30_000);
    await sleep(300);
    const tones = heard(tracker.finish(), [MAIN_HZ]);
    t.comment(`${id}: ${tones.map((x) => `${x.freqHz} Hz ${s1(x.startMs - sentAt)}..${s1(x.endMs - sentAt)}`).join('; ')}`);
    t.equal(tones.length, 1, `${id}: the stream is heard, once`);
    const tone = tones[0]!;
    t.ok(tone.startMs - sentAt < 5000, `${id}: joined ${s1(tone.startMs - sentAt)} after the command (loose: scripts/bench live measures)`);
    t.ok(Math.abs(tone.endMs - tone.startMs - DURATION) < 600, `${id}: for its duration (${s1(tone.endMs - tone.startMs)})`);
    t.equal(row!.requestId, cmd.id, `${id}: the row proves the command`);
    t.equal(row!.result, 'played', 'the row says played');
    t.ok(Math.abs(row!.playedMs! - (tone.endMs - tone.startMs)) < 600, `${id}: playedMs ${row!.playedMs} matches the sink`);
    t.same(row!.live?.segments.map((g) => g.sourceId), ['tinh'], `${id}: one segment, the province's stream`);
    t.same(s.switches().filter((x) => x.on).map((x) => x.name).sort(), ['amp', 'north', 'south'], `${id}: every zone switched on (no zones named)`);
  }
  // What each station played reaches the province, with its segments.
  await until(() => stations.every(({ id }) => [...province.received.values()].some((m) => m.kind === 'play' && m.station === id)), 20_000, 'both play rows at the province');
  for (const { id } of stations) {
    const body = [...province.received.values()].find((m) => m.kind === 'play' && m.station === id)!.body as { live?: { segments: Array<{ sourceId: string }> } };
    t.same(body.live?.segments.map((g) => g.sourceId), ['tinh'], `${id}: the province has the segments`);
  }

  // Without a duration the relay lasts until the province stops it.
  const { id, s, tracker } = stations[0]!;
  tracker.finish();
  tracker.spans.splice(0);
  const open = await province.send({ station: id }, { action: 'live', sources: [{ id: 'tinh', kind: 'http', url: ic.url('tinh.mp3') }], priority: 5, label: 'Đài tỉnh' });
  t.equal((await province.waitResponse(open.id)).status, 'done', 'a live command without a duration is taken');
  await until(() => s.agent.conductor.nowPlaying()?.live, 10_000, 'the open relay on air');
  await sleep(2500);
  const stopAt = wallClockMs();
  const stop = await province.send({ station: id }, { action: 'stop', commandId: open.id });
  t.equal((await province.waitResponse(stop.id)).status, 'done', 'stopped by the province');
  const [, row] = await s.rows(2, 20_000);
  await sleep(300);
  const tones = heard(tracker.finish(), [MAIN_HZ]);
  t.equal(tones.length, 1, 'the open relay was heard');
  t.ok(tones[0]!.endMs - stopAt < 1500, `and ended at the stop (${s1(tones[0]!.endMs - stopAt)} after it was sent)`);
  t.equal(row!.requestId, open.id, 'its row proves the open command');
  t.ok(Math.abs(row!.playedMs! - (tones[0]!.endMs - tones[0]!.startMs)) < 600, `playedMs ${row!.playedMs} matches the sink`);
});
