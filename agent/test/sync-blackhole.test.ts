/**
 * A broker that accepts, then black-holes: the project's Mosquitto (TLS,
 * passwords, ACL) reached at two addresses, the first through a TCP proxy
 * (blackhole-fixture.ts) that forwards, then swallows everything both ways
 * and keeps every socket open (no FIN, no RST). A real station
 * (`sync.brokers: [proxy, direct]`) plays a programme of 14 short items
 * across the hole. TCP never tells it; only MQTT keep-alive can:
 *
 *   the agent sets `keepalive: sync.keepaliveS` (default 60 s; 10 s here,
 *   the least the schema allows). mqtt.js 5.16 sends PINGREQ after one
 *   keep-alive without an acknowledgement from the broker and gives up at
 *   1.5 × keep-alive ("Keepalive timeout"): at most 15 s here, 90 s by
 *   default. Then the link moves straight to the next broker (it does not
 *   spend a connect timeout on the silent address first).
 *
 * Proven at the outputs: every play-log row reaches the province once (ids
 * compared, raw deliveries counted), a command sent into the hole runs once
 * after the move and one sent after it runs, `loa status` shows the move, the
 * province sees the station online on its new connection, and the sink
 * hears every item of the programme in full while the link hangs.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import type { PlayLogRow } from '../src/store/station-store.js';
import { startStation } from './station-fixture.js';
import { loa, tonesHeard } from './daemon-fixture.js';
import { tempDir, until } from './sync-fixture.js';
import { BlackHoleProxy } from './blackhole-fixture.js';

const KEEPALIVE_S = 10;
const CONNECT_TIMEOUT_MS = 5000;
const RECONNECT = { initialMs: 200, maxMs: 2000, connectTimeoutMs: CONNECT_TIMEOUT_MS };
/** mqtt.js's own rule: PINGREQ after one keep-alive, the connection given up at 1.5 × keep-alive. */
const DETECT_BOUND_MS = 1.5 * KEEPALIVE_S * 1000;
/** Timers late on a loaded 2-core machine. */
const SLACK_MS = 3000;
const ITEM_HZ = [350, 400, 455, 520, 590, 675, 770, 875, 1000, 1140, 1300, 1480, 1690, 1920];
const ITEM_S = 2;
const COMMAND_HZ = 2500;

interface Seen {
  atMs: number;
  connected: boolean;
  broker: string | undefined;
}

