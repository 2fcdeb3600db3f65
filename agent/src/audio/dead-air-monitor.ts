import type { Logger } from 'pino';
import { wallClockMs } from './clock.js';
import { DEAD_AIR_IDLE, stepDeadAir, type DeadAirInput, type DeadAirSettings, type DeadAirState, type DeadAirTransition } from './dead-air.js';
import { bytesToMs, pcmLevelDb } from './pcm.js';
import type { AudioSink, PlayedListener } from './sink.js';

export type DeadAirListener = (t: DeadAirTransition) => void;

export interface DeadAirStatus {
  alarm: boolean;
  /** While the alarm is raised: since when the output has been silent. */
  quietSinceMs?: number;
  raisedAtMs?: number;
  /** The loudest period of the last half second that went out, dBFS (null: nothing measured yet). */
  levelDb: number | null;
  thresholdDb: number;
  holdMs: number;
}

/** A sink whose played periods can be listened to (the paced virtual card). */
interface PlayedSource {
  onPlayed(listener: PlayedListener): () => void;
}

const TICK_MS = 250;
const LEVEL_WINDOW_MS = 500;

/**
 * The dead-air check on what goes out: every period a paced sink plays
 * (or, on a sound card, every write at the instant it will be heard) is
 * measured and fed to the pure detector (dead-air.ts), with whether an
 * item is on air. Transitions go to the listeners (the agent: log, event,
 * status; the live chain: its fallback). `watch` wraps the sink the player
 * writes to.
 */
export class DeadAirMonitor {
  private state: DeadAirState = DEAD_AIR_IDLE;
  private listeners: DeadAirListener[] = [];
  private onAirItems = 0;
  private detach: (() => void) | null = null;
  /** Wall-clock ms at which the audio written so far ends (sinks measured at write). */
  private writtenUntilMs = -Infinity;
  private recent: Array<{ atMs: number; db: number }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly settings: DeadAirSettings,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /**
   * The sink to hand the player: a paced sink is measured as it plays
   * (silence of an underrun included); any other is measured at write.
   */
  watch(sink: AudioSink): AudioSink {
    this.detach?.();
    this.detach = null;
    if ('onPlayed' in sink && typeof (sink as Partial<PlayedSource>).onPlayed === 'function') {
      this.detach = (sink as unknown as PlayedSource).onPlayed((period, atMs) => this.level(pcmLevelDb(period), atMs));
      return sink;
    }
    const measured: AudioSink = {
      kind: sink.kind,
      open: () => sink.open(),
      write: (pcm: Buffer): Promise<void> => {
        const atMs = Math.max(wallClockMs() + sink.bufferedMs(), this.writtenUntilMs);
        this.writtenUntilMs = atMs + bytesToMs(pcm.length);
        this.level(pcmLevelDb(pcm), atMs);
        return sink.write(pcm);
      },
      bufferedMs: () => sink.bufferedMs(),
      get failure() {
        return sink.failure;
      },
      drain: () => sink.drain(),
      ...(sink.cut ? { cut: (fadeMs: number) => sink.cut!(fadeMs) } : {}),
      close: () => sink.close(),
    };
    return measured;
  }

  /** An item's audio began (true) or ended (false); overlapping items (a preemption) are counted. */
  sounding(on: boolean): void {
    const before = this.onAirItems > 0;
    this.onAirItems = Math.max(0, this.onAirItems + (on ? 1 : -1));
    const after = this.onAirItems > 0;
    if (before !== after) this.step({ kind: 'sounding', atMs: wallClockMs(), on: after });
  }

  /** Transitions (raised, cleared) as they happen; returns the unsubscribe. */
  onDeadAir(listener: DeadAirListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  status(): DeadAirStatus {
    const now = wallClockMs();
    const recent = this.recent.filter((r) => r.atMs > now - LEVEL_WINDOW_MS);
    const a = this.state.alarm;
    return {
      alarm: a !== null,
      ...(a ? { quietSinceMs: Math.round(a.quietSinceMs), raisedAtMs: Math.round(a.raisedAtMs) } : {}),
      levelDb: recent.length > 0 ? Math.round(Math.max(...recent.map((r) => r.db)) * 10) / 10 : null,
      thresholdDb: this.settings.thresholdDb,
      holdMs: this.settings.holdMs,
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.detach?.();
    this.detach = null;
  }

  private level(db: number, atMs: number): void {
    // Kept coarse (one in ten 5 ms periods is enough for a meter) so a long run holds little.
    if (this.recent.length === 0 || atMs - this.recent.at(-1)!.atMs >= 50 || db > this.recent.at(-1)!.db) {
      this.recent.push({ atMs, db: Number.isFinite(db) ? db : -120 });
      if (this.recent.length > 64) this.recent = this.recent.filter((r) => r.atMs > atMs - LEVEL_WINDOW_MS);
    }
    this.step({ kind: 'level', atMs, db });
  }

  private tick(): void {
    const now = wallClockMs();
    // Measured at write: no write means the card plays silence from where the audio ran out.
    if (this.detach === null && this.writtenUntilMs < now && this.writtenUntilMs > -Infinity && this.state.sounding && this.state.quietSinceMs === null) {
      this.step({ kind: 'level', atMs: this.writtenUntilMs, db: -Infinity });
    }
    this.step({ kind: 'tick', atMs: now });
  }

  private step(input: DeadAirInput): void {
    const { state, transition } = stepDeadAir(this.state, input, this.settings);
    this.state = state;
    if (!transition) return;
    if (transition.kind === 'raised') {
      this.log.error({ quietSince: new Date(transition.quietSinceMs).toISOString(), thresholdDb: this.settings.thresholdDb, holdMs: this.settings.holdMs }, 'dead air: the output is silent while a programme plays');
    } else {
      this.log.warn({ quietMs: Math.round(transition.quietMs), why: transition.why }, 'dead air cleared');
    }
    for (const l of this.listeners) {
      try {
        l(transition);
      } catch (err) {
        this.log.error({ err }, 'dead-air listener failed');
      }
    }
  }
}
