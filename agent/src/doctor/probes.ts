import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `loa doctor` reads of the machine, behind one small interface so a
 * test can point it at a fake sysfs tree and fake `vcgencmd` or `mmcli`
 * executables on PATH: the real tools, found the same way, in a
 * different place.
 */
export interface Probes {
  /** Where sysfs is mounted: /sys, or a test's tree (LOA_SYSFS). */
  readonly sysRoot: string;
  /** A file's text, trimmed; null when it cannot be read. */
  read(path: string): string | null;
  /** The entries of a folder; [] when it cannot be listed. */
  list(path: string): string[];
  /** Whether `cmd` is an executable on PATH. */
  has(cmd: string): boolean;
  /** Runs a command (bounded); null when it is missing, fails or times out. */
  run(cmd: string, args: string[], timeoutMs?: number): Promise<string | null>;
}

export function systemProbes(env: NodeJS.ProcessEnv = process.env): Probes {
  const path = (env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean);
  const has = (cmd: string): boolean => (cmd.includes('/') ? existsSync(cmd) : path.some((dir) => existsSync(join(dir, cmd))));
  return {
    sysRoot: env.LOA_SYSFS ?? '/sys',
    read: (p) => {
      try {
        return readFileSync(p, 'utf8').trim();
      } catch {
        return null;
      }
    },
    list: (p) => {
      try {
        return readdirSync(p).sort();
      } catch {
        return [];
      }
    },
    has,
    run: (cmd, args, timeoutMs = 5000) =>
      new Promise((resolve) => {
        if (!has(cmd)) return resolve(null);
        execFile(cmd, args, { timeout: timeoutMs, env }, (err, stdout) => resolve(err ? null : stdout));
      }),
  };
}