t.test('a broker that black-holes: noticed by keep-alive, the next broker taken, nothing lost or doubled, playout untouched', async (t) => {
  const dir = tempDir('blackhole');
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'mosq'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'test-station', groups: [], password: 'pw-st' }] });
  t.teardown(() => broker.stop());
  const proxy = await new BlackHoleProxy(broker.port).start();
  t.teardown(() => proxy.close());
  const proxyUrl = `mqtts://localhost:${proxy.port}`;
  const ca = readFileSync(broker.certs.caFile);
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  // Every delivery of a play row, duplicates included (`received` keeps each id once).
  const deliveries = new Map<string, number>();
  province.on('message', (topic: { kind: string }, json: { kind?: string; id?: string }) => {
    if (topic.kind === 'out' && json.kind === 'play' && json.id) deliveries.set(json.id, (deliveries.get(json.id) ?? 0) + 1);
  });
  const passwordFile = join(dir, 'st.password');
  writeFileSync(passwordFile, 'pw-st\n', { mode: 0o600 });

  const s = await startStation({
    sync: { brokers: [proxyUrl, broker.url], provinceKeys: [keys.publicPem], passwordFile, tls: { caFile: broker.certs.caFile }, keepaliveS: KEEPALIVE_S, reconnect: RECONNECT },
  });
  t.teardown(() => s.stop());
  const sync = s.agent.sync!;
  await until(() => sync.status().connected, 20_000, 'the station to connect');
  t.equal(sync.status().broker, proxyUrl, 'first on the first broker of the list: through the proxy');
  t.equal(proxy.accepted, 1);

  const link: Seen[] = [];
  sync.on('disconnected', () => link.push({ atMs: Date.now(), connected: false, broker: sync.status().broker }));
  sync.on('connected', () => link.push({ atMs: Date.now(), connected: true, broker: sync.status().broker }));
  const rowsAt: Array<{ atMs: number; row: PlayLogRow }> = [];
  s.agent.conductor.on('played', (row: PlayLogRow) => rowsAt.push({ atMs: Date.now(), row }));

  // The operator's view, polled: what `loa status` says about the link.
  process.env.LOA_SOCKET = s.config.paths.socket;
  t.teardown(() => void delete process.env.LOA_SOCKET);
  const shown: Seen[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await loa('--config', '/nonexistent', '--json', 'status');
      if (r.code === 0) {
        const st = (JSON.parse(r.out) as { sync: { connected: boolean; broker?: string } }).sync;
        const last = shown.at(-1);
        if (!last || last.connected !== st.connected || last.broker !== st.broker) shown.push({ atMs: Date.now(), connected: st.connected, broker: st.broker });
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  t.teardown(async () => {
    polling = false;
    await poller;
  });

  const items: string[] = [];
  for (const f of ITEM_HZ) items.push(await s.tone(`item-${f}`, { seconds: ITEM_S, freq: f }));
  const commandTone = await s.tone('command', { seconds: 3, freq: COMMAND_HZ });
  const startMs = s.once({ id: 'long', name: 'long', items: items.map((content) => ({ content, repeat: 1, gapMs: 300 })), zones: ['north'] }, 2000);

  // The hole opens a second into the first item, away from any row's publish.
  await until(() => Date.now() >= startMs + 1000 || undefined, 20_000, 'the programme on air');
  t.ok(s.agent.conductor.nowPlaying(), 'the programme is on air');
  // A report acknowledged just before: mqtt.js counts keep-alive from the broker's last acknowledgement,
  // so the hole then goes unnoticed for the whole 1.5 × keep-alive and rows are logged into it.
  sync.putHealth();
  await until(() => s.agent.store.outboxDepth() === 0 || undefined, 10_000, 'the health report acknowledged');
  proxy.hole();
  const holeMs = Date.now();
  // Into the hole: the broker hands it to the dead connection (the station's persistent session keeps it).
  const inHole = await province.send({ station: 'test-station' }, { action: 'report' }, { ttlMs: 120_000 });
  const duringHole = (await loa('--config', '/nonexistent', '--lang', 'en', 'status')).out;

  await until(() => link.find((x) => !x.connected), DETECT_BOUND_MS + SLACK_MS + 5000, 'the station to notice the hole');
  const detectedMs = link.find((x) => !x.connected)!.atMs;
  t.ok(detectedMs - holeMs <= DETECT_BOUND_MS + SLACK_MS, `noticed ${detectedMs - holeMs} ms after the hole opened (bound 1.5 × keepalive ${KEEPALIVE_S} s = ${DETECT_BOUND_MS} ms, + ${SLACK_MS} ms slack)`);
  await until(() => link.find((x) => x.connected && x.atMs > detectedMs), 30_000, 'the station on the next broker');
  const moved = link.find((x) => x.connected && x.atMs > detectedMs)!;
  t.equal(moved.broker, broker.url, 'moved to the second broker of the list');
  t.ok(moved.atMs - detectedMs < CONNECT_TIMEOUT_MS, `on the next broker ${moved.atMs - detectedMs} ms after noticing: no connect timeout spent on the silent address first`);
  t.equal(proxy.acceptedInHole, 0, 'the silent address was not tried again');
  t.ok(proxy.clientClosesInHole >= 1, 'the station closed its end itself (the proxy sent no FIN or RST)');
  t.ok(proxy.swallowed.fromClient > 0, `the station kept sending into the hole (${proxy.swallowed.fromClient} bytes swallowed: publishes, PINGREQ)`);
  t.comment(`hole at +0, noticed at +${detectedMs - holeMs} ms, connected to ${moved.broker} at +${moved.atMs - holeMs} ms`);

  // A command after the move, once the programme is over (it would preempt it otherwise).
  const programmeRows = await s.rows(ITEM_HZ.length, 60_000);
  const after = await province.send({ station: 'test-station' }, { action: 'play', content: commandTone, priority: 5, repeat: 1, label: 'after the move' });
  t.match(await province.waitResponse(after.id, undefined, 30_000), { status: 'done' }, 'a command sent after the move runs');
  const all = await s.rows(ITEM_HZ.length + 1, 30_000);
  t.equal(all.at(-1)!.content, commandTone, 'its play-log row');
  t.equal(all.at(-1)!.result, 'played');
  const holeAnswers = await province.waitFor(() => province.responses.get(inHole.id)?.filter((r) => r.status === 'done'), 30_000, 'the answer to the command sent into the hole');
  t.equal(holeAnswers.length, 1, 'the command sent into the hole ran once, after the move');

  t.same(programmeRows.map((r) => r.result), ITEM_HZ.map(() => 'played'), 'every item of the programme played');
  const inHoleRows = rowsAt.filter((x) => x.atMs > holeMs && x.atMs < detectedMs).length;
  const afterRows = rowsAt.filter((x) => x.atMs > moved.atMs).length;
  t.ok(inHoleRows >= 3, `${inHoleRows} rows logged while the link hung unnoticed`);
  t.ok(afterRows >= 2, `${afterRows} rows logged after the move`);

  // Nothing lost, nothing doubled: the station's play log against what the province received.
  await until(() => s.agent.store.outboxDepth() === 0 || undefined, 20_000, 'the outbox drained');
  const stationIds = s.agent.store.recentPlays(1000).map((r) => r.id).sort();
  t.equal(stationIds.length, ITEM_HZ.length + 1);
  const provinceIds = [...province.received.values()].filter((m) => m.kind === 'play').map((m) => m.id).sort();
  t.same(provinceIds, stationIds, 'every play-log row at the province, and nothing else');
  const twice = [...deliveries].filter(([, n]) => n !== 1);
  t.same(twice, [], 'each row delivered once (the hole opened with no row in flight, so a second copy would be the station sending it twice)');
  t.equal(province.invalid, 0);

  // The operator saw the move; the province sees the station online on its new connection.
  const firstShown = shown.find((x) => x.connected);
  t.equal(firstShown?.broker, proxyUrl, '`loa status` first: connected through the proxy');
  t.match(duringHole, `connected to ${proxyUrl}`, 'while the hole is not yet noticed, `loa status` still says connected (keep-alive is what bounds this)');
  await until(() => shown.at(-1)?.broker === broker.url || undefined, 5000, '`loa status` on the second broker');
  t.ok(shown.at(-1)!.connected);
  t.match((await loa('--config', '/nonexistent', '--lang', 'en', 'status')).out, `connected to ${broker.url}`, '`loa status` names the second broker');
  t.comment(`loa status: ${shown.map((x) => `+${x.atMs - holeMs} ms ${x.connected ? `connected ${x.broker}` : 'OFFLINE'}`).join('; ')}`);
  await until(() => province.stations.get('test-station')?.status?.connectSeq === sync.status().connectSeq || undefined, 10_000, 'the birth of the new connection');
  t.equal(province.stations.get('test-station')!.status!.state, 'online', 'the province holds the new birth, not a late will of the old connection');

  // Playout never waited for the link: every item heard in full, in order, then the command's.
  polling = false;
  await poller;
  const sinkPath = s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '';
  const heard = tonesHeard(sinkPath, [...ITEM_HZ, COMMAND_HZ]);
  t.same(heard.map((h) => h.freq), [...ITEM_HZ, COMMAND_HZ], 'every item at the sink, in order, then the command');
  const short = heard.filter((h, i) => Math.abs(h.durationS - (i < ITEM_HZ.length ? ITEM_S : 3)) > 0.15);
  t.same(short, [], `each heard in full (±0.15 s): ${heard.map((h) => `${h.freq} Hz ${h.durationS} s`).join(', ')}`);
});
