/**
 * A fresh Debian 12 root for tests of the installer and the units: what a
 * commune controller is before loa is installed. Built once with debootstrap
 * (minbase, plus systemd as PID 1, Debian's own Node 18 and npm) and cached,
 * because building it takes minutes; each test gets its own copy.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import tap from 'tap';

const run = promisify(execFile);

export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = process.env.LOA_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** What a blank controller has: a booting systemd and udev... */
export const DEBIAN_BASE = ['systemd', 'systemd-sysv', 'dbus', 'udev', 'ca-certificates'];
/** ...and Debian's nodejs (18), npm and git (the README's starting point), installed by apt in the tree: debootstrap cannot resolve npm's dependencies. */
export const DEBIAN_PACKAGES = ['nodejs', 'npm', 'git'];

// As root (CI), a system cache that does not depend on HOME, so every run after the first finds it.
const cacheDir = (): string =>
  process.env.LOA_TEST_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/loa-test' : join(homedir(), '.cache', 'loa'));
// The package list is part of the name: a changed list builds a new tree.
const templatePath = (): string => join(cacheDir(), `debian-${DEBIAN_SUITE}-${[...DEBIAN_BASE, ...DEBIAN_PACKAGES].join('+').replace(/[^a-z0-9+]/g, '')}`);

let building: Promise<string> | undefined;

/** The file's own time limit (.taprc), given again from where the tree is ready: building it is not the test's time. */
const FILE_TIMEOUT_MS = 180_000;
/** debootstrap and apt over the network, or waiting for another test file's build. */
const BUILD_TIMEOUT_MS = 20 * 60_000;

/**
 * The cached pristine tree (never modify it). One test file builds it while
 * the others wait (a lock file naming its process); built into a private
 * folder and renamed into place, so a build cut short never leaves a half
 * tree under the final name.
 */
export function debianRootTemplate(): Promise<string> {
  building ??= (async () => {
    const path = templatePath();
    if (existsSync(join(path, 'etc', 'os-release'))) return path;
    tap.setTimeout(BUILD_TIMEOUT_MS);
    await mkdir(cacheDir(), { recursive: true });
    await holdingLock(`${path}.lock`, async () => {
      if (existsSync(join(path, 'etc', 'os-release'))) return; // built while this one waited
      const partial = await mkdtemp(`${path}.partial-`);
      try {
        const big = { maxBuffer: 64 * 1024 * 1024 };
        await run('debootstrap', ['--variant=minbase', `--include=${DEBIAN_BASE.join(',')}`, DEBIAN_SUITE, partial, DEBIAN_MIRROR], big);
        await run('chroot', [partial, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', ...DEBIAN_PACKAGES], {
          ...big,
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        });
        await run('chroot', [partial, 'apt-get', 'clean']);
        await rename(partial, path);
      } finally {
        await rm(partial, { recursive: true, force: true });
      }
    });
    tap.setTimeout(FILE_TIMEOUT_MS);
    return path;
  })();
  building.catch(() => { building = undefined; });
  return building;
}

/** Runs `fn` holding `lock` (created exclusively, naming this process); a lock whose process is gone is taken over. */
async function holdingLock(lock: string, fn: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (holder > 0 && !alive(holder)) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Teardown { teardown(fn: () => unknown): void }

/**
 * A copy of the template for one test, removed at the test's teardown: an
 * overlay on the template (instant, and the test's writes land in its own
 * upper folder), or where overlays cannot be mounted a full copy.
 */
export async function freshDebianRoot(t: Teardown): Promise<string> {
  const template = await debianRootTemplate();
  const dir = await mkdtemp(join(process.env.LOA_TEST_ROOTS ?? tmpdir(), 'loa-debian-root-'));
  const root = join(dir, 'root');
  await Promise.all(['root', 'upper', 'work'].map((d) => mkdir(join(dir, d))));
  let mounted = false;
  t.teardown(async () => {
    if (mounted) await run('umount', ['--lazy', root]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${template},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, root]);
    mounted = true;
  } catch {
    // cp -a keeps owners, modes, device nodes and hard links, as the installer will meet them.
    await rm(root, { recursive: true, force: true });
    await run('cp', ['-a', '--reflink=auto', template, root]);
  }
  return root;
}
