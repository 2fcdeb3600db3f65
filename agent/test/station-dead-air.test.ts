/**
 * Dead air at the output of a whole station: a programme whose file holds
 * 15 s of digital silence between two tones, then a 5 s gap, then a last
 * item. The alarm must be raised within its set time (3 s here) + 1 s of
 * the silence reaching the sink, cleared when the tone is back, shown by
 * `loa status` (the real CLI over the agent's control socket) and sent as
 * events to the province through a real Mosquitto (TLS, passwords, ACL).
 * The gap between items, longer than the set time, is not an alarm.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { PacedSink } from '../src/audio/sink.js';
import { pcmLevelDb } from '../src/audio/pcm.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation } from './station-fixture.js';
import { killHard, loa, loaJson, simStationConfig, startDaemon, tonesAt, until } from './daemon-fixture.js';
import { until as untilTrue } from './sync-fixture.js';

const HOLD_MS = 3000;

t.test('15 s of silence inside a programme is dead air; the gap after it is not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-dead-air-'));
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'mosq'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'test-station', groups: [], password: 'pw-st' }] });
  t.teardown(() => broker.stop());
  const ca = readFileSync(broker.certs.caFile);
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  const passwordFile = join(dir, 'st.password');
  writeFileSync(passwordFile, 'pw-st\n', { mode: 0o600 });

  // What the sink plays, period by period: the stretches of silence, on the wall clock.
  const sinkPath = join(dir, 'out.raw');
  const sink = new PacedSink({ path: sinkPath, recordGapMs: 60_000 }, silentLogger());
  const quiet: Array<{ fromMs: number; toMs: number | null }> = [];
  let loudSeen = false;
  sink.onPlayed((period, atMs) => {
    const silent = pcmLevelDb(period) <= -50;
    const open = quiet.at(-1)?.toMs === null ? quiet.at(-1)! : null;
    if (!silent) {
      loudSeen = true;
      if (open) open.toMs = atMs;
    } else if (loudSeen && !open) quiet.push({ fromMs: atMs, toMs: null });
  });

  const s = await startStation(
    {
      audio: { sink: { kind: 'file', path: sinkPath }, chime: { enabled: false }, deadAir: { thresholdDb: -50, holdMs: HOLD_MS } },
      sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile, tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
    },
    dir,
    { sink },
  );
  t.teardown(() => s.stop());
  await untilTrue(() => s.agent.sync?.status().connected, 20_000, 'the station to connect to Mosquitto');

  // 2 s of 600 Hz, 15 s of digital silence, 2 s of 600 Hz: one file, made by ffmpeg.
  const holed = join(dir, 'holed.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-filter_complex',
    'sine=f=600:d=2:sample_rate=48000[a];anullsrc=r=48000:cl=mono,atrim=duration=15[b];sine=f=600:d=2:sample_rate=48000[c];[a][b][c]concat=n=3:v=0:a=1,pan=stereo|c0=c0|c1=c0',
    '-c:a', 'pcm_s16le', holed]);
  const holedSha = (await s.agent.media.importFile(holed, 'holed')).sha256;
  const after = await s.tone('after', { seconds: 2, freq: 900 });

  const transitions: Array<{ kind: string; atMs: number; seenMs: number }> = [];
  s.agent.media.deadAir.onDeadAir((x) => transitions.push({ kind: x.kind, atMs: x.atMs, seenMs: Date.now() }));
  // The operator's view: `loa status` polled the way a person would watch it (faster).
  process.env.LOA_SOCKET = s.config.paths.socket;
  const seen: Array<{ atMs: number; alarm: boolean; text: string }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await loa('--config', '/nonexistent', '--json', 'status');
      const status = JSON.parse(r.out) as { deadAir: { alarm: boolean }; problems: string[] };
      seen.push({ atMs: Date.now(), alarm: status.deadAir.alarm, text: status.problems.join('\n') });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  s.once({ id: 'holed', name: 'Bản tin có lỗ', zones: ['north'], items: [{ content: holedSha, repeat: 1, gapMs: 5000 }, { content: after, repeat: 1, gapMs: 0 }] }, 1000);
  const rows = await s.rows(2, 60_000);
  let human = '';
  await untilTrue(() => {
    const last = seen.at(-1);
    return last && !last.alarm && seen.some((x) => x.alarm);
  }, 10_000, 'loa status to show the alarm cleared');
  const r = await loa('--config', '/nonexistent', '--lang', 'en', 'status');
  human = r.out;
  polling = false;
  await poller;
  t.same(rows.map((x) => x.result), ['played', 'played']);

  // At the sink: the 15 s hole and the 5 s gap, in that order.
  const holes = quiet.filter((q) => q.toMs !== null && q.toMs - q.fromMs > 2000);
  t.equal(holes.length, 2, `two long silences at the sink: ${JSON.stringify(holes.map((h) => Math.round(h.toMs! - h.fromMs)))}`);
  const [hole, gap] = holes as Array<{ fromMs: number; toMs: number }>;
  // An underrun next to it (a starved machine) lengthens the silence heard, never shortens it.
  t.ok(hole!.toMs - hole!.fromMs > 14_950 && hole!.toMs - hole!.fromMs < 16_500, `the hole lasted 15 s at the sink (${Math.round(hole!.toMs - hole!.fromMs)} ms)`);
  t.ok(gap!.toMs - gap!.fromMs > HOLD_MS + 1000, 'the gap between the items is longer than the set time');
  const heard = tonesAt(sinkPath).filter((x) => x.durationS > 1);
  t.same(heard.map((x) => (Math.abs(x.freq - 600) <= 30 ? 600 : Math.abs(x.freq - 900) <= 45 ? 900 : x.freq)), [600, 600, 900], `tone, tone after the hole, the last item: ${JSON.stringify(heard)}`);

  // Raised once, within its set time + 1 s of the silence reaching the sink; cleared when the tone came back.
  t.same(transitions.map((x) => x.kind), ['raised', 'cleared'], 'one alarm: the gap raised none');
  const raisedWall = transitions[0]!.seenMs;
  t.ok(raisedWall - hole!.fromMs >= HOLD_MS - 50, `not before its set time (${Math.round(raisedWall - hole!.fromMs)} ms)`);
  t.ok(raisedWall - hole!.fromMs <= HOLD_MS + 1000, `raised within set time + 1 s (${Math.round(raisedWall - hole!.fromMs)} ms after the silence)`);
  const clearedWall = transitions[1]!.seenMs;
  t.ok(clearedWall >= hole!.toMs - 50 && clearedWall - hole!.toMs <= 1000, `cleared within 1 s of the sound returning (${Math.round(clearedWall - hole!.toMs)} ms)`);

  // loa status: the alarm shown while it was raised, and only then (with the CLI's own polling delay).
  const shown = seen.filter((x) => x.alarm);
  t.ok(shown.length > 0, 'loa status showed the alarm');
  t.ok(shown[0]!.atMs - hole!.fromMs <= HOLD_MS + 1000 + 500, `loa status showed it within set time + 1 s (+ its polling) (${Math.round(shown[0]!.atMs - hole!.fromMs)} ms)`);
  t.ok(shown.every((x) => x.atMs >= hole!.fromMs + HOLD_MS - 50 && x.atMs <= hole!.toMs + 1000 + 500), 'never outside the hole: not in the gap');
  t.match(shown[0]!.text, /dead air/);
  t.notMatch(human, /DEAD AIR/, 'the human status no longer says dead air');
  t.match(human, /Output: (-?\d+\.\d dBFS|silence)\n/, 'the human status shows the output level');

  // The province got both transitions as events, through Mosquitto.
  const events = await province.waitFor(() => {
    const e = [...province.received.values()].filter((m) => m.kind === 'event' && (m.body as { event: string }).event === 'audio.dead-air');
    return e.length >= 2 ? e : undefined;
  }, 20_000, 'dead-air events at the province');
  t.same(events.map((e) => (e.body as { data: { state: string } }).data.state), ['raised', 'cleared']);
  t.equal((events[0]!.body as { level: string }).level, 'error');
});

t.test('the real daemon: loa status shows dead air while a file is silent on air, then clears', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-dead-air-daemon-'));
  const configPath = join(dir, 'config.json');
  delete process.env.LOA_SOCKET; // the CLI finds this daemon by its config
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'dead-air-daemon', dir, sink: join(dir, 'out.raw') }, { audio: { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false }, deadAir: { holdMs: HOLD_MS } } })));
  const daemon = await startDaemon(configPath);
  t.teardown(() => killHard(daemon));
  // 1 s of tone, 6 s of digital silence, 1 s of tone.
  const holed = join(dir, 'holed.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-filter_complex',
    'sine=f=600:d=1:sample_rate=48000[a];anullsrc=r=48000:cl=mono,atrim=duration=6[b];sine=f=600:d=1:sample_rate=48000[c];[a][b][c]concat=n=3:v=0:a=1,pan=stereo|c0=c0|c1=c0',
    '-c:a', 'pcm_s16le', holed]);
  const { sha256 } = await loaJson<{ sha256: string }>(configPath, 'cache', 'import', holed);
  await loaJson(configPath, 'play', sha256, '--zones', 'north');
  const states: Array<{ atMs: number; alarm: boolean; human: string }> = [];
  const startedAt = Date.now();
  await until('dead air raised then cleared in loa status', async () => {
    const s = await loaJson<{ deadAir: { alarm: boolean } }>(configPath, 'status');
    const human = s.deadAir.alarm ? (await loa('--config', configPath, '--lang', 'en', 'status')).out : '';
    states.push({ atMs: Date.now() - startedAt, alarm: s.deadAir.alarm, human });
    return states.some((x) => x.alarm) && !s.deadAir.alarm ? true : undefined;
  }, 30_000);
  const raised = states.find((x) => x.alarm)!;
  t.ok(raised.atMs > 1000 + HOLD_MS - 500, `not before the silence had lasted its set time (${raised.atMs} ms after the request)`);
  t.match(raised.human, /Output: DEAD AIR: silent for \d+ s while on air/);
  t.match(raised.human, /! dead air: the output is silent/);
  const rows = await until('the play-log row', async () => {
    const r = await loaJson<{ rows: Array<{ result: string }> }>(configPath, 'log');
    return r.rows.length > 0 ? r.rows : undefined;
  }, 20_000);
  t.same(rows.map((r) => r.result), ['played'], 'and the item played on: an alarm, not a stop');
});
