import type { ResumePoint } from '../schedule/arbiter.js';
import type { SourceSegment } from '../audio/live/types.js';
import type { PlannedLive } from './session.js';

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
  /** An operator's switch, run between sequences, never in the middle of one. */
  exclusive<T>(op: () => Promise<T>): Promise<T>;
  /** Starts watching that these zones stay powered while an item plays; `stop()` gives the evidence. */
  watch(zones: readonly string[]): { stop(): RelayEvidence };
}

/**
 * Whether each zone's relay (and its amplifier) was confirmed on for the
 * whole item, and what the confirmation rests on: `readback` the levels read
 * back from the lines (sysfs, the simulated bank; not gpiod, see RelayDriver.readsLine), `mcu` the
 * microcontroller's own outputs and its amplifier current, `none` nothing
 * could be read.
 */
export interface RelayEvidence {
  kind: 'none' | 'readback' | 'mcu';
  /** confirmed: on at every look; dropped: seen off at least once; unconfirmed: could not be read. */
  zones: Record<string, 'confirmed' | 'dropped' | 'unconfirmed'>;
  /** How many times the lines were read during the item. */
  samples: number;
  /** With `mcu`: the lowest amplifier current seen, mA. */
  ampMinMa?: number;
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
  /** What was heard when it is not the item's content: a live capture's recording in the cache. */
  content?: string;
  /** A live item: which source was heard when, and the end it was playing to (a rejoin keeps it). */
  live?: { segments: SourceSegment[]; untilMs: number };
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
  /**
   * A live relay: its chain (wp-stream's engine) connects to its main source
   * now and runs to `liveEndMs` of its first sample; `gainDb` is the
   * session's volume (streams carry no loudness gain of their own).
   */
  prepareLive(req: { live: PlannedLive['live']; gainDb: number }): Promise<PreparedItem>;
  /** Waits until everything written has left the speakers. */
  drain(): Promise<void>;
}

export type { ResumePoint };
