/**
 * scripts/bench stop [--n 30]
 *
 * How long `loa stop --all` takes to silence an emergency on air: from the
 * moment the command is written to the control socket to the last non-zero
 * sample a sink paced like a sound card plays. Each round puts a 20 s
 * emergency on air (relays on, audio flowing for a second), then stops it.
 * The hold-off is 0 so the next round's emergency plays.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { lastAudibleFrame } from '../src/audio/fade.js';
import { wallClockMs } from '../src/audio/clock.js';
import { PCM } from '../src/audio/pcm.js';
import { makeTestTone } from '../src/audio/tones.js';
import { call } from '../src/cli/client.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '30' } } });
const n = Number(values.n);
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-stop-'));
const log = createLogger({ level: 'error' });
const config = parseConfig({
  station: { id: 'bench' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }], tailMs: 200 },
  audio: { sink: { kind: 'null' }, chime: { enabled: false } },
  clock: { trustWithoutSync: true },
  alerts: { stopHoldOffS: 0 },
});
mkdirSync(config.paths.state, { recursive: true });
const sink = new PacedSink({}, log);
let lastAudible = 0;
sink.onPlayed((period, playedAtMs) => {
  const frame = lastAudibleFrame(period);
  if (frame >= 0) lastAudible = playedAtMs + ((frame + 1) * 1000) / PCM.sampleRate;
});
const agent = await startAgent(config, { log, sink });
const alert = (await agent.media.importFile(await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 20_000 }), 'alert')).sha256;

const delays: number[] = [];
for (let i = 0; i < n; i++) {
  const since = wallClockMs();
  agent.conductor.submit({ id: `alert-${i}`, mode: 'now', priority: 9, label: 'alert', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'bench' });
  while (lastAudible < since + 1000) await new Promise((r) => setTimeout(r, 20));
  const commandAt = wallClockMs();
  await call(config.paths.socket, 'stop', { all: true });
  // The sink's buffer and a fade are all that may follow; a second is ample to see the last sample.
  await new Promise((r) => setTimeout(r, 1000));
  delays.push(lastAudible - commandAt);
}
await agent.stop();
console.log(JSON.stringify({ bench: 'stop', n: delays.length, stop_p50_ms: Math.round(percentile(delays, 50) * 100) / 100, stop_p99_ms: Math.round(percentile(delays, 99) * 100) / 100, max_ms: Math.round(Math.max(...delays) * 100) / 100 }));
process.exit(0);
