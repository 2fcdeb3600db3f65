import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from '../lib/logger.js';
import type { Level, RelayDriver } from './driver.js';

/**
 * GPIO through the GPIO character device, via libgpiod's `gpioset` tool
 * (Debian package `gpiod`).
 *
 * A line requested over the character device keeps its level only while
 * the requesting process lives, so each line is held by its own long-lived
 * `gpioset` (v1 `--mode=signal`; v2 holds by default). A change of level
 * stops that holder and starts one with the new level; Raspberry Pi kernels
 * keep a released output at its level (`pinctrl_bcm2835.persist_gpio_outputs`,
 * on by default), so the few milliseconds between the two do not move the
 * relay. v2's interactive mode would avoid the gap but is a build option
 * that distributions may leave out.
 *
 * `gpioget` is never used: it re-requests the line as an input, which on a
 * relay output switches the relay. A line's level is the level its holder
 * was started with, while that holder lives.
 *
 * libgpiod 1.6 (Debian 12) and 2.x (Debian 13, Raspberry Pi OS Trixie) have
 * different command lines; `gpioset --version` tells which.
 */
export type GpiodMajor = 1 | 2;

export function parseGpiodVersion(text: string): GpiodMajor {
  const m = /\(libgpiod\) v(\d+)\.\d+/.exec(text);
  if (!m) throw new Error(`cannot tell the libgpiod version from "gpioset --version": ${JSON.stringify(text.slice(0, 120))}`);
  const major = Number(m[1]);
  if (major !== 1 && major !== 2) throw new Error(`libgpiod v${m[1]} is not supported (only 1.x and 2.x)`);
  return major;
}

/** Arguments for a `gpioset` that drives one line and holds it until SIGTERM. */
export function holdArgs(major: GpiodMajor, chip: string, line: number, level: Level): string[] {
  return major === 1 ? ['--mode=signal', chip, `${line}=${level}`] : ['-c', chip, '-C', 'loa', `${line}=${level}`];
}

/** The device node a chip name stands for, as the gpiod tools resolve it: `0`, `gpiochip0` or a path. */
export function chipDevicePath(chip: string): string {
  if (/^\d+$/.test(chip)) return `/dev/gpiochip${chip}`;
  return chip.includes('/') ? chip : `/dev/${chip}`;
}

interface Holder {
  level: Level;
  child: ChildProcess;
  /** Set when the holder exited without being asked to. */
  died?: string;
  exited: Promise<void>;
}

export interface GpiodRelayDriverOptions {
  chip: string;
  gpiosetPath?: string;
  log?: Logger;
  /** At open, how long each first holder must stay up to count as holding its line. */
  confirmMs?: number;
}

export class GpiodRelayDriver implements RelayDriver {
  /** A line's level is its holder's, not read from the pad: no read-back evidence for the play log. */
  readonly readsLine = false;
  readonly kind = 'gpiod';
  private major: GpiodMajor | undefined;
  private readonly holders = new Map<number, Holder>();
  /** Per-line chains: a change waits for the previous one on the same line. */
  private readonly chains = new Map<number, Promise<unknown>>();

  constructor(private readonly opts: GpiodRelayDriverOptions) {}

  async open(lines: ReadonlyArray<{ line: number; initial: Level }>): Promise<void> {
    const device = chipDevicePath(this.opts.chip);
    try {
      await access(device);
    } catch {
      throw new Error(
        `GPIO chip ${device} does not exist (relays.chip is "${this.opts.chip}"). ` +
          'List the chips with `gpiodetect`; if there are none, this machine has no GPIO: use relays.driver "sim".',
      );
    }
    this.major = await this.detectVersion();
    for (const { line, initial } of lines) {
      const holder = await this.startHolder(line, initial);
      // Permission, busy-line and wrong-offset errors show at the first
      // request; later changes reuse what has been proven here.
      await this.confirm(line, holder);
    }
  }

  async write(line: number, level: Level): Promise<void> {
    await this.onLine(line, async () => {
      const old = this.holder(line);
      if (!old.died && old.level === level) return;
      await this.stop(old);
      const holder = await this.startHolder(line, level);
      if (holder.died) throw new Error(`cannot drive GPIO line ${line} on ${this.opts.chip}: ${holder.died}`);
    });
  }

  async read(line: number): Promise<Level> {
    const h = this.holder(line);
    if (h.died) throw new Error(`GPIO line ${line} on ${this.opts.chip} is no longer held (${h.died}); its level is unknown`);
    return h.level;
  }

  async close(): Promise<void> {
    await Promise.all([...this.chains.values()].map((c) => c.catch(() => undefined)));
    await Promise.all([...this.holders.values()].map((h) => this.stop(h)));
    this.holders.clear();
  }

  private async detectVersion(): Promise<GpiodMajor> {
    const path = this.opts.gpiosetPath ?? 'gpioset';
    try {
      const { stdout } = await promisify(execFile)(path, ['--version'], { timeout: 5000 });
      return parseGpiodVersion(stdout);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${path} not found: install the Debian package "gpiod" (libgpiod tools)`);
      throw err;
    }
  }

  /** Resolves once the holder process runs (or could not be started: then `died` says why). */
  private async startHolder(line: number, level: Level): Promise<Holder> {
    const path = this.opts.gpiosetPath ?? 'gpioset';
    const child = spawn(path, holdArgs(this.major!, this.opts.chip, line, level), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2000) stderr += d;
    });
    const holder: Holder = {
      level,
      child,
      exited: new Promise((resolve) => {
        child.once('error', (err) => {
          holder.died = `cannot run ${path}: ${err.message}`;
          resolve();
        });
        child.once('close', (code, signal) => {
          if (this.holders.get(line) === holder && child.killed === false) {
            holder.died ??= `gpioset exited ${signal ?? `with code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
            this.opts.log?.error({ line, chip: this.opts.chip, reason: holder.died }, 'GPIO line holder died; relay level unknown');
          }
          resolve();
        });
      }),
    };
    this.holders.set(line, holder);
    await Promise.race([new Promise((resolve) => child.once('spawn', resolve)), holder.exited]);
    return holder;
  }

  private async confirm(line: number, holder: Holder): Promise<void> {
    const confirmMs = this.opts.confirmMs ?? 200;
    const settled = await Promise.race([holder.exited.then(() => 'exited' as const), new Promise<'held'>((r) => setTimeout(() => r('held'), confirmMs))]);
    if (settled === 'exited') {
      throw new Error(
        `cannot drive GPIO line ${line} on ${this.opts.chip}: ${holder.died ?? 'gpioset exited'}. ` +
          'Check the line offset, that the agent is in the gpio group, and that no other program holds the line (`gpioinfo`).',
      );
    }
  }

  private async stop(h: Holder): Promise<void> {
    if (h.child.exitCode === null && h.child.signalCode === null) {
      h.child.kill('SIGTERM');
      const t = setTimeout(() => h.child.kill('SIGKILL'), 2000);
      await h.exited;
      clearTimeout(t);
    }
  }

  private holder(line: number): Holder {
    const h = this.holders.get(line);
    if (!h) throw new Error(`GPIO line ${line} was not opened as an output`);
    return h;
  }

  private onLine<T>(line: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(line) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    this.chains.set(line, run.catch(() => undefined));
    return run;
  }
}
