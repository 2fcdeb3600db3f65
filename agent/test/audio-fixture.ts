/**
 * Real audio files for the audio and cache tests, generated with ffmpeg's
 * lavfi sources into a temp folder, and measurement of what a sink played.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEbur128Summary, type Loudness } from '../src/audio/loudness.js';
import type { AudioSink } from '../src/audio/sink.js';

export const FORMATS = {
  mp3: ['-c:a', 'libmp3lame', '-b:a', '128k'],
  m4a: ['-c:a', 'aac', '-b:a', '128k'],
  opus: ['-c:a', 'libopus', '-b:a', '96k', '-f', 'ogg'],
  flac: ['-c:a', 'flac'],
  wav: ['-c:a', 'pcm_s16le'],
} as const;
export type Format = keyof typeof FORMATS;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `loa-${prefix}-`));
}

/**
 * A stereo sine (pink noise with `noise`) of `seconds`, peak at `levelDb`
 * dBFS, sampled at `rate` (not 48 kHz by default, so resampling is exercised).
 */
export function makeTone(dir: string, name: string, format: Format, opts: { levelDb?: number; seconds?: number; freq?: number; rate?: number; noise?: boolean } = {}): string {
  const { levelDb = -20, seconds = 2, freq = 1000, rate = 44100, noise = false } = opts;
  const path = join(dir, `${name}.${format === 'opus' ? 'ogg' : format}`);
  const src = noise
    ? `anoisesrc=color=pink:d=${seconds}:sample_rate=${rate}:amplitude=1,volume=${levelDb}dB`
    : `sine=f=${freq}:d=${seconds}:sample_rate=${rate},volume=${(levelDb + 18.06).toFixed(2)}dB`;
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-filter_complex', `${src},pan=stereo|c0=c0|c1=c0`, ...FORMATS[format], path]);
  return path;
}

/** EBU R128 loudness of raw s16le 48 kHz stereo PCM (what a file sink recorded). ebur128 prints on stderr. */
export function measureRaw(path: string): Loudness {
  const out = execFileSync(
    'sh',
    ['-c', 'ffmpeg -nostdin -hide_banner -nostats -f s16le -ar 48000 -ac 2 -i "$1" -af ebur128=peak=true:framelog=verbose -f null - 2>&1', 'sh', path],
    { encoding: 'utf8' },
  );
  return parseEbur128Summary(out);
}

/** Whether a command is installed (tests that need it are skipped, saying so, when it is not). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One stretch of tone heard at a sink: which one (by frequency), from when to when. */
export interface ToneSpan {
  freqHz: number;
  startMs: number;
  /** Just after its last audible sample. */
  endMs: number;
  durationMs: number;
}

const FRAME_MS = 1000 / 48_000;
/** The lowest pitch the tests use is well above 50 Hz: a longer gap between crossings is a gap, not a cycle. */
const LONGEST_PERIOD_MS = 20;
/** This many cycles in a row off the span's pitch by more than PITCH_CHANGE make a new span. */
const CHANGE_CYCLES = 8;
const PITCH_CHANGE = 0.1;
const GAP_PERIODS = 1.5;

interface OpenSpan {
  startMs: number;
  lastLoudMs: number;
  cycles: number;
  cycleMs: number;
  /** Each cycle's period: the span's pitch is their median, so a few distorted cycles at an edge do not move it. */
  periods: number[];
  lastCrossMs: number;
  /** Consecutive cycles off this span's pitch, from the crossing where they began. */
  off: { fromMs: number; cycles: number; cycleMs: number; periods: number[] } | null;
}

/**
 * Cuts what a sink played into tones, sample by sample: a span starts at
 * the first sample above `threshold` and ends after the last one once
 * `silenceMs` of silence follow; its frequency comes from the left channel's
 * rising zero crossings, the mean period of its whole cycles (a gap
 * shorter than `silenceMs` inside a span, such as a sink underrun on a busy
 * machine, is not taken for a lower pitch). A sound of several pitches
 * (a chime) is one span of their average. With `handover`, for sources
 * that take over from each other with no silence between, a change of pitch
 * starts a new span where the new pitch's cycles begin, and a span's pitch
 * is the median period (a few distorted cycles at a codec's edge do not move it).
 * Times are the caller's: the wall-clock instant of each period a paced
 * sink plays, or the position in a recording.
 */
export class ToneTracker {
  readonly spans: ToneSpan[] = [];
  private open: OpenSpan | null = null;
  private prev = 0;
  private readonly threshold: number;
  private readonly silenceMs: number;
  private readonly handover: boolean;

  constructor(opts: { threshold?: number; silenceMs?: number; handover?: boolean } = {}) {
    this.threshold = opts.threshold ?? 64;
    this.silenceMs = opts.silenceMs ?? 2;
    this.handover = opts.handover ?? false;
  }

  feed(pcm: Buffer, atMs: number): void {
    const frames = Math.floor(pcm.length / 4);
    for (let f = 0; f < frames; f++) {
      const x = pcm.readInt16LE(f * 4);
      const t = atMs + f * FRAME_MS;
      if (Math.abs(x) > this.threshold) {
        if (this.open) this.open.lastLoudMs = t;
        else this.open = { startMs: t, lastLoudMs: t, cycles: 0, cycleMs: 0, periods: [], lastCrossMs: -Infinity, off: null };
      } else if (this.open && t - this.open.lastLoudMs > this.silenceMs) {
        this.close();
      }
      // The crossing between the two samples, interpolated: a period in whole samples would be 1-2 % off at 880 Hz.
      // Digital silence is no crossing: an underrun's zeros inside a negative half-cycle would count a short cycle, a higher pitch.
      if (this.open && this.prev < 0 && x > 0) this.cycle(this.open, t - FRAME_MS + (FRAME_MS * -this.prev) / (x - this.prev));
      if (x !== 0) this.prev = x;
    }
  }

