/**
 * Real audio files for the audio and cache tests, generated with ffmpeg's
 * lavfi sources into a temp folder, and measurement of what a sink played.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEbur128Summary, type Loudness } from '../src/audio/loudness.js';

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
