/**
 * The live-source tests' fixture: the real stream servers with fault
 * injection (agent/bench/stream-servers.ts, shared with the failover
 * benchmark) and what a paced sink heard while a chain played.
 */
import type { Logger } from 'pino';
import { ToneTracker, isTone, type ToneSpan } from './audio-fixture.js';
import { PacedSink } from '../src/audio/sink.js';
import { playItem, type PlayOutcome } from '../src/audio/player.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import type { LiveChain } from '../src/audio/live/types.js';

export * from '../bench/stream-servers.js';

/** What a paced sink heard while a chain played: tone spans (wall-clock ms) and the player's outcome. */
export interface Heard {
  spans: ToneSpan[];
  outcome: PlayOutcome;
}

/**
 * Plays `chain` to its end into a PacedSink (real-time, like a sound card)
 * and cuts what it played into tones. `at` runs callbacks at ms after the
 * first audible sample (fault injection on the sink's timeline).
 */
export async function playChain(chain: LiveChain, log: Logger, at: Array<[number, () => void]> = []): Promise<Heard> {
  const sink = new PacedSink({}, log);
  await sink.open();
  // Sources hand over to each other without silence: each heard as its own span.
  const tracker = new ToneTracker({ silenceMs: 40, handover: true });
  let armed = false;
  const timers: NodeJS.Timeout[] = [];
  sink.onPlayed((period, playedAtMs) => {
    tracker.feed(period, playedAtMs);
    if (!armed && firstAudibleFrame(period) >= 0) {
      armed = true;
      for (const [ms, fn] of at) timers.push(setTimeout(fn, ms));
    }
  });
  const outcome = await playItem({ decoder: chain, sink, signal: new AbortController().signal, stallTimeoutMs: 5000, log });
  await sink.drain();
  await sink.close();
  for (const t of timers) clearTimeout(t);
  return { spans: tracker.finish(), outcome };
}

/** The spans of one tone, in order (within 3 %). */
export function spansOf(heard: Heard, freqHz: number): ToneSpan[] {
  return heard.spans.filter((s) => isTone(s, freqHz) && s.durationMs > 30);
}
