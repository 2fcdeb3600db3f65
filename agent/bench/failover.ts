/**
 * scripts/bench failover [--n 5]
 *
 * How long a live item takes to be heard from its backup when the main
 * source goes wrong, and to come back to the main once it recovers, at a
 * sink paced like a sound card. A real Icecast (icecast2, fed by ffmpeg)
 * serves the main (440 Hz, through a TCP proxy for the faults) and the backup
 * (880 Hz, with a pause every second, as speech has). Per fault kind
 * (stall: the connection stays open and sends nothing; silence: the source
 * sends digital silence; drop: the connection is closed and refused) and
 * per run: the fault comes 3 s into the item; measured from it to the first
 * audible sample of the backup; 4 s later the main recovers, measured from
 * then to its first audible sample again (back-off 5 s, proof 3 s, then a
 * quiet moment). Default failover timing (policy.ts).
 */
import { parseArgs } from 'node:util';
import { wallClockMs } from '../src/audio/clock.js';
import { startLiveChain } from '../src/audio/live/chain.js';
import { playItem } from '../src/audio/player.js';
import { PacedSink } from '../src/audio/sink.js';
import { createLogger } from '../src/lib/logger.js';
import { percentile } from './stats.js';
import { TcpProxy, startIcecast } from './stream-servers.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '5' }, faults: { type: 'string', default: 'stall,silence,drop' } } });
const n = Number(values.n);
const log = createLogger({ level: 'warn' });
const MAIN = 440;
const BACKUP = 880;
const FAULT_AT_MS = 3000;
const RECOVER_AFTER_MS = 4000;

const ic = await startIcecast();
const mainFeed = await ic.feed('main.mp3', MAIN);
await ic.feed('backup.mp3', { baseHz: BACKUP, stepHz: 0, onMs: 700, periodMs: 1000 });
const proxy = await new TcpProxy(ic.port).start();

/**
 * Which tone a paced sink plays, period by period: rising zero crossings of
 * the left channel per 5 ms period (440 Hz gives ~2.2, 880 Hz ~4.4), at the
 * tone's level (-23 dBFS RMS, not the codec's debris where a tone stops),
 * the same for 50 ms in a row; reported at the first period of the run.
 */
function toneDetector(onTone: (freq: 'main' | 'backup', atMs: number) => void): (period: Buffer, atMs: number) => void {
  const RUN = 10;
  const window: Array<{ crossings: number; at: number } | null> = [];
  let prev = 0;
  return (period, atMs) => {
    let crossings = 0;
    let energy = 0;
    const frames = period.length / 4;
    for (let f = 0; f < frames; f++) {
      const x = period.readInt16LE(f * 4);
      energy += x * x;
      if (prev < 0 && x >= 0) crossings++;
      prev = x;
    }
    const loud = 10 * Math.log10(energy / frames / 32768 ** 2 || 1e-12) > -35;
    window.push(loud ? { crossings, at: atMs } : null);
    if (window.length > RUN) window.shift();
    if (window.length < RUN || window.some((w) => w === null)) return;
    const total = window.reduce((a, w) => a + w!.crossings, 0);
    // Over 50 ms: 440 Hz ~22 crossings, 880 Hz ~44.
    if (total >= 18 && total <= 26) onTone('main', window[0]!.at);
    else if (total >= 38 && total <= 50) onTone('backup', window[0]!.at);
  };
}

type Fault = 'stall' | 'silence' | 'drop';
const faults: Record<Fault, { inject: () => void; recover: () => void }> = {
  stall: { inject: () => proxy.setMode('stall'), recover: () => proxy.setMode('pass') },
  silence: { inject: () => (mainFeed.tone.freqHz = 0), recover: () => (mainFeed.tone.freqHz = MAIN) },
  drop: { inject: () => proxy.setMode('cut'), recover: () => proxy.setMode('pass') },
};

async function run(fault: Fault): Promise<{ failoverMs: number; returnMs: number; path: string }> {
  const sink = new PacedSink({}, log);
  await sink.open();
  const ac = new AbortController();
  let faultAt: number | null = null;
  let recoverAt: number | null = null;
  let failoverMs = NaN;
  let returnMs = NaN;
  let started = false;
  const timers: NodeJS.Timeout[] = [];
  sink.onPlayed(
    toneDetector((tone, at) => {
      if (!started && tone === 'main') {
        started = true;
        timers.push(
          setTimeout(() => {
            faultAt = wallClockMs();
            faults[fault].inject();
          }, FAULT_AT_MS),
        );
      }
      if (faultAt !== null && Number.isNaN(failoverMs) && tone === 'backup' && at >= faultAt) {
        failoverMs = at - faultAt;
        timers.push(
          setTimeout(
            () => {
              recoverAt = wallClockMs();
              faults[fault].recover();
            },
            Math.max(0, faultAt + RECOVER_AFTER_MS - wallClockMs()),
          ),
        );
      }
      if (recoverAt !== null && Number.isNaN(returnMs) && tone === 'main' && at >= recoverAt) {
        returnMs = at - recoverAt;
        ac.abort();
      }
    }),
  );
  const chain = startLiveChain(
    { sources: [{ id: 'main', kind: 'http', url: proxy.url('main.mp3') }, { id: 'backup', kind: 'http', url: ic.url('backup.mp3') }], durationMs: 40_000, signal: ac.signal },
    { resolveFile: () => null },
    log,
  );
  await playItem({ decoder: chain, sink, signal: ac.signal, stallTimeoutMs: 5000, log });
  for (const t of timers) clearTimeout(t);
  faults[fault].recover();
  await sink.close();
  const left = chain.segments()[0]?.endMs;
  const switchedMs = faultAt !== null && left != null ? Math.round(left - faultAt) : NaN;
  return { failoverMs, returnMs, path: `${chain.segments().map((s) => `${s.sourceId}:${s.endReason}`).join(' ')}; left the main ${switchedMs} ms after the fault` };
}

const results: Record<Fault, number[]> = { stall: [], silence: [], drop: [] };
const returns: number[] = [];
for (let i = 0; i < n; i++) {
  for (const fault of values.faults!.split(',') as Fault[]) {
    const r = await run(fault);
    console.log(`${fault} #${i + 1}: backup heard ${Math.round(r.failoverMs)} ms after the fault, main back ${Math.round(r.returnMs)} ms after it recovered (${r.path})`);
    if (Number.isFinite(r.failoverMs)) results[fault].push(r.failoverMs);
    if (Number.isFinite(r.returnMs)) returns.push(r.returnMs);
    // Let Icecast forget the last listener.
    await new Promise((r) => setTimeout(r, 500));
  }
}
await proxy.close();
await ic.close();
const p = (v: number[], q: number): number | null => (v.length ? Math.round(percentile(v, q)) : null);
console.log(
  JSON.stringify({
    bench: 'failover',
    n,
    stall_p99_ms: p(results.stall, 99),
    silence_p99_ms: p(results.silence, 99),
    drop_p99_ms: p(results.drop, 99),
    return_p50_ms: p(returns, 50),
    missed: 3 * n - results.stall.length - results.silence.length - results.drop.length,
  }),
);
process.exit(0);
