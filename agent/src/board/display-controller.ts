import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../lib/backoff.js';
import type { DisplayPower } from './display.js';
import { displayPowerAt, type DisplayPowerNow, type DisplayPowerReason, type DisplayWindow } from './display-schedule.js';

export interface DisplayControllerOptions {
  driver: DisplayPower;
  /** The player page, blanked whenever the screen is off (BoardServer). */
  board: { setBlank(blank: boolean): void };
  timezone: string;
  /** `config.board.display.on`; empty: always on. */
  windows: readonly DisplayWindow[];
  log: Logger;
  now?: () => number;
  /** Delays between attempts of a failing command (full jitter); default 2 s doubling to 1 min. */
  retry?: BackoffOptions;
}

/** One switch of the screen, for the agent to record. */
export interface DisplayPowerEvent {
  on: boolean;
  reason: DisplayPowerReason;
  /** False: the panel did not switch (the page is black or shown regardless); retried until it does. */
  ok: boolean;
  problem: string | null;
  driver: string;
  atMs: number;
}

export interface DisplayStatus {
  /** What the screen should be; null before start. */
  on: boolean | null;
  reason: DisplayPowerReason | null;
  /** The next scheduled change, epoch ms. */
  untilMs: number | null;
  /** What the panel was last switched to; unknown before the first command and after a failed one. */
  panel: 'on' | 'off' | 'unknown';
  driver: string;
  problem: string | null;
}

/** setTimeout's limit; the schedule's deadlines are at most a week away, but a clamp costs nothing. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Owns the screen's power. Applies the schedule with one timer set to its
 * next boundary (no polling); an emergency wakes the screen at once and
 * gives it back to the schedule when it ends.
 *
 * Off always blanks the page first, so a screen without CEC, or whose CEC
 * command fails, still goes black; the driver then switches the panel.
 * Commands run one at a time; a failing one is logged and reported once per
 * transition, surfaced in `problems()` and retried with backoff until it
 * works or a newer transition replaces it.
 *
 * Emits 'power' (DisplayPowerEvent) for each switch's outcome.
 */
export class DisplayController extends EventEmitter<{ power: [DisplayPowerEvent] }> {
  private emergency = false;
  private want: DisplayPowerNow | null = null;
  private panel: boolean | null = null;
  /** The transition that keeps failing, with its latest error. */
  private failure: { on: boolean; problem: string } | null = null;
  private boundaryTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** True from the moment a command loop starts until it has seen the target reached: a newer target joins it. */
  private driving = false;
  private inFlight: Promise<void> = Promise.resolve();
  private running = false;
  private readonly backoff: Backoff;
  private readonly now: () => number;

  constructor(private readonly o: DisplayControllerOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.backoff = new Backoff(o.retry ?? { initialMs: 2000, maxMs: 60_000 });
  }

  /** Applies the schedule now, including a command to the panel (its state after a restart is unknown). */
  start(): void {
    this.running = true;
    this.want = null;
    this.apply();
  }

  /** Stops the timers and waits for a command in flight; the screen stays as it is. */
  async stop(): Promise<void> {
    this.running = false;
    this.clearTimers();
    await this.inFlight;
  }

  /** The arbiter's emergency: on wakes the screen at once; off hands it back to the schedule. */
  setEmergency(active: boolean): void {
    if (active === this.emergency) return;
    this.emergency = active;
    this.apply();
  }

  /** Recomputes from the clock now: call it after the clock jumped (NTP sync, manual set). */
  recheck(): void {
    this.apply();
  }

  problems(): string[] {
    const f = this.failure;
    if (!f) return [];
    const meanwhile = f.on ? 'the page is shown but the panel may be asleep' : 'the page is black meanwhile';
    return [`display: the screen could not be switched ${f.on ? 'on' : 'off'} over ${this.o.driver.kind}: ${f.problem} (retrying; ${meanwhile})`];
  }

  status(): DisplayStatus {
    return {
      on: this.want?.on ?? null,
      reason: this.want?.reason ?? null,
      untilMs: this.want?.untilMs ?? null,
      panel: this.panel === null ? 'unknown' : this.panel ? 'on' : 'off',
      driver: this.o.driver.kind,
      problem: this.failure?.problem ?? null,
    };
  }

  private apply(): void {
    if (!this.running) return;
    if (this.boundaryTimer) clearTimeout(this.boundaryTimer);
    this.boundaryTimer = null;
    const nowMs = this.now();
    const next = displayPowerAt(nowMs, this.o.timezone, this.o.windows, this.emergency);
    const changed = next.on !== this.want?.on;
    this.want = next;
    if (next.untilMs !== null) {
      this.boundaryTimer = setTimeout(() => this.apply(), Math.min(Math.max(0, next.untilMs - nowMs), MAX_TIMER_MS));
    }
    if (!changed) return;
    this.o.board.setBlank(!next.on);
    this.o.log.info(
      { on: next.on, reason: next.reason, until: next.untilMs === null ? null : new Date(next.untilMs).toISOString(), driver: this.o.driver.kind },
      next.on ? 'display on' : 'display off',
    );
    // A new transition is tried at once, not after the old one's backoff.
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.backoff.reset();
    this.drive();
  }

  private drive(): void {
    // A command in flight finishes first; the loop then sees the newer target.
    if (this.driving) return;
    this.driving = true;
    this.inFlight = this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.running && this.want && this.panel !== this.want.on) {
        const target = this.want;
        const problem = await this.o.driver.setPower(target.on).then(() => null, (err: unknown) => (err instanceof Error ? err.message : String(err)));
        this.panel = problem === null ? target.on : null;
        this.report(target, problem);
        if (problem !== null && this.want.on === target.on) {
          if (this.running) this.scheduleRetry();
          return;
        }
      }
    } finally {
      // Cleared in the same turn as the last check of the target, so no newer one can slip between.
      this.driving = false;
    }
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.drive();
    }, this.backoff.next());
  }

  private report(target: DisplayPowerNow, problem: string | null): void {
    const event: DisplayPowerEvent = { on: target.on, reason: target.reason, ok: problem === null, problem, driver: this.o.driver.kind, atMs: this.now() };
    const fields = { on: target.on, reason: target.reason, driver: this.o.driver.kind };
    if (problem === null) {
      if (this.failure?.on === target.on) this.o.log.info({ ...fields, attempts: this.backoff.attempts + 1 }, 'display switched after retries');
      this.failure = null;
      this.backoff.reset();
      this.emit('power', event);
      return;
    }
    const retrying = this.failure?.on === target.on;
    this.failure = { on: target.on, problem };
    // Once per transition: the retries of the same switch are not news.
    if (retrying) {
      this.o.log.debug({ ...fields, problem, attempts: this.backoff.attempts + 1 }, 'display switch failed again');
      return;
    }
    this.o.log.error({ ...fields, problem }, target.on ? 'display could not be switched on; retrying' : 'display could not be switched off (the page is black); retrying');
    this.emit('power', event);
  }

  private clearTimers(): void {
    if (this.boundaryTimer) clearTimeout(this.boundaryTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.boundaryTimer = this.retryTimer = null;
  }
}
