/**
 * The real daemon as a child process (so a test can pull its plug with
 * kill -9), the `loa` command run in-process against it, and what a file
 * sink received, read back as tones.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { faketimeLibrary } from '../bench/soak/faketime.js';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';

/** Runs `loa ARGS` in-process; returns exit code and output. */
export async function loa(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

export async function loaJson<T>(configPath: string, ...args: string[]): Promise<T> {
  const r = await loa('--config', configPath, '--json', ...args);
  if (r.code !== 0) throw new Error(`loa ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

export interface Daemon {
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** Starts the daemon; `env` adds to the environment (libfaketime for a wrong clock). */
export function spawnDaemon(configPath: string, env: Record<string, string> = {}): Daemon {
  const child = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, stderr: () => stderr, exited };
}

/** Starts the daemon and waits until it answers `loa status`. */
export async function startDaemon(configPath: string, env: Record<string, string> = {}): Promise<Daemon> {
  const d = spawnDaemon(configPath, env);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (d.child.exitCode !== null) throw new Error(`daemon exited ${d.child.exitCode}: ${d.stderr()}`);
    if ((await loa('--config', configPath, 'status', '--json')).code === 0) return d;
    if (Date.now() > deadline) throw new Error(`daemon not ready: ${d.stderr()}`);
    await sleep(100);
  }
}

/** Pulls the plug: no shutdown, no flush. */
export async function killHard(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGKILL');
  await d.exited;
}

/** An orderly stop (systemd's SIGTERM). */
export async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  await d.exited;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a value other than undefined, or fails saying `what`. */
export async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** libfaketime (Debian faketime, required by scripts/test): the daemon (and its ffmpeg) sees a wall clock shifted by `days`; timers keep real time. */
export function fakeClock(days: number): Record<string, string> {
  return {
    LD_PRELOAD: faketimeLibrary(),
    FAKETIME: `${days >= 0 ? '+' : ''}${days}d`,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}


export { tonesAt, tonesHeard, type ToneRun } from '../bench/tones-heard.js';

/**
 * The config of a one-amplifier, one-zone ("north") station on simulated
 * relays with a file sink and a trusted clock; `extra` adds or replaces
 * top-level sections (sync, board, schedule).
 */
export function simStationConfig(o: { id: string; dir: string; sink: string; locale?: 'vi' | 'en'; warmupMs?: number; zoneLeadMs?: number; tailMs?: number }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    station: { id: o.id, locale: o.locale ?? 'en' },
    paths: { state: join(o.dir, 'state'), socket: join(o.dir, 'loa.sock') },
    relays: {
      driver: 'sim',
      amplifiers: [{ name: 'amp', line: 17, warmupMs: o.warmupMs ?? 200 }],
      zones: [{ name: 'north', line: 22, amplifier: 'amp' }],
      zoneLeadMs: o.zoneLeadMs ?? 50,
      tailMs: o.tailMs ?? 100,
    },
    audio: { sink: { kind: 'file', path: o.sink }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    log: { level: 'warn' },
    ...extra,
  };
}
