/**
 * What a file sink received (s16le, 48 kHz, stereo), read back as tones:
 * shared by the tests (agent/test/daemon-fixture.ts re-exports it) and the
 * soaks, which are built without the tests.
 */
import { existsSync, readFileSync } from 'node:fs';

export interface ToneRun {
  /** Dominant frequency, Hz (rounded to 10). */
  freq: number;
  startS: number;
  durationS: number;
}

/**
 * The tones a file sink received (s16le, 48 kHz, stereo), as runs of one
 * frequency measured in 50 ms windows by zero crossings. Silence ends a
 * run; a click (up to three odd windows, 150 ms) does not.
 */
export function tonesAt(path: string): ToneRun[] {
  return existsSync(path) ? tonesIn(readFileSync(path)) : [];
}

/** As `tonesAt`, over PCM in memory (a slice of a longer recording: times from its first byte). */
export function tonesIn(pcm: Buffer): ToneRun[] {
  const frame = 4;
  const win = 2400; // 50 ms of frames
  const windows: Array<number | null> = [];
  for (let w = 0; (w + 1) * win * frame <= pcm.length; w++) {
    let energy = 0;
    let crossings = 0;
    let prev = 0;
    for (let i = 0; i < win; i++) {
      const s = pcm.readInt16LE((w * win + i) * frame);
      energy += s * s;
      if (i > 0 && (prev < 0) !== (s < 0)) crossings++;
      prev = s;
    }
    // Below -50 dBFS is silence.
    windows.push(Math.sqrt(energy / win) < 100 ? null : crossings / 2 / 0.05);
  }
  const near = (f: number | null | undefined, ref: number): boolean => f != null && Math.abs(f - ref) <= ref * 0.08;
  const runs: Array<{ freqs: number[]; start: number; n: number }> = [];
  let current: { freqs: number[]; start: number; n: number } | null = null;
  for (let w = 0; w < windows.length; w++) {
    const f = windows[w];
    if (f == null) {
      current = null;
      continue;
    }
    const ref = current ? median(current.freqs) : 0;
    // A click spoils a window or two; the tone after it carries on the run.
    if (current && [0, 1, 2, 3].some((k) => near(windows[w + k], ref))) {
      current.n++;
      if (near(f, ref)) current.freqs.push(f);
    } else {
      current = { freqs: [f], start: w, n: 1 };
      runs.push(current);
    }
  }
  return runs.map((r) => ({ freq: Math.round(median(r.freqs) / 10) * 10, startS: Math.round(r.start * 5) / 100, durationS: Math.round(r.n * 5) / 100 }));
}

/**
 * Which of the known `tones` (Hz) the sink received, in order, for how long:
 * runs of one tone split by dropouts joined (give each item its own tone),
 * and runs under 0.3 s left out (the joins of items straddle measuring windows).
 */
export function tonesHeard(path: string, tones: readonly number[]): Array<{ freq: number; durationS: number }> {
  return toneRunsHeard(path, tones).map(({ freq, durationS }) => ({ freq, durationS }));
}

/** As `tonesHeard`, with where each run ends in the file (s). */
export function toneRunsHeard(path: string, tones: readonly number[]): Array<{ freq: number; durationS: number; endS: number }> {
  return joinRuns(tonesAt(path), tones);
}

/** As `toneRunsHeard`, over PCM in memory. */
export function toneRunsIn(pcm: Buffer, tones: readonly number[]): Array<{ freq: number; durationS: number; endS: number }> {
  return joinRuns(tonesIn(pcm), tones);
}

/**
 * Short runs of no known tone (a measuring window across the join of two
 * items) are left out first; then runs of one known tone are joined, pieces
 * an underrun cut off under 0.3 s included, so a tone split by dropouts
 * counts every sample of it; what is still under 0.3 s is left out.
 */
function joinRuns(runs: ToneRun[], tones: readonly number[]): Array<{ freq: number; durationS: number; endS: number }> {
  const out: Array<{ freq: number; durationS: number; endS: number }> = [];
  for (const r of runs) {
    const known = tones.find((f) => Math.abs(f - r.freq) <= f * 0.05);
    if (known === undefined && r.durationS < 0.3) continue;
    const freq = known ?? r.freq;
    const endS = Math.round((r.startS + r.durationS) * 100) / 100;
    const last = out.at(-1);
    if (last?.freq === freq) {
      last.durationS = Math.round((last.durationS + r.durationS) * 100) / 100;
      last.endS = endS;
    } else out.push({ freq, durationS: r.durationS, endS });
  }
  return out.filter((x) => x.durationS >= 0.3);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
