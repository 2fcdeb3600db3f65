import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A pseudo-terminal pair made by socat: what the host opens (`hostPath`,
 * standing in for /dev/serial/by-id/...) and what the simulated
 * microcontroller opens (`mcuPath`). Both are symlinks socat makes and
 * removes, so "unplugging" (killing socat) makes the host's path vanish as a
 * USB adapter's by-id link does, and "replugging" brings it back.
 */
export interface PtyPair {
  readonly hostPath: string;
  readonly mcuPath: string;
  readonly plugged: boolean;
  /** Kills socat: both ends see the line go away. */
  unplug(): Promise<void>;
  /** Starts socat again with the same paths. */
  replug(): Promise<void>;
  /** Unplugs and removes the temporary directory, if this pair made it. */
  close(): Promise<void>;
}

export interface PtyPairOptions {
  /** Directory for both links; a fresh temporary one when absent. */
  dir?: string;
  hostPath?: string;
  mcuPath?: string;
  /** How long socat may take to come up. */
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
// socat must not outlive the test or tool that started it.
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startPtyPair(opts: PtyPairOptions = {}): Promise<PtyPair> {
  const ownDir = opts.dir === undefined && (opts.hostPath === undefined || opts.mcuPath === undefined);
  const dir = opts.dir ?? (ownDir ? await mkdtemp(join(tmpdir(), 'loa-pty-')) : '');
  const hostPath = opts.hostPath ?? join(dir, 'host');
  const mcuPath = opts.mcuPath ?? join(dir, 'mcu');
  const timeoutMs = opts.startTimeoutMs ?? 5000;
  let proc: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${mcuPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(p);
    p.once('exit', () => live.delete(p));
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => fail(new Error(`socat did not start a pty pair within ${timeoutMs} ms: ${err.trim()}`)), timeoutMs);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        p.kill('SIGKILL');
        reject(e);
      };
      p.once('error', (e) => fail(new Error(`cannot run socat (is Debian's socat installed?): ${e.message}`)));
      p.once('exit', (code) => fail(new Error(`socat exited with ${code} before the pty pair was ready: ${err.trim()}`)));
      p.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        // socat makes both links before it says this.
        if (err.includes('starting data transfer loop')) {
          clearTimeout(timer);
          p.removeAllListeners('exit');
          p.once('exit', () => live.delete(p));
          p.stderr!.removeAllListeners('data');
          p.stderr!.resume();
          resolve();
        }
      });
    });
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };

  await start();
  return {
    hostPath,
    mcuPath,
    get plugged() {
      return proc !== null;
    },
    unplug: stop,
    replug: async () => {
      if (proc === null) await start();
    },
    close: async () => {
      await stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
