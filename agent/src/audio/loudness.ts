import { spawn } from 'node:child_process';
import { PCM } from './pcm.js';

/**
 * EBU R128 loudness, measured when content enters the cache so that
 * bulletins from different sources play at one level.
 */
export interface Loudness {
  /** Integrated loudness, LUFS; -Infinity for silence. */
  integratedLufs: number;
  /** True peak, dBTP; -Infinity for silence. */
  truePeakDbtp: number;
}

export interface LoudnessTarget {
  targetLufs: number;
  truePeakDbtp: number;
}

/**
 * Measures the signal the decoder will produce (resampled to 48 kHz stereo,
 * so a mono file counts both channels as it will play) with ffmpeg's
 * ebur128 filter. Rejects with ffmpeg's own error line when the file does
 * not decode.
 */
export function measureLoudness(file: string, ffmpegPath = 'ffmpeg'): Promise<Loudness> {
  const args = [
    '-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', '-i', file, '-vn',
    '-af', `aresample=${PCM.sampleRate},aformat=channel_layouts=stereo,ebur128=peak=true:framelog=verbose`,
    '-f', 'null', '-',
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn(ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d: string) => {
      // The summary comes last; keep a bounded tail.
      stderr = (stderr + d).slice(-16_384);
    });
    proc.once('error', (err) => reject(new Error(`cannot run ${ffmpegPath}: ${err.message}`)));
    proc.once('close', (code) => {
      if (code !== 0) {
        const errLine = stderr.split('\n').filter((l) => /\[(error|fatal)\]/.test(l)).at(-1);
        return reject(new Error((errLine ?? `ffmpeg exited with code ${code}`).replace(/^.*\[(error|fatal)\]\s*/, '')));
      }
      try {
        resolve(parseEbur128Summary(stderr));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

/** Parses the Summary block the ebur128 filter prints at the end. */
export function parseEbur128Summary(text: string): Loudness {
  const at = text.lastIndexOf('Summary:');
  if (at < 0) throw new Error('ffmpeg printed no loudness summary (no audio decoded?)');
  const summary = text.slice(at);
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(summary);
    if (!m) throw new Error(`loudness summary has no ${what}`);
    return m[1] === '-inf' ? -Infinity : Number(m[1]);
  };
  return {
    integratedLufs: num(/I:\s+(-inf|-?\d+(?:\.\d+)?) LUFS/, 'integrated loudness'),
    truePeakDbtp: num(/Peak:\s+(-inf|-?\d+(?:\.\d+)?) dBFS/, 'true peak'),
  };
}

/** Below this the ebur128 gate leaves nothing to measure: treat as silence. */
const SILENCE_LUFS = -70;

/**
 * Gain (dB) that brings `measured` to the target loudness without letting
 * the true peak exceed the ceiling. Silence gets 0 (amplifying noise to
 * -23 LUFS helps no one). Rounded to 0.01 dB.
 */
export function normalisationGain(measured: Loudness, target: LoudnessTarget): number {
  if (!Number.isFinite(measured.integratedLufs) || measured.integratedLufs <= SILENCE_LUFS) return 0;
  let gain = target.targetLufs - measured.integratedLufs;
  if (Number.isFinite(measured.truePeakDbtp) && measured.truePeakDbtp + gain > target.truePeakDbtp) {
    gain = target.truePeakDbtp - measured.truePeakDbtp;
  }
  return Math.round(gain * 100) / 100;
}

/**
 * Volume 0-100 to dB with an audio-taper law: gain = 40·log10(v/100), i.e.
 * amplitude (v/100)². 100 → 0 dB, 50 → -12 dB, 25 → -24 dB, 10 → -40 dB,
 * 0 → -Infinity (mute). Never positive, so volume can never clip.
 */
export function volumeGainDb(volumePercent: number): number {
  if (!Number.isFinite(volumePercent) || volumePercent < 0 || volumePercent > 100) {
    throw new Error(`volume must be 0-100, got ${volumePercent}`);
  }
  if (volumePercent === 0) return -Infinity;
  return Math.round(40 * Math.log10(volumePercent / 100) * 100) / 100;
}
