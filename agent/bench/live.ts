/**
 * scripts/bench live [--n 20]
 *
 * Source-to-sink latency of live audio.
 *
 * Province path (`province_p99_ms`): from the instant the province publishes
 * a signed `live` command (the project's Mosquitto with TLS, passwords and
 * ACL; the real agent with its sync client, conductor, simulated relays and
 * the live chain on a real icecast2 stream) to the first audible sample of
 * the stream at a sink paced like a sound card. Each round starts from an
 * idle station (relays off), so the figure includes the relay power-up, as a
 * commune would hear it. The stream is a continuous tone, so the first
 * audible sample after the command is the relay's.
 *
 * Microphone path (`mic_p99_ms`): from the instant a tone's first sample
 * enters the station's capture device (a real arecord on a file-backed ALSA
 * PCM fed in real time, agent/test/mic-feeder.ts) to its first audible
 * sample at the sink, through the whole path of `loa live`: arecord's 10 ms
 * periods, the limiter, the player and the sink's buffer. The live is on
 * air on one zone; the microphone carries digital silence between short
 * tones, so the first non-zero sample after each onset is that tone's.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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
import { startIcecast } from './stream-servers.js';
import { startMic } from '../test/mic-feeder.js';
import { call } from '../src/cli/client.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '20' } } });
const n = Number(values.n);
const log = createLogger({ level: 'warn' });
const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);

// --- province path ----------------------------------------------------------

async function provinceLatencies(rounds: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bench-live-'));
  const stationId = 'bench-live';
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({
    dir: join(dir, 'broker'),
    province: { username: 'province', password: 'pw-province' },
    stations: [{ id: stationId, groups: ['district'], password: `pw-${stationId}` }],
  });
  const icecast = await startIcecast();
  await icecast.feed('tinh.mp3', 440);
  const config = parseConfig({
    station: { id: stationId },
    paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }], tailMs: 200 },
    audio: { sink: { kind: 'null' }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], password: `pw-${stationId}`, groups: ['district'], tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  });
  mkdirSync(config.paths.state, { recursive: true });
  const sink = new PacedSink({}, log);
  const agent = await startAgent(config, { log, sink });
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-province', ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  await province.connect();
  await province.beacon();
  for (let i = 0; i < 300 && !agent.sync?.status().connected; i++) await new Promise((r) => setTimeout(r, 100));
  if (!agent.sync?.status().connected) throw new Error('the station did not connect to the broker');

  let armedAt: number | null = null;
  let heard: ((ms: number) => void) | null = null;
  sink.onPlayed((period, playedAtMs) => {
    if (armedAt === null || !heard) return;
    const frame = firstAudibleFrame(period);
    if (frame >= 0 && playedAtMs >= armedAt) {
      heard(playedAtMs + (frame * 1000) / PCM.sampleRate);
      heard = null;
    }
  });

  const delays: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const first = new Promise<number>((resolve) => (heard = resolve));
    const ended = new Promise<void>((resolve) => {
      const on = (e: { key: string; state: string }): void => {
        if (e.key.startsWith('request:') && e.state !== 'started') {
          agent.conductor.off('session', on);
          resolve();
        }
      };
      agent.conductor.on('session', on);
    });
    armedAt = wallClockMs();
    await province.send({ group: 'district' }, { action: 'live', sources: [{ id: 'tinh', kind: 'http', url: icecast.url('tinh.mp3') }], durationMs: 2000, priority: 5, label: 'Đài tỉnh' });
    delays.push((await first) - armedAt);
    armedAt = null;
    await ended;
    // The relays go down after their tail: the next round starts from an idle station.
    await new Promise((r) => setTimeout(r, 800));
  }
  await province.close();
  await agent.stop();
  await icecast.close();
  await broker.stop();
  return delays;
}

const province = await provinceLatencies(n);

// --- microphone path (wp-deadair) --------------------------------------------

async function micLatencies(count: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bench-live-mic-'));
  const mic = startMic(dir);
  process.env.ALSA_CONFIG_PATH = mic.alsaConfigPath;
  const config = parseConfig({
    station: { id: 'bench' },
    paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }], tailMs: 200 },
    audio: { sink: { kind: 'null' }, chime: { enabled: false }, capture: { device: mic.device } },
    clock: { trustWithoutSync: true },
  });
  mkdirSync(config.paths.state, { recursive: true });
  const sink = new PacedSink({}, log);
  const agent = await startAgent(config, { log, sink });
  // The instant of each audible run's first sample at the sink.
  const onsets: number[] = [];
  let wasAudible = false;
  sink.onPlayed((period, playedAtMs) => {
    const frame = firstAudibleFrame(period);
    if (frame >= 0 && !wasAudible) onsets.push(playedAtMs + (frame * 1000) / PCM.sampleRate);
    wasAudible = frame >= 0;
  });
  const started = await call<{ id: string }>(config.paths.socket, 'live.start', { class: 'normal', zones: ['z1'], durationMs: 30 * 60_000, label: 'bench' });
  while (!agent.media.liveStatus(Date.now())?.onAir || !mic.open) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1000)); // past the start: the capture runs steadily
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    const spokeAt = await mic.tone(1000, 100);
    let heardAt: number | undefined;
    const deadline = Date.now() + 5000;
    while ((heardAt = onsets.find((x) => x >= spokeAt)) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (heardAt === undefined) throw new Error(`tone ${i} spoken at ${spokeAt} never reached the sink`);
    delays.push(heardAt - spokeAt);
    // Silence between tones, a little irregular so onsets fall anywhere in a period.
    await new Promise((r) => setTimeout(r, 250 + ((i * 37) % 100)));
  }
  await call(config.paths.socket, 'live.stop', { id: started.id });
  await agent.stop();
  mic.close();
  return delays;
}

const mic = await micLatencies(n);

console.log(
  JSON.stringify({
    bench: 'live',
    n: province.length,
    province_p50_ms: round(percentile(province, 50)),
    province_p99_ms: round(percentile(province, 99)),
    province_max_ms: round(Math.max(...province)),
    mic_p50_ms: round(percentile(mic, 50)),
    mic_p99_ms: round(percentile(mic, 99)),
    mic_max_ms: round(Math.max(...mic)),
  }),
);
process.exit(0);
