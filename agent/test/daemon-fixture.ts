/**
 * The real daemon as a child process (so a test can pull its plug with
 * kill -9), the `loa` command run in-process against it, and what a file
 * sink received, read back as tones.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/** Debian installs it under the architecture's library folder (x86_64-linux-gnu, aarch64-linux-gnu...). */
function faketimeLibrary(): string {
  const found = readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime', 'libfaketimeMT.so.1')).find((p) => existsSync(p));
  if (!found) throw new Error('libfaketime missing: sudo apt-get install faketime');
  return found;
}

export interface ToneRun {
  /** Dominant frequency, Hz (rounded to 10). */
  freq: number;
  startS: number;
  durationS: number;
}

/**
 * The tones a file sink received (s16le, 48 kHz, stereo), as runs of one
 * frequency measured in 50 ms windows by zero crossings. Silence ends a
 * run; a click (up to three odd windows, 150 ms) does not.
 */
export function tonesAt(path: string): ToneRun[] {
  if (!existsSync(path)) return [];
  const pcm = readFileSync(path);
  const frame = 4;
  const win = 2400; // 50 ms of frames
  const windows: Array<number | null> = [];
  for (let w = 0; (w + 1) * win * frame <= pcm.length; w++) {
    let energy = 0;
    let crossings = 0;
    let prev = 0;
    for (let i = 0; i < win; i++) {
      const s = pcm.readInt16LE((w * win + i) * frame);
      energy += s * s;
      if (i > 0 && (prev < 0) !== (s < 0)) crossings++;
      prev = s;
    }
    // Below -50 dBFS is silence.
    windows.push(Math.sqrt(energy / win) < 100 ? null : crossings / 2 / 0.05);
  }
  const near = (f: number | null | undefined, ref: number): boolean => f != null && Math.abs(f - ref) <= ref * 0.08;
  const runs: Array<{ freqs: number[]; start: number; n: number }> = [];
  let current: { freqs: number[]; start: number; n: number } | null = null;
  for (let w = 0; w < windows.length; w++) {
    const f = windows[w];
    if (f == null) {
      current = null;
      continue;
    }
    const ref = current ? median(current.freqs) : 0;
    // A click spoils a window or two; the tone after it carries on the run.
    if (current && [0, 1, 2, 3].some((k) => near(windows[w + k], ref))) {
      current.n++;
      if (near(f, ref)) current.freqs.push(f);
    } else {
      current = { freqs: [f], start: w, n: 1 };
      runs.push(current);
    }
  }
  return runs.map((r) => ({ freq: Math.round(median(r.freqs) / 10) * 10, startS: Math.round(r.start * 5) / 100, durationS: Math.round(r.n * 5) / 100 }));
}

/**
 * Which of the known `tones` (Hz) the sink received, in order, for how long:
 * runs under 0.3 s left out (the joins of items straddle measuring windows),
 * and runs of one tone split by a dropout joined (give each item its own tone).
 */
export function tonesHeard(path: string, tones: readonly number[]): Array<{ freq: number; durationS: number }> {
  const out: Array<{ freq: number; durationS: number }> = [];
  for (const r of tonesAt(path).filter((x) => x.durationS >= 0.3)) {
    const freq = tones.find((f) => Math.abs(f - r.freq) <= f * 0.05) ?? r.freq;
    const last = out.at(-1);
    if (last?.freq === freq) last.durationS = Math.round((last.durationS + r.durationS) * 100) / 100;
    else out.push({ freq, durationS: r.durationS });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

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
