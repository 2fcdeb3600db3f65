/**
 * Public alerts at a real station, proven at its outputs: the tone heard at
 * a paced sound card, the relay transition journal, the play-log rows. CAP
 * documents come signed from the province (embedded broker) or straight to
 * the alert manager where the link is not the point.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, type Station } from './station-fixture.js';
import { ToneTracker, isTone, joinedTones, makeTone, tempDir, type ToneSpan } from './audio-fixture.js';
import { startProvince } from './province-fixture.js';
import { until } from './sync-fixture.js';
import { capXml, wholeSecond } from './alerts-fixture.js';
import { ContentServer } from '../../province/src/content-server.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

const AREA = { commune: '00292', codes: { '0029201': ['north'], '0029202': ['south'] } };

/** A station heard at a paced sound card, with the alert area map and no chime (the first audible tone is the alert's). */
async function listeningStation(t: Test, over: Record<string, unknown> = {}): Promise<{ s: Station; spans: () => ToneSpan[] }> {
  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 4 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  const s = await startStation({ alerts: { area: AREA, chime: false }, ...over }, undefined, { sink });
  t.teardown(() => s.stop());
  return { s, spans: () => [...tracker.spans] };
}

/** Tones of `freq` heard, underrun splits joined (the beeps are 200 ms apart); at least `minMs`: a syllable of the spoken headline is not a beep. */
const heard = (spans: ToneSpan[], freq: number, minMs = 300): ToneSpan[] => joinedTones(spans, freq, minMs);

/**
 * Audio resources served over HTTP. `beeps`: 800 ms of tone in every second,
 * so two alerts back to back are told apart at the sink by their beeps.
 */
