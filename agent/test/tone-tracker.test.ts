import t from 'tap';
import { toneSpans } from './audio-fixture.js';

/** The measuring instrument of the playout tests, checked on PCM made here. */
const RATE = 48_000;

function pcm(parts: Array<{ hz: number; ms: number } | { noiseMs: number }>): Buffer {
  const frames = parts.reduce((n, p) => n + (RATE * ('ms' in p ? p.ms : p.noiseMs)) / 1000, 0);
  const buf = Buffer.alloc(frames * 4);
  let f = 0;
  let phase = 0;
  let seed = 7;
  for (const p of parts) {
    const n = (RATE * ('ms' in p ? p.ms : p.noiseMs)) / 1000;
    for (let i = 0; i < n; i++, f++) {
      let v: number;
      if ('hz' in p) {
        v = p.hz > 0 ? Math.round(8000 * Math.sin(phase)) : 0;
        phase += (2 * Math.PI * p.hz) / RATE;
      } else {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        v = Math.round((seed / 2 ** 31 - 0.5) * 16000);
      }
      buf.writeInt16LE(v, f * 4);
      buf.writeInt16LE(v, f * 4 + 2);
    }
  }
  return buf;
}

const near = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol;

t.test('one source handing over to another with no silence between: two spans, split where the pitch changes', async (t) => {
  const spans = toneSpans(pcm([{ hz: 440, ms: 2000 }, { hz: 880, ms: 1500 }]), { handover: true });
  t.equal(spans.length, 2, JSON.stringify(spans));
  t.ok(near(spans[0]!.freqHz, 440, 2) && near(spans[1]!.freqHz, 880, 4), 'each at its own pitch');
  t.ok(near(spans[0]!.endMs, 2000, 5) && near(spans[1]!.startMs, 2000, 5), `split at 2000 ms (${spans[0]!.endMs})`);
});

t.test('without handover, a sound of several pitches is one span of their average (a chime is not taken for one of its notes)', async (t) => {
  const spans = toneSpans(pcm([{ hz: 440, ms: 400 }, { hz: 660, ms: 400 }]));
  t.equal(spans.length, 1);
  t.ok(spans[0]!.freqHz > 500 && spans[0]!.freqHz < 600, `${spans[0]!.freqHz} Hz`);
});

t.test('a short underrun gap inside a tone is not taken for a lower pitch', async (t) => {
  const spans = toneSpans(pcm([{ hz: 440, ms: 1000 }, { hz: 0, ms: 1.5 }, { hz: 440, ms: 1000 }]));
  t.equal(spans.length, 1);
  t.ok(near(spans[0]!.freqHz, 440, 2), `${spans[0]!.freqHz} Hz`);
});

t.test('noise after a tone is not cut into crumbs too short to notice: it shows as a wrong pitch', async (t) => {
  const spans = toneSpans(pcm([{ hz: 440, ms: 500 }, { noiseMs: 500 }]), { handover: true });
  t.ok(spans.some((s) => s.durationMs >= 50 && !near(s.freqHz, 440, 440 * 0.03)), JSON.stringify(spans.map((s) => [Math.round(s.freqHz), Math.round(s.durationMs)])));
});
