import t from 'tap';
import { pcmLevelDb } from '../src/audio/pcm.js';
import { DEAD_AIR_IDLE, pcmPeakDb, stepDeadAir, type DeadAirInput, type DeadAirTransition } from '../src/audio/dead-air.js';

const settings = { thresholdDb: -50, holdMs: 10_000 };

/** Runs inputs through the detector; the transitions it answered, in order. */
function run(inputs: DeadAirInput[]): DeadAirTransition[] {
  let state = DEAD_AIR_IDLE;
  const out: DeadAirTransition[] = [];
  for (const i of inputs) {
    const r = stepDeadAir(state, i, settings);
    state = r.state;
    if (r.transition) out.push(r.transition);
  }
  return out;
}

/** Levels every 500 ms from `fromMs` to `toMs` (exclusive). */
const levels = (fromMs: number, toMs: number, db: number): DeadAirInput[] =>
  Array.from({ length: Math.ceil((toMs - fromMs) / 500) }, (_, k) => ({ kind: 'level' as const, atMs: fromMs + k * 500, db }));

t.test('silence while an item plays raises after holdMs and clears when sound returns', async (t) => {
  const out = run([{ kind: 'sounding', atMs: 0, on: true }, ...levels(0, 5000, -20), ...levels(5000, 20_000, -Infinity), ...levels(20_000, 22_000, -20)]);
  t.same(out, [
    { kind: 'raised', atMs: 15_000, quietSinceMs: 5000 },
    { kind: 'cleared', atMs: 20_000, quietMs: 15_000, why: 'sound' },
  ]);
});

t.test('just under the hold, or just above the threshold, is no alarm', async (t) => {
  t.same(run([{ kind: 'sounding', atMs: 0, on: true }, ...levels(0, 9500, -70), ...levels(9500, 12_000, -20)]), []);
  t.same(run([{ kind: 'sounding', atMs: 0, on: true }, ...levels(0, 30_000, -49)]), [], 'quiet speech at -49 dBFS is not dead air');
  t.equal(run([{ kind: 'sounding', atMs: 0, on: true }, ...levels(0, 30_000, -50)]).length, 1, 'at the threshold it is');
});

t.test('silence outside an item (a gap, an idle station) is never dead air; the clock restarts with each item', async (t) => {
  t.same(run(levels(0, 60_000, -Infinity)), [], 'idle');
  t.same(
    run([
      { kind: 'sounding', atMs: 0, on: true },
      ...levels(0, 6000, -Infinity),
      { kind: 'sounding', atMs: 6000, on: false },
      ...levels(6000, 20_000, -Infinity),
      { kind: 'sounding', atMs: 20_000, on: true },
      ...levels(20_000, 29_000, -Infinity),
    ]),
    [],
    '6 s + a 14 s gap + 9 s: never 10 s of silence inside one item',
  );
});

t.test('ticks raise when no periods come (a sink measured at write), and an item that ends clears', async (t) => {
  const out = run([
    { kind: 'sounding', atMs: 0, on: true },
    { kind: 'level', atMs: 1000, db: -Infinity },
    { kind: 'tick', atMs: 10_999 },
    { kind: 'tick', atMs: 11_000 },
    { kind: 'tick', atMs: 11_250 },
    { kind: 'sounding', atMs: 12_000, on: false },
  ]);
  t.same(out, [
    { kind: 'raised', atMs: 11_000, quietSinceMs: 1000 },
    { kind: 'cleared', atMs: 12_000, quietMs: 11_000, why: 'item-ended' },
  ], 'raised once, not on every tick');
});

t.test('levels of PCM', async (t) => {
  t.equal(pcmLevelDb(Buffer.alloc(960)), -Infinity, 'digital silence');
  const full = Buffer.alloc(960);
  for (let i = 0; i < 480; i++) full.writeInt16LE(i % 2 ? -32767 : 32767, i * 2);
  t.ok(Math.abs(pcmLevelDb(full)) < 0.01, 'a full-scale square is 0 dBFS');
  const quiet = Buffer.alloc(960);
  for (let i = 0; i < 480; i++) quiet.writeInt16LE(i % 2 ? -100 : 100, i * 2);
  t.ok(Math.abs(pcmLevelDb(quiet) - 20 * Math.log10(100 / 32768)) < 0.01, '±100 is -50.3 dBFS');
  t.ok(Math.abs(pcmPeakDb(quiet) - 20 * Math.log10(100 / 32768)) < 0.01);
});