async function served(t: Test): Promise<{ beeps(name: string, seconds: number, freq: number): { uri: string; file: string } }> {
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const dir = tempDir('alerts-audio');
  return {
    beeps(name, seconds, freq) {
      const file = join(dir, `${name}.wav`);
      execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=f=${freq}:d=${seconds}:sample_rate=16000`,
        '-af', "volume='if(lt(mod(t,1),0.8),0.25,0)':eval=frame,pan=stereo|c0=c0|c1=c0", '-c:a', 'pcm_s16le', file]);
      return { uri: content.add(file, `${name}.wav`).url, file };
    },
  };
}

t.test('a signed CAP Actual alert for one village: its tone on that village zone only, the alert id in the proof of play', async (t) => {
  const { broker, keys, province, content } = await startProvince(t);
  const { s, spans } = await listeningStation(t, {
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, groups: ['lai-chau'], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  });
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');
  const file = makeTone(tempDir('alerts-cap'), 'flood', 'wav', { seconds: 3, freq: 880, rate: 16000 });
  const uri = content.add(file, 'flood.wav').url;
  const now = wholeSecond(Date.now());
  const cap = capXml({ identifier: 'LC-2026-0001', sentMs: now, expiresMs: now + 3_600_000, geocodes: ['0029201'], resources: [{ uri, file }] });

  const cmd = await province.send({ group: 'lai-chau' }, { action: 'alert', cap });
  const answer = await province.waitResponse(cmd.id);
  t.equal(answer.status, 'done', `the station took the alert: ${answer.reason ?? ''}`);
  // Its resource, fetched and digest-checked (the spoken headline may go first on a loaded machine: the 2 s rule).
  const row = await until(() => s.played.find((r) => r.content === sha256(file)), 30_000, 'the resource played');
  t.equal(row.result, 'played');
  t.equal(row.alertId, 'LC-2026-0001', 'the play-log row names the CAP identifier');
  t.same(row.zones, ['north'], 'the row says where it played');
  t.equal(row.priority, 9);
  t.ok(s.played.every((r) => r.alertId === 'LC-2026-0001' && r.zones.join() === 'north'), 'every part of it on that zone');
  // Until the whole tone is in (its row comes as its last bytes enter the sink); an underrun of a loaded machine
  // may cut it in two, and nothing else sounds near 880 Hz here, so its pieces join across a second.
  const whole = (): ToneSpan[] => joinedTones(spans(), 880, 300, 1000);
  for (const deadline = Date.now() + 10_000; (whole()[0]?.durationMs ?? 0) < 2900 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
  const tones = whole();
  t.equal(tones.length, 1, 'the alert tone was heard once');
  t.ok(tones[0]!.durationMs > 2500, `all of it (${Math.round(tones[0]!.durationMs)} ms of 3000 heard; a loaded machine's underruns blur the edges)`);
  t.equal(row.playedMs, 3000, 'every sample of it reached the sink');
  const switched = s.switches().filter((x) => x.on).map((x) => x.name);
  t.ok(switched.includes('north'), 'the village zone was switched on');
  t.notOk(switched.includes('south'), 'the other village never was (relay journal)');
  await until(() => [...province.received.values()].some((m) => m.kind === 'play' && (m.body as { alertId?: string }).alertId === 'LC-2026-0001'), 20_000, 'the row at the province with its alert id');
});

t.test('a Test alert never reaches a village zone; hostile CAP is refused with its reason and the station plays on', async (t) => {
  const { s, spans } = await listeningStation(t);
  const now = wholeSecond(Date.now());
  const r = await s.agent.alerts.receiveCap(capXml({ identifier: 'TEST-1', status: 'Test', sentMs: now, expiresMs: now + 600_000 }), { origin: 'cap-command', via: 'test' });
  t.equal(r.status, 'done');
  t.equal(r.result?.state, 'monitor-only', 'a Test goes to the local monitor (log, events, loa status)');
  const bad = await s.agent.alerts.receiveCap('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>x</identifier></alert>', { origin: 'cap-command', via: 'test' });
  t.equal(bad.status, 'rejected');
  t.match(bad.reason, /CAP refused/);
  await new Promise((r) => setTimeout(r, 2500));
  t.same(s.switches().filter((x) => x.on), [], 'no relay switched on (transition journal)');
  t.equal(spans().length, 0, 'the sink heard nothing');
  t.equal(s.played.length, 0, 'and nothing was logged as played');
  const events = s.agent.store.db.prepare("SELECT payload FROM outbox WHERE kind = 'event'").all() as Array<{ payload: string }>;
  t.ok(events.some((e) => e.payload.includes('alert.monitor') && e.payload.includes('TEST-1')), 'the province hears of the test alert');
  t.ok(events.some((e) => e.payload.includes('alert.refused')), 'and of the refused document');
  t.equal(s.agent.alerts.status().find((a) => a.identifier === 'TEST-1')?.state, 'ended');
});

t.test('an Update replaces the audio mid-play; a queued alert cancelled never plays; a Cancel silences', async (t) => {
  const { s, spans } = await listeningStation(t);
  const audio = await served(t);
  const a = audio.beeps('a', 30, 440);
  const b = audio.beeps('b', 40, 660);
  const c = audio.beeps('c', 4, 1320);
  const now = wholeSecond(Date.now()) - 5000;
  const receive = (spec: Parameters<typeof capXml>[0]) => s.agent.alerts.receiveCap(capXml(spec), { origin: 'cap-command', via: 'test' });
  await receive({ identifier: 'FLOOD-1', sentMs: now, expiresMs: now + 3_600_000, resources: [a] });
  await until(() => heard(spans(), 440).length >= 2, 30_000, 'tone A at the sink');

  const updateAt = Date.now();
  await receive({ identifier: 'FLOOD-2', msgType: 'Update', sentMs: now + 1000, expiresMs: now + 3_600_000, references: [{ identifier: 'FLOOD-1', sentMs: now }], resources: [b] });
  await until(() => heard(spans(), 660).length >= 1, 30_000, 'tone B at the sink');
  // The beep cut short counts too (heard at all: 50 ms).
  const lastA = heard(spans(), 440, 50).at(-1)!;
  const firstB = heard(spans(), 660)[0]!;
  t.ok(lastA.endMs < updateAt + 4000, `A stopped after the Update (${Math.round(lastA.endMs - updateAt)} ms; scripts/bench alert measures it)`);
  t.ok(firstB.startMs > lastA.endMs, 'B after A, never both');
  t.ok(heard(spans(), 440).length < 20, 'A was cut, not played out');

  // Another alert, queued behind B (the same priority waits), then cancelled: never heard.
  await receive({ identifier: 'STORM-1', sentMs: now + 2000, expiresMs: now + 3_600_000, resources: [c] });
  await until(() => s.agent.store.pendingRequests('now').some((r) => r.request.alert?.id === 'STORM-1'), 20_000, 'the storm alert queued');
  await receive({ identifier: 'STORM-2', msgType: 'Cancel', sentMs: now + 3000, references: [{ identifier: 'STORM-1', sentMs: now + 2000 }], noInfo: true });
  await until(() => !s.agent.store.pendingRequests('now').some((r) => r.request.alert?.id === 'STORM-1'), 10_000, 'the queued alert withdrawn');

  const cancelAt = Date.now();
  await receive({ identifier: 'FLOOD-3', msgType: 'Cancel', sentMs: now + 4000, references: [{ identifier: 'FLOOD-2', sentMs: now + 1000 }], noInfo: true });
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'nothing on air');
  await new Promise((r) => setTimeout(r, 1500));
  const lastB = heard(spans(), 660, 50).at(-1)!;
  t.ok(lastB.endMs < cancelAt + 3000, `B silenced after the Cancel (${Math.round(lastB.endMs - cancelAt)} ms)`);
  t.ok(heard(spans(), 660).length < 30, 'B was cut, not played out');
  t.equal(heard(spans(), 1320).length, 0, 'the cancelled queued alert was never heard');
  const rows = s.agent.store.recentPlays(50);
  t.ok(rows.some((r) => r.alertId === 'FLOOD-1' && r.result === 'interrupted' && r.playedMs! < 30_000), 'A is logged cut by the update, with what of it was heard');
  t.ok(rows.some((r) => r.alertId === 'FLOOD-2' && r.result === 'interrupted' && r.playedMs! < 40_000), 'B is logged cut by the cancel');
  t.notOk(rows.some((r) => r.alertId === 'STORM-1' && r.result === 'played'), 'the storm alert never logged as played');
  t.equal(s.agent.alerts.status().find((x) => x.identifier === 'FLOOD-2')?.state, 'cancelled');
});

t.test('an expired alert is silent, with the clock unsynchronised too (the province clock bounds it)', async (t) => {
  const { s, spans } = await listeningStation(t, { clock: { trustWithoutSync: false } });
  t.equal(s.agent.clock.trusted, false, 'the station clock is not trusted');
  const audio = await served(t);
  const tone = audio.beeps('old', 3, 550);
  const now = wholeSecond(Date.now());
  // The province's signed time: an hour after the alert expired.
  s.agent.store.setMeta('sync.province_time', String(now));
  const r = await s.agent.alerts.receiveCap(capXml({ identifier: 'OLD-1', sentMs: now - 7_200_000, expiresMs: now - 3_600_000, resources: [tone] }), { origin: 'cap-command', via: 'test' });
  t.equal(r.result?.state, 'expired', r.result?.reason ?? '');
  await new Promise((r) => setTimeout(r, 2500));
  t.same(s.switches().filter((x) => x.on), [], 'no relay switched on (transition journal)');
  t.equal(heard(spans(), 550).length, 0, 'nothing heard');
});


t.test('an alert never waits for its audio: not there in 2 s, the spoken headline goes first, then the audio once it has come', async (t) => {
  const { s, spans } = await listeningStation(t);
  const src = (await served(t)).beeps('slow', 4, 520);
  const body = readFileSync(src.file);
  // A server on a slow mobile link: the whole resource, 6 s late.
  const server = createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'audio/x-wav', 'content-length': body.length });
      res.end(body);
    }, 6000);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow.wav`;
  const now = wholeSecond(Date.now());
  const receivedAt = Date.now();
  await s.agent.alerts.receiveCap(capXml({ identifier: 'SLOW-1', sentMs: now - 1000, expiresMs: now + 600_000, geocodes: ['00292'], resources: [{ uri, file: src.file }] }), { origin: 'cap-command', via: 'test' });
  // Its beeps (800 ms in each second) heard for 2.4 s in all, however the 200 ms gaps between them are split.
  const beepMs = (): number => heard(spans(), 520).reduce((sum, x) => sum + x.durationMs, 0);
  await until(() => (beepMs() > 2400 ? true : undefined), 40_000, 'the alert audio once it has arrived');
  const first = spans().find((x) => x.startMs >= receivedAt && x.durationMs > 50)!;
  t.ok(first.startMs - receivedAt < 3000, `first sound ${Math.round(first.startMs - receivedAt)} ms after the alert came (2 s rule, with a margin)`);
  t.notOk(isTone(first, 520), 'and that is the spoken headline, not the audio still on its way');
  const audio = heard(spans(), 520)[0]!;
  t.ok(audio.startMs - receivedAt >= 6000, `the audio itself ${Math.round(audio.startMs - receivedAt)} ms after, once it has come`);
  t.ok(s.switches().some((x) => x.name === 'north' && x.on), 'on the village zones');
});
