/**
 * scripts/bench live [--n 50]
 *
 * Live sources to the speakers, at a sink paced like a sound card.
 *
 * Microphone (`mic_p99_ms`): from the instant a tone's first sample enters
 * the station's capture device (a real arecord on a file-backed ALSA PCM
 * fed in real time, agent/test/mic-fixture.ts) to its first audible sample
 * at the sink, through the whole path of `loa live`: arecord's 10 ms
 * periods, the limiter, the player and the sink's buffer. The live is on
 * air on one zone; the microphone carries digital silence between short
 * tones, so the first non-zero sample after each onset is that tone's.
 *
 * Province (`province_p99_ms`): the province's live command to the first
 * sample (wp-liveplan measures it here).
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import { PCM } from '../src/audio/pcm.js';
import { call } from '../src/cli/client.js';
import { startMic } from '../test/mic-feeder.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '50' } } });
const n = Number(values.n);

async function micLatencies(count: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bench-live-mic-'));
  const mic = startMic(dir);
  process.env.ALSA_CONFIG_PATH = mic.alsaConfigPath;
  const log = createLogger({ level: 'warn' });
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
const round = (x: number): number => Math.round(x * 100) / 100;
console.log(JSON.stringify({ bench: 'live', n: mic.length, province_p99_ms: null, mic_p50_ms: round(percentile(mic, 50)), mic_p99_ms: round(percentile(mic, 99)), mic_max_ms: round(Math.max(...mic)) }));
process.exit(0);
