import { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { assessClock, clockJumpMs, provesTime, CLOCK_JUMP_THRESHOLD_MS, type ClockAssessment } from './trust.js';

export interface ClockMonitorOptions {
  log: Logger;
  trustWithoutSync: boolean;
  loadLastSeen: () => number | null;
  saveLastSeen: (ms: number) => void;
  /** Injected for tests; defaults to asking systemd. */
  ntpSynchronized?: () => Promise<boolean>;
  rtcValid?: () => boolean;
  /** The latest time the province signed in a verified message (evidence against a clock far off). */
  provinceMs?: () => number | null;
  /** How often to ask whether NTP has synchronised while it has not (default a minute). */
  ntpAskEveryMs?: number;
  now?: () => number;
}

/** How often the last-seen time is persisted: rare, to spare the SD card. */
const PERSIST_EVERY_MS = 10 * 60_000;
const NTP_ASK_EVERY_MS = 60_000;

/**
 * Watches the wall clock: trust (emits 'trust' on change) and jumps (emits
 * 'jump' with the size in ms), so the conductor re-plans the day.
 */
export class ClockMonitor extends EventEmitter {
  private assessment: ClockAssessment = { trusted: false, reason: 'never-synced' };
  private lastLook = { wallMs: 0, monoMs: 0 };
  private lastPersistMs = 0;
  private ntp = false;
  private lastNtpAskMs = -Infinity;
  private readonly now: () => number;

  constructor(private readonly opts: ClockMonitorOptions) {
    super();
    this.now = opts.now ?? Date.now;
  }

  get state(): ClockAssessment & { nowMs: number; ntpSynchronized: boolean } {
    return { ...this.assessment, nowMs: this.now(), ntpSynchronized: this.ntp };
  }

  get trusted(): boolean {
    return this.assessment.trusted;
  }

  /**
   * Compares the wall clock with the monotonic one since the last look and
   * emits 'jump' on a step: cheap, so the daemon calls it every second
   * (a programme due just after NTP steps the clock starts that much sooner
   * than at the next main-loop turn); `tick` calls it too.
   */
  lookForJump(): { wallMs: number; monoMs: number } {
    const look = { wallMs: this.now(), monoMs: performance.now() };
    if (this.lastLook.monoMs > 0) {
      const jump = clockJumpMs(this.lastLook, look);
      if (Math.abs(jump) >= CLOCK_JUMP_THRESHOLD_MS) {
        this.opts.log.warn({ jumpMs: Math.round(jump) }, 'clock jumped: re-planning the schedule');
        this.emit('jump', jump);
      }
    }
    this.lastLook = look;
    return look;
  }

  /** Looks at the clock; call from the main loop every few seconds. */
  async tick(): Promise<void> {
    const look = this.lookForJump();
    // Asking systemd costs a process: only while it matters, and at most once a minute.
    if (!this.ntp && !this.opts.trustWithoutSync && look.wallMs - this.lastNtpAskMs >= (this.opts.ntpAskEveryMs ?? NTP_ASK_EVERY_MS)) {
      this.lastNtpAskMs = look.wallMs;
      this.ntp = await (this.opts.ntpSynchronized ?? systemNtpSynchronized)();
    }
    const next = assessClock({
      nowMs: look.wallMs,
      lastSeenMs: this.opts.loadLastSeen(),
      ntpSynchronized: this.ntp,
      rtcValid: this.opts.rtcValid?.() ?? false,
      trustWithoutSync: this.opts.trustWithoutSync,
      provinceMs: this.opts.provinceMs?.() ?? null,
    });
    if (next.trusted !== this.assessment.trusted || next.reason !== this.assessment.reason) {
      const level = next.trusted ? 'info' : 'warn';
      this.opts.log[level]({ trusted: next.trusted, reason: next.reason }, next.trusted ? 'clock trusted' : 'clock not trusted: scheduled programmes wait');
      const trustChanged = next.trusted !== this.assessment.trusted;
      this.assessment = next;
      if (trustChanged) this.emit('trust', next);
    }
    if (provesTime(next) && look.wallMs - this.lastPersistMs >= PERSIST_EVERY_MS) this.persist(look.wallMs);
  }

  /** Records the current time as seen (at shutdown, and every few minutes while its source proves it). */
  persist(ms = this.now()): void {
    if (!provesTime(this.assessment)) return;
    const seen = this.opts.loadLastSeen();
    if (seen === null || ms > seen) this.opts.saveLastSeen(ms);
    this.lastPersistMs = ms;
  }
}

/**
 * The kernel's NTP status as systemd reports it (timesyncd, chrony and ntpd
 * all set it); the timesyncd flag file answers without a process when present.
 */
export function systemNtpSynchronized(): Promise<boolean> {
  if (existsSync('/run/systemd/timesync/synchronized')) return Promise.resolve(true);
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 2000 }, (err, stdout) => {
      resolve(!err && stdout.trim() === 'yes');
    });
  });
}
