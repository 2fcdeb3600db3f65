/**
 * The audio clock's anchor: the wall clock's millisecond edge read against
 * the monotonic clock, and a process descheduled at that moment (a loaded
 * Pi) does not shift every later start by however long it waited.
 */
import t from 'tap';
import { edgeOffset, wallClockMs } from '../src/audio/clock.js';

/** A machine whose true wall clock is `mono + offset`; each read takes `stepMs`, and the reads listed in `pauses` (by index) wait that long first. */
function machine(offset: number, pauses: Map<number, number>, stepMs = 0.0002) {
  let t = 1000.3;
  let reads = 0;
  const read = (): number => {
    t += stepMs + (pauses.get(reads) ?? 0);
    reads++;
    return t;
  };
  return { mono: () => read(), wall: () => Math.floor(read() + offset) };
}

t.test('an undisturbed edge gives the offset to a microsecond', async (t) => {
  const m = machine(1_700_000_000_000.25, new Map());
  t.ok(Math.abs(edgeOffset(m.mono, m.wall) - 1_700_000_000_000.25) < 0.001);
});

t.test('descheduled for 30 ms at the edge, at every place in the bracket: the offset is still right', async (t) => {
  const offset = 1_700_000_000_000.25;
  // The edge comes after ~0.45 ms of reads (2,250 of them at 0.2 µs): pause each read around it in turn.
  for (const at of [2240, 2245, 2248, 2249, 2250, 2251, 2252, 2253, 2255]) {
    const m = machine(offset, new Map([[at, 30]]));
    const err = edgeOffset(m.mono, m.wall) - offset;
    t.ok(Math.abs(err) < 0.5, `a pause before read ${at}: offset off by ${err.toFixed(3)} ms`);
  }
});

t.test('the live clock stays on Date.now()', async (t) => {
  for (let i = 0; i < 5; i++) {
    const before = Date.now();
    const w = wallClockMs();
    const after = Date.now();
    t.ok(w >= before - 1 && w <= after + 1, `${w} within [${before}, ${after}]`);
  }
});
