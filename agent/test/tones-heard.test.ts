/** Reading tones back from a sink's PCM (agent/bench/tones-heard.ts), as data: what the playout tests and soaks count on. */
import t from 'tap';
import { toneRunsIn } from '../bench/tones-heard.js';

const RATE = 48_000;
/** s16le stereo: `[freq, seconds]` pieces, 0 Hz for silence. */
function pcm(pieces: Array<[number, number]>): Buffer {
  const frames = pieces.reduce((n, [, s]) => n + Math.round(s * RATE), 0);
  const buf = Buffer.alloc(frames * 4);
  let i = 0;
  for (const [freq, s] of pieces) {
    for (let k = 0; k < Math.round(s * RATE); k++, i++) {
      const v = freq ? Math.round(8000 * Math.sin((2 * Math.PI * freq * k) / RATE)) : 0;
      buf.writeInt16LE(v, i * 4);
      buf.writeInt16LE(v, i * 4 + 2);
    }
  }
  return buf;
}

t.test('two items back to back: two runs, each as long as it played', async (t) => {
  const runs = toneRunsIn(pcm([[0, 0.5], [440, 2], [660, 3], [0, 0.5]]), [440, 660]);
  t.same(runs.map((r) => r.freq), [440, 660]);
  t.ok(Math.abs(runs[0]!.durationS - 2) <= 0.05 && Math.abs(runs[1]!.durationS - 3) <= 0.05, JSON.stringify(runs));
});

t.test('a tone cut by underruns into pieces under 0.3 s still counts every sample of it', async (t) => {
  // 2 s of 1000 Hz heard as eight 0.25 s pieces with 60 ms of silence between them (a starved machine).
  const pieces: Array<[number, number]> = [[0, 0.3]];
  for (let k = 0; k < 8; k++) pieces.push([1000, 0.25], [0, 0.06]);
  const runs = toneRunsIn(pcm(pieces), [1000]);
  t.equal(runs.length, 1, 'one tone');
  t.ok(Math.abs(runs[0]!.durationS - 2) <= 0.3, `heard ${runs[0]!.durationS} s of 2 (the windows across each gap are lost, no more)`);
});

t.test('a short stray of no known tone is not a tone; a lone short piece of one is not a hearing', async (t) => {
  t.same(toneRunsIn(pcm([[0, 0.2], [3000, 0.15], [0, 0.2], [440, 0.2], [0, 0.2]]), [440]), []);
});

t.test('a tone chopped by many short underruns keeps its pitch and counts only its audio', async (t) => {
  // 2 s of 1300 Hz with a 12 ms hole every 40 ms: every 50 ms window is spoiled, none is silent.
  const pieces: Array<[number, number]> = [[0, 0.3]];
  for (let k = 0; k < 50; k++) pieces.push([1300, 0.04], [0, 0.012]);
  const runs = toneRunsIn(pcm(pieces), [1300]);
  t.same(runs.map((r) => r.freq), [1300], 'one run, of its own pitch');
  t.ok(Math.abs(runs[0]!.durationS - 2) <= 0.05, `${runs[0]!.durationS} s of audio, the holes left out`);
});
