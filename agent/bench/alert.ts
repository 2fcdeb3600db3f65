/**
 * scripts/bench alert [--n 20]
 *
 * A public alert end to end, over a real Mosquitto: the province signs a
 * CAP document into an `alert` command; the station's MQTT client receives
 * it (the instant measured from), verifies the envelope, validates the CAP
 * against its schema, runs the lifecycle and plays it: the station's chime
 * (held decoded in memory), then its audio, cached (a pre-recorded message
 * for its event code). Measured at a sink paced like a sound card:
 * - start: command received → the alert's first audible sample;
 * - cancel: the Cancel received → the last audible sample of the alert.
 * A programme of digital silence holds the zones on, so no relay has to
 * move (the relay lead is physics, measured by the preemption bench).
 */
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import { wallClockMs } from '../src/audio/clock.js';
import { PCM } from '../src/audio/pcm.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '20' } } });
const n = Number(values.n);
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-alert-'));
const log = createLogger({ level: (process.env.LOA_BENCH_LOG as 'info' | undefined) ?? 'warn' });
const keys = generateProvinceKeys();
const broker = await MosquittoBroker.create({ dir: join(dir, 'mosquitto'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'bench', groups: ['lai-chau'], password: 'pw-bench' }] });
const ca = readFileSync(broker.certs.caFile);
const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca, privateKey: keys.privateKey });
await province.connect();
await province.beacon();

// The pre-recorded flood warning: 20 s of tone, long enough to be cancelled mid-play.
const warning = join(dir, 'flood.wav');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=880:d=20:sample_rate=48000', '-af', 'pan=stereo|c0=c0|c1=c0', warning]);
const warningSha = execFileSync('sha256sum', [warning], { encoding: 'utf8' }).split(' ')[0]!;
const config = parseConfig({
  station: { id: 'bench' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }, { name: 'z2', line: 23, amplifier: 'amp' }], tailMs: 200 },
  // The station's chime opens every emergency, held decoded in memory: the first thing heard.
  audio: { sink: { kind: 'null' }, chime: { enabled: true, classes: ['emergency'] } },
  clock: { trustWithoutSync: true },
  sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], groups: ['lai-chau'], password: 'pw-bench', tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  alerts: { chime: false, stopHoldOffS: 0, prerecorded: [{ valueName: 'VN-EVENT', value: 'LU', language: 'vi', content: warningSha }] },
});
mkdirSync(config.paths.state, { recursive: true });
const sink = new PacedSink({}, log);
const agent = await startAgent(config, { log, sink });
await agent.media.importFile(warning, 'flood warning');
const silencePath = join(dir, 'silence.wav');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo', '-t', '600', silencePath]);
const silence = (await agent.media.importFile(silencePath, 'silence')).sha256;
for (let i = 0; i < 200 && !agent.sync?.status().connected; i++) await new Promise((r) => setTimeout(r, 100));

// The instant the station's MQTT client hands each alert command over, before the sync client looks at it.
const received = new Map<string, number>();
(agent.sync as unknown as { link: EventEmitter }).link.prependListener('message', (_topic: string, payload: Buffer) => {
  const id = /<identifier>([^<]+)</.exec(payload.toString('utf8'))?.[1];
  if (id) received.set(id, wallClockMs());
});
let lastAudible = 0;
let firstAfter: { since: number; resolve: (ms: number) => void } | null = null;
sink.onPlayed((period, playedAtMs) => {
  const frame = firstAudibleFrame(period);
  if (frame < 0) return;
  lastAudible = playedAtMs + period.length / 4 / (PCM.sampleRate / 1000);
  if (firstAfter && playedAtMs >= firstAfter.since - 5) {
    firstAfter.resolve(playedAtMs + (frame * 1000) / PCM.sampleRate);
    firstAfter = null;
  }
});

const capTime = (ms: number): string => `${new Date(Math.floor(ms / 1000) * 1000 + 7 * 3_600_000).toISOString().slice(0, 19)}+07:00`;
const cap = (id: string, sentMs: number, body: string): string =>
  `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>${id}</identifier><sender>bench@province</sender><sent>${capTime(sentMs)}</sent><status>Actual</status>${body}`;
const alertDoc = (id: string, sentMs: number): string =>
  cap(id, sentMs, `<msgType>Alert</msgType><scope>Public</scope><info><language>vi-VN</language><category>Met</category><event>Lũ</event><urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty><eventCode><valueName>VN-EVENT</valueName><value>LU</value></eventCode><expires>${capTime(sentMs + 3_600_000)}</expires><headline>Lũ quét</headline></info></alert>`);
const cancelDoc = (id: string, ref: string, refSent: number, sentMs: number): string =>
  cap(id, sentMs, `<msgType>Cancel</msgType><scope>Public</scope><references>bench@province,${ref},${capTime(refSent)}</references></alert>`);

const starts: number[] = [];
const cancels: number[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
agent.conductor.submit({ id: 'bed', mode: 'now', priority: 0, label: 'bed', items: [{ content: silence, repeat: 1, gapMs: 0 }], zones: [], volume: 80, origin: 'bench' });
await sleep(1500);
for (let i = 0; i < n; i++) {
  const sent = Math.floor(Date.now() / 1000) * 1000 - 2000;
  const heard = new Promise<number>((resolve) => (firstAfter = { since: wallClockMs(), resolve }));
  await province.send({ station: 'bench' }, { action: 'alert', cap: alertDoc(`B-${i}`, sent) });
  const at = await heard;
  starts.push(at - received.get(`B-${i}`)!);
  await sleep(1500);
  await province.send({ station: 'bench' }, { action: 'alert', cap: cancelDoc(`C-${i}`, `B-${i}`, sent, sent + 1000) });
  for (let w = 0; w < 500 && !received.has(`C-${i}`); w++) await sleep(10);
  const cancelReceived = received.get(`C-${i}`)!;
  // Silence is known once the alert is off air and a second of it has passed at the sink.
  while (agent.conductor.nowPlaying()?.priority === 9) await sleep(20);
  await sleep(1000);
  cancels.push(lastAudible - cancelReceived);
}
await agent.stop();
await province.close();
await broker.stop();
const r = (x: number): number => Math.round(x * 100) / 100;
console.log(JSON.stringify({ bench: 'alert', n: starts.length, start_p50_ms: r(percentile(starts, 50)), start_p99_ms: r(percentile(starts, 99)), cancel_p50_ms: r(percentile(cancels, 50)), cancel_p99_ms: r(percentile(cancels, 99)) }));
process.exit(0);