  /** The spans, the last one closed at its last audible sample. */
  finish(): ToneSpan[] {
    this.close();
    return this.spans;
  }

  /** A rising zero crossing at `t`: one more cycle of this span's pitch, or of the next one's. */
  private cycle(o: OpenSpan, t: number): void {
    const periodMs = t - o.lastCrossMs;
    const from = o.lastCrossMs;
    o.lastCrossMs = t;
    if (periodMs > LONGEST_PERIOD_MS) return;
    const meanMs = o.cycles > 0 ? o.cycleMs / o.cycles : 0;
    // Half as long again as the pitch so far: a short underrun gap inside the tone, not a cycle of it.
    if (o.cycles >= CHANGE_CYCLES && periodMs > meanMs * GAP_PERIODS) return;
    if (!this.handover || o.cycles < CHANGE_CYCLES || Math.abs(periodMs - meanMs) <= meanMs * PITCH_CHANGE) {
      this.keepOff(o);
      o.cycles++;
      o.cycleMs += periodMs;
      o.periods.push(periodMs);
      return;
    }
    // Only a steady new pitch starts a new span; noise stays in this one and shows in its pitch.
    const offMeanMs = o.off ? o.off.cycleMs / o.off.cycles : periodMs;
    if (Math.abs(periodMs - offMeanMs) > offMeanMs * PITCH_CHANGE) this.keepOff(o);
    o.off ??= { fromMs: from, cycles: 0, cycleMs: 0, periods: [] };
    o.off.cycles++;
    o.off.cycleMs += periodMs;
    o.off.periods.push(periodMs);
    if (o.off.cycles < CHANGE_CYCLES) return;
    const next: OpenSpan = { startMs: o.off.fromMs, lastLoudMs: o.lastLoudMs, cycles: o.off.cycles, cycleMs: o.off.cycleMs, periods: o.off.periods, lastCrossMs: t, off: null };
    o.lastLoudMs = o.off.fromMs - FRAME_MS;
    o.off = null;
    this.close();
    this.open = next;
  }

  /** Cycles off the pitch that did not become a new one count in this span after all. */
  private keepOff(o: OpenSpan): void {
    if (!o.off) return;
    o.cycles += o.off.cycles;
    o.cycleMs += o.off.cycleMs;
    o.periods.push(...o.off.periods);
    o.off = null;
  }

  private close(): void {
    const o = this.open;
    if (!o) return;
    this.keepOff(o);
    this.open = null;
    const endMs = o.lastLoudMs + FRAME_MS;
    const sorted = o.periods.sort((a, b) => a - b);
    const freqHz = o.cycles === 0 ? 0 : this.handover ? 1000 / sorted[sorted.length >> 1]! : (o.cycles * 1000) / o.cycleMs;
    this.spans.push({ freqHz, startMs: o.startMs, endMs, durationMs: endMs - o.startMs });
  }
}

/** The spans of a recording (raw s16le 48 kHz stereo), positions in ms from its first byte. */
export function toneSpans(pcm: Buffer, opts: { threshold?: number; silenceMs?: number; handover?: boolean } = {}): ToneSpan[] {
  const tracker = new ToneTracker(opts);
  tracker.feed(pcm, 0);
  return tracker.finish();
}

/** Whether a span is the tone of `freqHz` (within 3 %). */
export function isTone(span: ToneSpan, freqHz: number): boolean {
  return Math.abs(span.freqHz - freqHz) <= freqHz * 0.03;
}

/**
 * Spans of the tone `freqHz`, the pieces a starved machine's underruns cut
 * it into joined first (gaps under `joinGapMs`, pieces of any length), then
 * only those of at least `minMs`: a piece under the bound is still part of
 * the tone it was cut from.
 */
export function joinedTones(spans: readonly ToneSpan[], freqHz: number, minMs: number, joinGapMs = 120): ToneSpan[] {
  const out: ToneSpan[] = [];
  for (const sp of spans.filter((x) => isTone(x, freqHz))) {
    const last = out.at(-1);
    if (last && sp.startMs - last.endMs < joinGapMs) {
      last.endMs = sp.endMs;
      last.durationMs = last.endMs - last.startMs;
    } else out.push({ ...sp });
  }
  return out.filter((x) => x.durationMs > minMs);
}

/**
 * A sound card that takes audio as fast as it comes and keeps all of it in
 * memory: the 60 s cases decode in a second instead of a minute. What it
 * received is exactly what a paced card would have played.
 */
export class CaptureSink implements AudioSink {
  readonly kind = 'file' as const;
  readonly failure = null;
  private chunks: Buffer[] = [];
  async open(): Promise<void> {}
  async write(pcm: Buffer): Promise<void> {
    this.chunks.push(Buffer.from(pcm));
  }
  bufferedMs(): number {
    return 0;
  }
  async drain(): Promise<void> {}
  async close(): Promise<void> {}
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
