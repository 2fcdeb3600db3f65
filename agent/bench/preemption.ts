/**
 * scripts/bench preemption [--n 30]
 *
 * How long an emergency takes to be heard over a programme already on air:
 * from the instant the request reaches the conductor to the emergency's
 * first audible sample at a sink paced like a sound card. The programme
 * plays digital silence on every zone (so the first audible sample after the
 * request is the emergency's, and no relay has to move); the emergency opens
 * with the chime, held decoded in memory.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import { wallClockMs } from '../src/audio/clock.js';
import { PCM } from '../src/audio/pcm.js';
import { makeTestTone } from '../src/audio/tones.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '30' } } });
const n = Number(values.n);
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-preemption-'));
const log = createLogger({ level: 'warn' });
const config = parseConfig({
  station: { id: 'bench' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }, { name: 'z2', line: 23, amplifier: 'amp' }], tailMs: 200 },
  audio: { sink: { kind: 'null' } },
  clock: { trustWithoutSync: true },
});
mkdirSync(config.paths.state, { recursive: true });
const sink = new PacedSink({}, log);
const agent = await startAgent(config, { log, sink });
const silencePath = join(dir, 'silence.wav');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo', '-t', '30', silencePath]);
const silence = (await agent.media.importFile(silencePath, 'silence')).sha256;
const bulletin = (await agent.media.importFile(await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 300 }), 'alert')).sha256;

let armedAt: number | null = null;
let heard: ((ms: number) => void) | null = null;
sink.onPlayed((period, playedAtMs) => {
  if (armedAt === null || !heard) return;
  const frame = firstAudibleFrame(period);
  if (frame >= 0 && playedAtMs >= armedAt - 5) {
    heard(playedAtMs + (frame * 1000) / PCM.sampleRate);
    heard = null;
  }
});

const delays: number[] = [];
for (let i = 0; i < n; i++) {
  agent.conductor.submit({ id: `bed-${i}`, mode: 'now', priority: 0, label: 'bed', items: [{ content: silence, repeat: 1, gapMs: 0 }], zones: [], volume: 80, origin: 'bench' });
  await new Promise((r) => setTimeout(r, 1500)); // on air, relays closed
  const at = new Promise<number>((resolve) => (heard = resolve));
  armedAt = wallClockMs();
  agent.conductor.submit({ id: `alert-${i}`, mode: 'now', priority: 9, label: 'alert', items: [{ content: bulletin, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'bench' });
  delays.push((await at) - armedAt);
  armedAt = null;
  // Let the emergency finish and the bed be stopped before the next round.
  await new Promise<void>((resolve) => {
    const on = (e: { key: string; state: string }): void => {
      if (e.key === `request:alert-${i}` && e.state !== 'started') {
        agent.conductor.off('session', on);
        resolve();
      }
    };
    agent.conductor.on('session', on);
  });
  await agent.conductor.stopCurrent();
}
await agent.stop();
console.log(JSON.stringify({ bench: 'preemption', n: delays.length, p50_ms: Math.round(percentile(delays, 50) * 100) / 100, p99_ms: Math.round(percentile(delays, 99) * 100) / 100, max_ms: Math.round(Math.max(...delays) * 100) / 100 }));
process.exit(0);
