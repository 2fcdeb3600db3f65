/** A whole station with a microphone, and the recordings it keeps, for the live tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, type Station } from './station-fixture.js';
import { ToneTracker, toneSpans, type ToneSpan } from './audio-fixture.js';
import { startMic, type Mic } from './mic-feeder.js';

export { startMic, type Mic };

/**
 * A whole station (station-fixture.ts) whose capture device is this
 * microphone, with what its paced sink plays cut into tones as it plays;
 * `loa` in this process talks to it. `over` adds config sections,
 * `capture` settings to audio.capture.
 */
export async function liveStation(
  t: Test,
  over: Record<string, unknown> = {},
  opts: { ownRelays?: boolean; capture?: Record<string, unknown> } = {},
): Promise<{ s: Station; mic: Mic; heard: ToneTracker; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-live-'));
  const mic = startMic(dir);
  t.teardown(() => mic.close());
  process.env.ALSA_CONFIG_PATH = mic.alsaConfigPath;
  const sink = new PacedSink({ path: join(dir, 'out.raw') }, silentLogger());
  const heard = new ToneTracker({ threshold: 200, silenceMs: 30 });
  sink.onPlayed((period, atMs) => heard.feed(period, atMs));
  const audio = { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false }, capture: { device: mic.device, ...opts.capture } };
  const s = await startStation({ audio, ...over }, dir, { sink, ...(opts.ownRelays === false ? { ownRelays: false } : {}) });
  t.teardown(() => s.stop());
  process.env.LOA_SOCKET = s.config.paths.socket;
  return { s, mic, heard, dir };
}

/** The recording a row names, decoded as the sink would play it. */
export function recordingSpans(s: Station, sha: string): ToneSpan[] {
  const raw = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', s.agent.media.cache.pathFor(sha), '-ac', '2', '-ar', '48000', '-f', 's16le', 'pipe:1'], { maxBuffer: 64 << 20 });
  return toneSpans(raw, { threshold: 200, silenceMs: 30 });
}

