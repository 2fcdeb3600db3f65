/**
 * scripts/bench footprint [--idle 20] [--no-sync] [--node-flag FLAG]... [--entry FILE]
 *
 * Starts the real daemon (bin/loa-agent.js) as a station would run it, with
 * a realistic schedule and cache, audio to ALSA's null device through aplay
 * and simulated relays, and (unless --no-sync) provincial sync configured
 * and connected to the project's Mosquitto (TLS, password, ACL) started here
 * on a free port. `--node-flag` passes a V8/Node flag to the daemon (to
 * measure what one does); `--entry` starts another build of the daemon
 * instead of bin/loa-agent.js (a bundled one, say). Measures:
 * - ready_ms: from spawn until the control socket answers `status`;
 * - idle_rss_mb: the agent's resident memory after it settles (aplay, a
 *   separate ~2 MB process, is reported apart);
 * - idle_cpu_pct: the agent's CPU use while idle, over `--idle` seconds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { call } from '../src/cli/client.js';
import { LOA_ROOT } from '../src/version.js';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { generateProvinceKeys } from '../src/sync/signing.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { idle: { type: 'string', default: '20' }, 'no-sync': { type: 'boolean', default: false }, 'node-flag': { type: 'string', multiple: true, default: [] }, entry: { type: 'string' } },
});
const idleS = Number(values.idle);
const withSync = !values['no-sync'];
const nodeFlags = values['node-flag'];
const entry = values.entry ?? join(LOA_ROOT, 'bin/loa-agent.js');
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-footprint-'));
const configPath = join(dir, 'config.json');
const socket = join(dir, 'loa.sock');
const broker = withSync
  ? await MosquittoBroker.create({ dir: join(dir, 'broker'), province: { username: 'province', password: 'pw-province' }, stations: [{ id: 'bench-footprint', groups: ['province'], password: 'pw-station' }] })
  : undefined;
const passwordFile = join(dir, 'station.password');
writeFileSync(passwordFile, 'pw-station\n', { mode: 0o600 });
writeFileSync(configPath, JSON.stringify({
  station: { id: 'bench-footprint' },
  paths: { state: join(dir, 'state'), socket },
  relays: { driver: 'sim' },
  audio: { sink: { kind: 'alsa', device: 'null' } },
  clock: { trustWithoutSync: true },
  log: { level: 'warn' },
  ...(broker
    ? { sync: { brokers: [broker.url], passwordFile, tls: { caFile: broker.certs.caFile }, provinceKeys: [generateProvinceKeys().publicPem], groups: ['province'], reconnect: { initialMs: 200 } } }
    : {}),
}));

/** One run of the daemon: returns ready time, and the pid when kept running. */
async function start(): Promise<{ readyMs: number; pid: number; stop: () => Promise<void> }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeFlags, entry, '--config', configPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (;;) {
    try {
      await call(socket, 'status', {}, 1000);
      break;
    } catch {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const readyMs = performance.now() - t0;
  return {
    readyMs,
    pid: child.pid!,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

// The first start creates the database, the generated tones and the cache; a station's every-day start is the second.
const cold = await start();
await cold.stop();
const warm = await start();
await new Promise((r) => setTimeout(r, 5000)); // let startup garbage settle
const cpu0 = cpuTicks(warm.pid);
const t0 = performance.now();
await new Promise((r) => setTimeout(r, idleS * 1000));
const cpuPct = ((cpuTicks(warm.pid) - cpu0) / 100 / ((performance.now() - t0) / 1000)) * 100;
const rssMb = rss(warm.pid);
const status = (await call(socket, 'status', {}, 2000)) as { sync: { connected: boolean } | null };
const aplay = childRss(warm.pid);
await warm.stop();
await broker?.stop();

console.error(`first start ${cold.readyMs.toFixed(0)} ms (creates database, tones); aplay RSS ${aplay.toFixed(1)} MB`);
console.log(JSON.stringify({
  bench: 'footprint',
  sync: withSync,
  ...(withSync ? { sync_connected: status.sync?.connected === true } : {}),
  ...(nodeFlags.length ? { node_flags: nodeFlags } : {}),
  idle_rss_mb: Math.round(rssMb * 10) / 10,
  idle_cpu_pct: Math.round(cpuPct * 100) / 100,
  ready_ms: Math.round(warm.readyMs),
  first_start_ready_ms: Math.round(cold.readyMs),
}));

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 Hz)
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function childRss(pid: number): number {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.reduce((n, k) => n + rss(Number(k)), 0);
  } catch {
    return 0;
  }
}
