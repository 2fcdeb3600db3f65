/**
 * A Debian root booted with systemd as PID 1 in a container
 * (systemd-nspawn --boot), for tests of the units as systemd runs them:
 * users, capabilities, device policy, sockets and path units for real.
 * The container has its own network (nothing reaches the host's ports) but
 * shares the host's kernel, and with it the wall clock: a test must never
 * set the time in it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface Container {
  /** The container's PID 1 (systemd), as the host sees it. */
  pid: number;
  /** Runs a command inside (every namespace of PID 1); never throws. */
  exec(argv: string[], o?: { input?: string }): { code: number; out: string; err: string };
  /** The container's console output so far (for failure messages). */
  console(): string;
}

interface Teardown { teardown(fn: () => unknown): void }

/**
 * Boots `root` and waits until systemd has finished starting (running or
 * degraded). `bind`, `bindRo` are nspawn --bind/--bind-ro arguments
 * ("SRC:DEST"); `capabilities` adds to the few nspawn leaves a container
 * (CAP_SYS_TIME is not among them: the clock is the host's); `devicePolicy`
 * lets the container's systemd load the BPF programs that enforce
 * DevicePolicy=/DeviceAllow= (nspawn withholds CAP_BPF and bpf(2)), on a
 * cgroup v2 hierarchy of its own.
 * Not registered with machined and without a scope of its own: the test
 * machine has no systemd of its own to ask.
 */
export async function bootContainer(
  t: Teardown,
  root: string,
  o: { bind?: string[]; bindRo?: string[]; capabilities?: string[]; devicePolicy?: boolean; timeoutMs?: number } = {},
): Promise<Container> {
  const name = `loa-${basename(root.replace(/\/root$/, '')).replace(/[^a-zA-Z0-9-]/g, '').slice(-20)}`;
  const nspawn: ChildProcess = spawn('systemd-nspawn', [
    '--quiet', '--boot', `--directory=${root}`, `--machine=${name}`, '--register=no', '--keep-unit', '--private-network', '--console=pipe',
    ...[...(o.capabilities ?? []), ...(o.devicePolicy ? ['CAP_BPF'] : [])].map((c) => `--capability=${c}`),
    ...(o.devicePolicy ? ['--system-call-filter=bpf'] : []), ...(o.bind ?? []).map((b) => `--bind=${b}`), ...(o.bindRo ?? []).map((b) => `--bind-ro=${b}`),
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } });
  let output = '';
  const keep = (d: Buffer): void => { output = (output + d.toString()).slice(-20_000); };
  nspawn.stdout!.on('data', keep);
  nspawn.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
  t.teardown(async () => {
    if (nspawn.exitCode !== null) return;
    nspawn.kill('SIGTERM'); // the container halts, as on `poweroff`
    const timer = setTimeout(() => nspawn.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });

  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  // nspawn's first children are its own helpers; the container's PID 1 is the one that has become systemd.
  let pid = 0;
  while (pid === 0) {
    if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited ${nspawn.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`the container did not start:\n${output}`);
    const children = readFileSync(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    pid = children.find((c) => { try { return readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd'; } catch { return false; } }) ?? 0;
    if (pid === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const container: Container = {
    pid,
    exec: (argv, eo = {}) => {
      const r = spawnSync('nsenter', [`--target=${pid}`, '--wd=/', '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--', 'env', '-u', 'NODE_OPTIONS', ...argv], {
        // The container's own environment, not this test's: tap adds NODE_OPTIONS (its loaders, absent there) to every child, hence env -u too.
        encoding: 'utf8', input: eo.input, timeout: 30_000, env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      });
      return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? String(r.error ?? '') };
    },
    console: () => output,
  };
  for (;;) {
    const r = container.exec(['systemctl', 'is-system-running']);
    const state = r.out.trim() || `no answer: ${r.code} ${r.err.trim()}`;
    if (state === 'running' || state === 'degraded') return container;
    if (nspawn.exitCode !== null) throw new Error(`the container stopped while booting:\n${output}`);
    if (Date.now() > deadline) throw new Error(`the container did not finish booting (${state}):\n${output}\n${container.exec(['systemctl', 'list-jobs', '--no-pager']).out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
