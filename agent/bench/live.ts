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
 * Microphone path (`mic_p99_ms`): capture to sink, owned by wp-deadair; see
 * the marked section below. null until it is measured.
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
// Capture to sink for `loa live`: measure here and set `mic` to the delays (ms).
const mic: number[] | null = null;
// ------------------------------------------------------------------------------

console.log(
  JSON.stringify({
    bench: 'live',
    n: province.length,
    province_p50_ms: round(percentile(province, 50)),
    province_p99_ms: round(percentile(province, 99)),
    province_max_ms: round(Math.max(...province)),
    mic_p99_ms: mic ? round(percentile(mic, 99)) : null,
  }),
);
process.exit(0);
