/**
 * The state folder's disk for the soaks: a small tmpfs (so it can fill up
 * and be remounted read-only for real) under powercut-fs, the FUSE layer
 * that loses every write not yet synced when the power goes
 * (agent/bench/powercut-fs/powercut-fs.c). Needs root and /dev/fuse.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, rmSync, openSync, closeSync, writeSync, statfsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LOA_ROOT } from '../../src/version.js';

const SOURCE = join(LOA_ROOT, 'agent', 'bench', 'powercut-fs', 'powercut-fs.c');

/** Compiles powercut-fs once per source change (cc, libfuse3-dev) into the loa cache folder; returns the binary. */
export function buildPowerCutFs(): string {
  const cache = process.env.LOA_TEST_CACHE ?? join(homedir(), '.cache', 'loa');
  mkdirSync(cache, { recursive: true });
  const bin = join(cache, 'powercut-fs');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(SOURCE).mtimeMs) return bin;
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', `${bin}.tmp`, SOURCE, ...flags], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('mv', [`${bin}.tmp`, bin]);
  return bin;
}

export function checkSoakHost(): void {
  if (process.getuid?.() !== 0) throw new Error('the power soak mounts a tmpfs and a FUSE file system: run it as root');
  if (!existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing: the power soak needs FUSE (modprobe fuse; apt-get install fuse3 libfuse3-dev)');
}

export class SoakDisk {
  private fs: ChildProcess | null = null;
  private readonly bin = buildPowerCutFs();
  /** The tmpfs: what survives a power cut. */
  readonly backing: string;
  /** Where the agent's state folder lives (the FUSE mount). */
  readonly mount: string;
  cuts = 0;

  constructor(dir: string, private readonly sizeMb = 48) {
    this.backing = join(dir, 'disk');
    this.mount = join(dir, 'state');
  }

  async start(): Promise<void> {
    checkSoakHost();
    mkdirSync(this.backing, { recursive: true });
    mkdirSync(this.mount, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.sizeMb}m,mode=0755`, 'loa-soak', this.backing]);
    await this.attach();
  }

  /** The power cut: the FUSE layer dies with every unsynced write, the kernel forgets the mount, power comes back. */
  async cut(): Promise<void> {
    this.cuts++;
    const fs = this.fs!;
    fs.kill('SIGKILL');
    if (fs.exitCode === null && fs.signalCode === null) await new Promise((r) => fs.once('exit', r));
    execFileSync('fusermount3', ['-u', '-z', this.mount]);
    await this.attach();
  }

  /** Fills the disk but for `leaveBytes` (a ballast file beside the state, in the tmpfs itself). */
  fill(leaveBytes = 0): void {
    const fd = openSync(join(this.backing, '.ballast'), 'a');
    try {
      const chunk = Buffer.alloc(1 << 20);
      for (;;) {
        const s = statfsSync(this.backing);
        const free = s.bavail * s.bsize - leaveBytes;
        if (free <= 0) break;
        try {
          writeSync(fd, chunk, 0, Math.min(chunk.length, free));
        } catch {
          break; // ENOSPC: full
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Remounts the disk read-only (or back); a file open for writing at that instant makes the kernel refuse (EBUSY): tried again. */
  readOnly(on: boolean): void {
    for (let attempt = 1; ; attempt++) {
      try {
        execFileSync('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, this.backing], { stdio: 'ignore' });
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        execFileSync('sleep', ['0.02']);
      }
    }
  }

  /** Back to a healthy disk: writable, the ballast gone. */
  heal(): void {
    this.readOnly(false);
    rmSync(join(this.backing, '.ballast'), { force: true });
  }

  /** A clean unmount (everything the agent synced is in the tmpfs), then the tmpfs too unless `keepBacking`. */
  async stop(keepBacking = false): Promise<void> {
    const fs = this.fs;
    if (fs && fs.exitCode === null && fs.signalCode === null) {
      const exited = new Promise((r) => fs.once('exit', r));
      fs.kill('SIGTERM');
      await exited;
    }
    this.fs = null;
    try {
      execFileSync('fusermount3', ['-u', '-z', this.mount], { stdio: 'ignore' });
    } catch {
      // already gone with its process
    }
    if (!keepBacking) this.release();
  }

  release(): void {
    try {
      execFileSync('umount', ['-l', this.backing], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
  }

  private async attach(): Promise<void> {
    const fs = spawn(this.bin, [this.backing, this.mount, '-o', 'fsname=powercut-fs'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    fs.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.fs = fs;
    const deadline = Date.now() + 10_000;
    while (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${this.mount} fuse`)) {
      if (fs.exitCode !== null) throw new Error(`powercut-fs exited ${fs.exitCode}: ${err}`);
      if (Date.now() > deadline) throw new Error(`powercut-fs did not mount ${this.mount}: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
