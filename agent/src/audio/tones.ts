import { execFile } from 'node:child_process';
import { rename, unlink } from 'node:fs/promises';
import { tempPathFor, fsyncDirectory } from '../lib/atomic-file.js';
import { dirname } from 'node:path';
import { PCM } from './pcm.js';

/**
 * Generated audio: the chime before bulletins, a test tone for `loa test`
 * and demos, and Vietnamese speech samples (espeak-ng) for the demo and
 * tests. Each file is written to a temp name and renamed into place.
 */

/** The same signal in both channels (ffmpeg's own upmix would lower each by 3 dB). */
const MONO_TO_STEREO = 'pan=stereo|c0=c0|c1=c0';

/** ~2 s two-tone chime (E6 then C6, each with a soft decay), 48 kHz stereo WAV; resolves with `path`. */
export function makeChime(path: string, ffmpegPath = 'ffmpeg'): Promise<string> {
  const tone = (f: number, d: number): string => `sine=f=${f}:d=${d}:sample_rate=${PCM.sampleRate},afade=t=in:d=0.02,afade=t=out:st=${d * 0.35}:d=${d * 0.65}`;
  const graph = `${tone(1318.5, 0.8)}[a];${tone(1046.5, 1.2)}[b];[a][b]concat=n=2:v=0:a=1,volume=-6dB,${MONO_TO_STEREO}`;
  return renderLavfi(path, graph, ffmpegPath);
}

/**
 * ~4 s two-tone siren (the European hi-lo, 960/770 Hz alternating every
 * half second) for the station's physical emergency button, which has no
 * recorded bulletin behind it.
 */
export function makeSiren(path: string, ffmpegPath = 'ffmpeg'): Promise<string> {
  // Each half second holds a whole number of cycles (480 and 385), so the
  // segments join at zero phase: no clicks between the tones.
  const hi = `sine=f=960:d=0.5:sample_rate=${PCM.sampleRate}`;
  const lo = `sine=f=770:d=0.5:sample_rate=${PCM.sampleRate}`;
  const parts = Array.from({ length: 8 }, (_, i) => `${i % 2 ? lo : hi}[s${i}]`).join(';');
  const inputs = Array.from({ length: 8 }, (_, i) => `[s${i}]`).join('');
  const graph = `${parts};${inputs}concat=n=8:v=0:a=1,volume=12dB,afade=t=in:d=0.05,afade=t=out:st=3.9:d=0.1,${MONO_TO_STEREO}`;
  return renderLavfi(path, graph, ffmpegPath);
}

export interface ToneOptions {
  frequencyHz?: number;
  durationMs?: number;
  /** Level of the sine's peak, dBFS (default -20). */
  levelDb?: number;
}

/** A sine test tone, 48 kHz stereo WAV; resolves with `path`. */
export function makeTestTone(path: string, ffmpegPath = 'ffmpeg', opts: ToneOptions = {}): Promise<string> {
  const { frequencyHz = 1000, durationMs = 2000, levelDb = -20 } = opts;
  // The sine source's amplitude is 1/8 (-18.06 dBFS); lift it to full scale first.
  const graph = `sine=f=${frequencyHz}:d=${durationMs / 1000}:sample_rate=${PCM.sampleRate},volume=${(levelDb + 18.06).toFixed(2)}dB,${MONO_TO_STEREO}`;
  return renderLavfi(path, graph, ffmpegPath);
}

/**
 * Speech with espeak-ng's Vietnamese voice, resolving with `path`. When
 * espeak-ng is missing, a 440 Hz tone of similar length takes its place (a
 * demo still has sound); `onFallback` hears about it.
 */
export async function makeSpeech(
  path: string,
  text: string,
  opts: { voice?: string; espeakPath?: string; ffmpegPath?: string; onFallback?: (why: string) => void } = {},
): Promise<string> {
  const tmp = tempPathFor(path);
  try {
    await run(opts.espeakPath ?? 'espeak-ng', ['-v', opts.voice ?? 'vi', '-w', tmp, text]);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    opts.onFallback?.(`${opts.espeakPath ?? 'espeak-ng'} is not installed: a tone stands in for the speech`);
    return makeTestTone(path, opts.ffmpegPath, { durationMs: Math.max(1000, text.length * 60), frequencyHz: 440 });
  }
  await rename(tmp, path);
  await fsyncDirectory(dirname(path));
  return path;
}

async function renderLavfi(path: string, graph: string, ffmpegPath: string): Promise<string> {
  const tmp = tempPathFor(path);
  try {
    await run(ffmpegPath, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-filter_complex', graph, '-ac', String(PCM.channels), '-ar', String(PCM.sampleRate), '-c:a', 'pcm_s16le', '-f', 'wav', tmp]);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dirname(path));
  return path;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(err);
      reject(new Error(`${cmd} failed: ${stderr.trim().split('\n').at(-1) ?? err.message}`));
    });
  });
}
