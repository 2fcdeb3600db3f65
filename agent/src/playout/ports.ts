import type { ResumePoint } from '../schedule/arbiter.js';

/**
 * What the playout needs from the hardware owners, as small interfaces the
 * daemon fills with the real relay bank, content cache and audio path.
 */

export interface RelayPort {
  /** How long before the audio the relay sequence must begin for these zones. */
  leadMs(zones: readonly string[]): number;
  /**
   * Amplifiers on, warm-up, zones on, timed so that audio can start at
   * `audioStartMs`; resolves with the earliest instant audio may start.
   */
  powerUp(zones: readonly string[], audioStartMs: number, signal: AbortSignal): Promise<number>;
  /** Tail delay, zones off, amplifiers off. */
  powerDown(signal: AbortSignal): Promise<void>;
  /** Everything off now (emergency stop, shutdown). */
  allOff(): Promise<void>;
}

export interface ResolvedContent {
  path: string;
  /** Loudness normalisation gain computed when the content entered the cache. */
  gainDb: number;
  durationMs: number;
  name: string;
}

export interface ContentPort {
  /** Verified content ready to play, or why it cannot be played. */
  resolve(sha256: string): Promise<ResolvedContent | { problem: string }>;
  touch(sha256: string): void;
}

export interface ItemOutcome {
  result: 'played' | 'interrupted' | 'failed';
  startedAtMs: number | null;
  endedAtMs: number;
  playedMs: number;
  reason?: string;
}

/** A decoder warmed up ahead of its instant. */
export interface PreparedItem {
  /** Starts the audio at `startAtMs` (or at once) and resolves when it ends; `onStarted` once its first audio is in the sink. */
  play(startAtMs: number | null, signal: AbortSignal, onStarted?: () => void): Promise<ItemOutcome>;
  /** Releases a prepared item that will not be played. */
  discard(): void;
}

export interface AudioPort {
  /** Spawns and pre-rolls the decoder so that play() starts within milliseconds. */
  prepare(req: { path: string; offsetMs: number; gainDb: number }): Promise<PreparedItem>;
  /** Waits until everything written has left the speakers. */
  drain(): Promise<void>;
}

export type { ResumePoint };
