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
  /** Where its last window ends (s): after `startS + durationS` when underruns cut holes in it. */
  endS: number;
  /** The audio of it that reached the sink (s). */
  durationS: number;
}

/**
 * The tones a file sink received (s16le, 48 kHz, stereo), as runs of one
 * frequency measured in 50 ms windows by zero crossings. Silence ends a
 * run; a click (up to three odd windows, 150 ms) does not. An underrun is
 * digital silence (exact zeros) in the sink: those frames are left out of
 * a window's frequency and of the run's duration, so a tone chopped by a
 * starved machine still reads as its own pitch and for exactly the audio
 * of it that reached the sink.
 */
export function tonesAt(path: string): ToneRun[] {
  return existsSync(path) ? tonesIn(readFileSync(path)) : [];
}

/** As `tonesAt`, over PCM in memory (a slice of a longer recording: times from its first byte). */
export function tonesIn(pcm: Buffer): ToneRun[] {
  const frame = 4;
  const win = 2400; // 50 ms of frames
  const windows: Array<{ freq: number; frames: number } | null> = [];
  for (let w = 0; (w + 1) * win * frame <= pcm.length; w++) {
    let energy = 0;
    let crossings = 0;
    let active = 0;
    let prev = 0;
    let zeros = 0;
    for (let i = 0; i < win; i++) {
      const at = (w * win + i) * frame;
      const s = pcm.readInt16LE(at);
      // Two exact zeros in a row on both channels: an underrun's silence, not a sample of the tone.
      zeros = s === 0 && pcm.readInt16LE(at + 2) === 0 ? zeros + 1 : 0;
      if (zeros >= 2) continue;
      active++;
      energy += s * s;
      if (active > 1 && (prev < 0) !== (s < 0)) crossings++;
      prev = s;
    }
    // Below -50 dBFS (or hardly any audio in the window) is silence.
    windows.push(active < win / 10 || Math.sqrt(energy / active) < 100 ? null : { freq: crossings / 2 / (active / 48_000), frames: active });
  }
  const near = (x: { freq: number } | null | undefined, ref: number): boolean => x != null && Math.abs(x.freq - ref) <= ref * 0.08;
  const runs: Array<{ freqs: number[]; start: number; last: number; frames: number }> = [];
  let current: { freqs: number[]; start: number; last: number; frames: number } | null = null;
  for (let w = 0; w < windows.length; w++) {
    const x = windows[w];
    if (x == null) {
      current = null;
      continue;
    }
    const ref = current ? median(current.freqs) : 0;
    // A click spoils a window or two; the tone after it carries on the run.
    if (current && [0, 1, 2, 3].some((k) => near(windows[w + k], ref))) {
      current.frames += x.frames;
      current.last = w;
      if (near(x, ref)) current.freqs.push(x.freq);
    } else {
      current = { freqs: [x.freq], start: w, last: w, frames: x.frames };
      runs.push(current);
    }
  }
  return runs.map((r) => ({ freq: Math.round(median(r.freqs) / 10) * 10, startS: Math.round(r.start * 5) / 100, endS: Math.round((r.last + 1) * 5) / 100, durationS: Math.round(r.frames / 480) / 100 }));
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
    const endS = r.endS;
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
