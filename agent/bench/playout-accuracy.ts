/**
 * scripts/bench playout-accuracy [--n 60] [--spacing 3]
 *
 * The delay from each programme's scheduled instant to its first audible
 * sample at a sink paced in real time like a sound card (5 ms periods, 40 ms
 * buffer), timestamped to the sample as the sink plays it; and at the other
 * end, the item's last audible sample against where it should be (the
 * instant plus the file's length): a lost tail shows as a negative figure.
 * The whole station runs: scheduler, relays (simulated, with warm-up),
 * cache verification, ffmpeg decoding with pre-roll.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { firstAudibleFrame, lastAudibleFrame } from '../src/audio/fade.js';
import { PCM } from '../src/audio/pcm.js';
import { makeTestTone } from '../src/audio/tones.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '60' }, spacing: { type: 'string', default: '3' } } });
const n = Number(values.n);
const spacingS = Number(values.spacing);
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-accuracy-'));
const log = createLogger({ level: 'warn' });
const config = parseConfig({
  station: { id: 'bench' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 500 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }], tailMs: 300 },
  audio: { sink: { kind: 'null' }, chime: { enabled: false } },
  clock: { trustWithoutSync: true },
});
mkdirSync(config.paths.state, { recursive: true });
const sink = new PacedSink({}, log);
const agent = await startAgent(config, { log, sink });
// Longer than the decoder's buffer (1 s), where tails used to be lost.
const toneMs = 1500;
const tone = await makeTestTone(join(dir, 'tone.wav'), 'ffmpeg', { durationMs: toneMs, frequencyHz: 1000 });
const sha = (await agent.media.importFile(tone, 'tone')).sha256;

// Whole-second instants (the schedule's resolution), starting a few seconds out.
const first = DateTime.now().setZone(config.station.timezone).plus({ seconds: 4 }).startOf('second');
const instants: number[] = [];
agent.store.replaceSchedule(
  {
    programmes: Array.from({ length: n }, (_, i) => {
      const at = first.plus({ seconds: i * spacingS });
      instants.push(at.toMillis());
      return { id: `p${i}`, name: `P${i}`, priority: 0, volume: 80, recurrence: { kind: 'once' as const, date: at.toISODate()!, time: at.toFormat('HH:mm:ss') }, items: [{ content: sha, repeat: 1, gapMs: 0 }], zones: ['z1'] };
    }),
  },
  Date.now() - 60_000,
);
agent.conductor.reloadSchedule();
agent.conductor.kick('bench');

const delays: number[] = [];
const endDelays: number[] = [];
const frameMs = 1000 / PCM.sampleRate;
// Each programme owns the sink's audio from a little before its instant to
// a little after its expected end (instants are `spacing` apart), so an
// underrun inside an item cannot be taken for the end of one and the start
// of the next.
const marginMs = Math.min(700, (spacingS * 1000 - toneMs) / 2);
const heard = instants.map(() => ({ first: null as number | null, last: null as number | null }));
const ownerAt = (t: number): number => instants.findIndex((at) => t >= at - marginMs && t < at + toneMs + marginMs);
await new Promise<void>((resolve) => {
  sink.onPlayed((period, playedAtMs) => {
    const frame = firstAudibleFrame(period);
    if (frame >= 0) {
      const k = ownerAt(playedAtMs);
      if (k >= 0) {
        heard[k]!.first ??= playedAtMs + frame * frameMs;
        heard[k]!.last = playedAtMs + (lastAudibleFrame(period) + 1) * frameMs;
      }
    }
    if (playedAtMs > instants.at(-1)! + toneMs + marginMs) resolve();
  });
});
heard.forEach((h, k) => {
  // Nothing heard for a programme counts as its whole length missing at both ends.
  delays.push(h.first === null ? toneMs : h.first - instants[k]!);
  endDelays.push(h.last === null ? -toneMs : h.last - (instants[k]! + toneMs));
});
await agent.stop();

const result = {
  bench: 'playout-accuracy',
  n: delays.length,
  p50_ms: round(percentile(delays, 50)),
  p99_ms: round(percentile(delays, 99)),
  min_ms: round(Math.min(...delays)),
  max_ms: round(Math.max(...delays)),
  // Either way is wrong at the end (early: audio lost), so the figures are of the distance.
  end_p50_ms: round(percentile(endDelays.map(Math.abs), 50)),
  end_p99_ms: round(percentile(endDelays.map(Math.abs), 99)),
  /** The end furthest from its expected instant, either way (early: audio lost; late: delayed). */
  end_worst_ms: round(endDelays.reduce((w, d) => (Math.abs(d) > Math.abs(w) ? d : w), 0)),
};
console.log(JSON.stringify(result));
process.exit(0);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
