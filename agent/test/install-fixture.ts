/**
 * The installer run into a Debian tree, and what is in the tree: a listing
 * of every entry to compare two states of it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const repoDir = join(import.meta.dirname, '../..');
export const installer = join(repoDir, 'provisioning/install.sh');

export interface Run { status: number | null; stdout: string; out: string }

export function run(cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.trim(), out: `${r.stdout}${r.stderr}`.trim() };
}

/** provisioning/install.sh --root ROOT --no-packages ARGS (the tree's packages are what debootstrap put there). */
export function install(root: string, ...args: string[]): Run {
  return run('bash', [installer, '--root', root, '--no-packages', ...args]);
}

/**
 * A command in the tree, with /proc, /sys and /dev as a booted system has
 * them (no init, no services), the tree's own resolv.conf and time zone left
 * as they are. --keep-unit: the host may have no systemd to ask for a scope.
 */
export function inTree(root: string, ...command: string[]): Run {
  return run('systemd-nspawn', ['-q', '--register=no', '--keep-unit', '--console=pipe', '--resolv-conf=off', '--timezone=off', '-D', root, ...command]);
}

/**
 * inTree with the host's trusted certificates (where egress goes through a
 * TLS proxy with its own CA, as on a site's network or this CI's) for what
 * reaches the npm registry from the tree. NSPAWN_ARGS are nspawn's own.
 */
export function inTreeOnline(root: string, nspawnArgs: string[], ...command: string[]): Run {
  const bundle = '/etc/ssl/certs/ca-certificates.crt';
  return inTree(root, `--bind-ro=${bundle}`, `--setenv=NODE_EXTRA_CA_CERTS=${bundle}`, ...nspawnArgs, ...command);
}

/**
 * path -> "type mode uid:gid size target mtime ctime" (folders: type, mode and
 * owner only, as their times move when entries come and go). The change time
 * moves on any write, so equal entries mean an untouched file, identical
 * content or not; contentDiffers tells a rewritten file from a changed one.
 */
export function treeListing(root: string): Map<string, string> {
  const fields = run('find', [root, '-mindepth', '1', '-printf', '%P\\0%y %m %U:%G %s %l %T@ %C@\\0']).stdout.split('\0');
  const entries = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const meta = fields[i + 1]!;
    entries.set(fields[i]!, meta.startsWith('d ') ? meta.split(' ').slice(0, 3).join(' ') : meta);
  }
  return entries;
}

/** Whether PATH (relative) has other bytes in tree A than in tree B. */
export function contentDiffers(a: string, b: string, path: string): boolean {
  const hash = (root: string): string => run('sha256sum', [join(root, path)]).stdout.split(' ')[0] ?? '';
  return hash(a) !== hash(b);
}

/** The paths whose entries differ between two listings (added, removed or changed). */
export function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((p) => before.get(p) !== after.get(p)).sort();
}
