import t from 'tap';
import { limitPcm, newLimiter } from '../src/audio/limiter.js';

const settings = { ceilingDb: -6, releaseMs: 100, sampleRate: 48_000 };
const ceiling = 32767 * 10 ** (-6 / 20);

/** `ms` of a 1 kHz stereo sine at `amplitude` (0..32767). */
function sine(ms: number, amplitude: number): Buffer {
  const frames = (ms * 48_000) / 1000;
  const b = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const x = Math.round(amplitude * Math.sin((2 * Math.PI * 1000 * i) / 48_000));
    b.writeInt16LE(x, i * 4);
    b.writeInt16LE(x, i * 4 + 2);
  }
  return b;
}
const peak = (b: Buffer): number => {
  let p = 0;
  for (let i = 0; i < b.length; i += 2) p = Math.max(p, Math.abs(b.readInt16LE(i)));
  return p;
};

t.test('a shout never passes the ceiling; quiet speech passes untouched', async (t) => {
  const state = newLimiter();
  const loud = limitPcm(sine(200, 32767), state, settings);
  t.ok(peak(loud) <= Math.ceil(ceiling), `peak ${peak(loud)} under the ceiling ${Math.round(ceiling)}`);
  t.ok(peak(loud.subarray(loud.length / 2)) >= ceiling * 0.95, 'and held just at it, not pumped far below');
  const fresh = newLimiter();
  const quiet = sine(100, 3000);
  t.same(limitPcm(Buffer.from(quiet), fresh, settings), quiet, 'below the ceiling nothing changes');
  t.equal(fresh.gain, 1);
});

t.test('after a shout the gain recovers with the release time', async (t) => {
  const state = newLimiter();
  limitPcm(sine(50, 32767), state, settings);
  t.ok(state.gain < 0.55, `gain down to ${state.gain.toFixed(2)}`);
  limitPcm(sine(500, 1000), state, settings);
  t.ok(state.gain > 0.99, `back to ${state.gain.toFixed(3)} after 5 time constants`);
});
