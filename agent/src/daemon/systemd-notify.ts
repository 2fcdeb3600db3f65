import { spawn } from 'node:child_process';
import type { Logger } from '../lib/logger.js';

/**
 * Talks to systemd's service manager: readiness, status text, stopping, and
 * the watchdog. Node cannot send on the unix datagram socket in
 * NOTIFY_SOCKET, so each message is one run of `systemd-notify`.
 *
 * - `--pid=<our pid>` attributes the message to the agent (the main PID);
 *   systemd-notify runs as a child, which the unit allows with
 *   `NotifyAccess=all`.
 * - No `--no-block`: systemd-notify then waits until systemd has read the
 *   message (its BARRIER=1 handshake), so systemd can still tell which
 *   service the short-lived sender belonged to.
 * - Without NOTIFY_SOCKET (not under systemd: tests, the demo, a terminal)
 *   every call is a no-op.
 * - A failure to notify is logged, never thrown: the station plays on.
 */
export interface Notifier {
  /** True when running under systemd with a notify socket. */
  readonly enabled: boolean;
  ready(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  watchdog(): Promise<void>;
}

export interface NotifierOptions {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  pid?: number;
  /** The systemd-notify binary. */
  command?: string;
  /** A stuck systemd-notify is killed after this long. */
  timeoutMs?: number;
}

/** STATUS= is one line of the datagram: a newline would start a new field. */
export function statusField(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, ' ').slice(0, 400)}`;
}

export function notifyArgs(pid: number, fields: readonly string[]): string[] {
  return [`--pid=${pid}`, ...fields];
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const env = opts.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const pid = opts.pid ?? process.pid;
  const command = opts.command ?? 'systemd-notify';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let failing = false;
  // Messages go out in call order: READY before WATCHDOG, STOPPING last.
  let queue: Promise<void> = Promise.resolve();

  const run = (fields: string[]): Promise<void> =>
    new Promise((resolve) => {
      const child = spawn(command, notifyArgs(pid, fields), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...env, NOTIFY_SOCKET: socket },
      });
      // Not spawn's own `timeout`: its timer outlives a child that failed to start.
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const done = (problem?: string): void => {
        clearTimeout(timer);
        // Logged on the edge only: a watchdog every 15 s must not flood the journal.
        if (problem && !failing) opts.log.warn({ fields, problem }, 'systemd notification failed');
        if (!problem && failing) opts.log.info('systemd notifications work again');
        failing = problem !== undefined;
        resolve();
      };
      child.once('error', (err) => done(`cannot run ${command}: ${err.message}`));
      child.once('close', (code, signal) => done(code === 0 ? undefined : `${command} exited ${signal ?? `with code ${code}`}: ${stderr.trim()}`));
    });

  const send = (fields: string[]): Promise<void> => {
    if (!socket) return Promise.resolve();
    queue = queue.then(() => run(fields));
    return queue;
  };
  const withStatus = (field: string, status?: string): string[] => (status === undefined ? [field] : [field, statusField(status)]);

  return {
    enabled: Boolean(socket),
    ready: (status) => send(withStatus('READY=1', status)),
    status: (text) => send([statusField(text)]),
    stopping: (status) => send(withStatus('STOPPING=1', status)),
    watchdog: () => send(['WATCHDOG=1']),
  };
}

/**
 * How often to feed the watchdog: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
 * advises. Undefined when the watchdog is off or meant for another process.
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface Watchdog {
  readonly enabled: boolean;
  /** The main loop calls this each time it gets through an iteration. */
  progress(): void;
  /** Feeds now if healthy; called by the timer, exposed for tests and for a feed right after READY. */
  tick(): Promise<void>;
  start(): void;
  stop(): void;
}

/**
 * Feeds systemd's watchdog only while the main loop proves progress: the
 * loop calls `progress()`, and a feed happens only if it did so within
 * `staleAfterMs` and `isHealthy()` (when given) agrees. A wedged loop stops
 * the feeding and systemd restarts the agent. Being offline is not
 * unhealthy: nothing here looks at the network. The loop must therefore
 * wake (and call `progress()`) at least every `staleAfterMs`, even when its
 * next deadline is hours away.
 */
export function createWatchdog(opts: {
  notifier: Pick<Notifier, 'watchdog'>;
  log: Logger;
  /** Defaults to half of WATCHDOG_USEC; the watchdog is off when neither is set. */
  intervalMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Defaults to twice the interval (systemd's whole WatchdogSec). */
  staleAfterMs?: number;
  isHealthy?: () => boolean;
  now?: () => number;
}): Watchdog {
  const intervalMs = opts.intervalMs ?? watchdogIntervalMs(opts.env);
  const staleAfterMs = opts.staleAfterMs ?? (intervalMs ?? 0) * 2;
  const now = opts.now ?? Date.now;
  let last = now();
  let timer: NodeJS.Timeout | undefined;
  let starving = false;

  const tick = async (): Promise<void> => {
    if (intervalMs === undefined) return;
    const silentMs = now() - last;
    const healthy = silentMs <= staleAfterMs && (opts.isHealthy?.() ?? true);
    if (!healthy && !starving) {
      opts.log.error({ silentMs, staleAfterMs }, 'main loop is not making progress; no longer feeding the systemd watchdog');
    }
    if (healthy && starving) opts.log.warn('main loop is making progress again; feeding the systemd watchdog');
    starving = !healthy;
    if (healthy) await opts.notifier.watchdog();
  };

  return {
    enabled: intervalMs !== undefined,
    progress: () => {
      last = now();
    },
    tick,
    start: () => {
      if (intervalMs === undefined || timer) return;
      void tick();
      timer = setInterval(() => void tick(), intervalMs);
      timer.unref();
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
