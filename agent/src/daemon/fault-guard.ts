import type { Logger } from 'pino';

/**
 * The daemon's last resort: an error nobody caught (thrown in a listener,
 * a microtask or a timer, or a promise nobody awaited) is logged with what
 * threw it, recorded for the province, shown in `loa status`, and the agent
 * keeps going. Node's default (exit) would take the station off air and end
 * an emergency that the error had nothing to do with; systemd would restart
 * it with every relay switched off in between.
 *
 * Truly fatal is only a storm: many uncaught errors in a short time mean a
 * loop is failing over and over and the process state cannot be trusted;
 * then the agent exits (EX_SOFTWARE) and systemd starts a clean one.
 * (Out of memory is not catchable; the watchdog handles a wedged loop.)
 */
export interface FaultGuardOptions {
  log: Logger;
  /** Exits the process (the daemon: process.exit; a test: a spy). */
  exit: (code: number) => void;
  now?: () => number;
  /** More than `storm.count` uncaught errors within `storm.windowMs` end the process. */
  storm?: { count: number; windowMs: number };
}

export const EX_SOFTWARE = 70;

export interface Fault {
  origin: string;
  message: string;
  atMs: number;
}

export class FaultGuard {
  private readonly recent: number[] = [];
  private last: Fault | null = null;
  private total = 0;
  private recorder: ((f: Fault, stack: string | undefined) => void) | null = null;
  private readonly now: () => number;
  private readonly storm: { count: number; windowMs: number };

  constructor(private readonly o: FaultGuardOptions) {
    this.now = o.now ?? Date.now;
    this.storm = o.storm ?? { count: 20, windowMs: 60_000 };
  }

  /** Where faults go once the store is open (the outbox event the province sees). */
  recordTo(recorder: (f: Fault, stack: string | undefined) => void): void {
    this.recorder = recorder;
  }

  /** One uncaught error; `origin` says how it reached us (uncaughtException, unhandledRejection). */
  note(origin: string, err: unknown): void {
    const atMs = this.now();
    const message = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
    const stack = err instanceof Error ? err.stack : undefined;
    this.total++;
    this.last = { origin, message, atMs };
    this.o.log.error({ err, origin }, 'uncaught error: the agent keeps running');
    try {
      this.recorder?.(this.last, stack);
    } catch (recordErr) {
      // The store itself may be what failed; the log line above is the record then.
      this.o.log.error({ err: recordErr }, 'could not record the uncaught error');
    }
    this.recent.push(atMs);
    while (this.recent.length > 0 && this.recent[0]! < atMs - this.storm.windowMs) this.recent.shift();
    if (this.recent.length > this.storm.count) {
      this.o.log.fatal({ errors: this.recent.length, windowMs: this.storm.windowMs }, 'uncaught errors keep coming: exiting for a clean restart');
      this.o.exit(EX_SOFTWARE);
    }
  }

  /** For `loa status` and the province's health report. */
  problems(): string[] {
    if (!this.last) return [];
    const when = new Date(this.last.atMs).toISOString();
    return [`internal error caught (${this.total} since start, last ${when}, ${this.last.origin}): ${this.last.message}; the agent kept running, see the log`];
  }

  /** Installs the process-wide handlers; returns their removal. */
  install(proc: NodeJS.Process = process): () => void {
    const onException = (err: Error, origin: string): void => this.note(origin, err);
    const onRejection = (reason: unknown): void => this.note('unhandledRejection', reason);
    proc.on('uncaughtException', onException);
    proc.on('unhandledRejection', onRejection);
    return () => {
      proc.off('uncaughtException', onException);
      proc.off('unhandledRejection', onRejection);
    };
  }
}
