import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { SyncSchema } from '../src/config/schema.js';
import { SyncClient } from '../src/sync/client.js';
import { SimulatedStation } from '../src/sync/sim-station.js';
import { migrate } from '../src/store/database.js';
import { silentLogger } from '../src/lib/logger.js';

/**
 * scripts/bench fleet [--stations N] [--workers W] [--commands K]
 *
 * N stations (the real SyncClient, simulated hardware, an in-memory SQLite
 * each) spread over W worker processes, against the project's Mosquitto
 * (TLS, passwords, ACL) on this machine. Measures: time until every station
 * is connected; group-command fan-out latency (province publish -> command
 * reaching the station's playout port) p50/p99 over K province-wide
 * commands; and the reconnect curve after a broker restart (every station
 * back, and the peak connect rate that jitter leaves).
 */

type WorkerMsg = { type: 'connected'; ids: Array<[string, number]> } | { type: 'cmd'; hits: Array<[string, number]> } | { type: 'ready' };

const now = (): number => performance.timeOrigin + performance.now();

async function worker(): Promise<void> {
  const start = await new Promise<{ ids: string[]; url: string; caFile: string; publicPem: string }>((resolve) => process.once('message', resolve as never));
  const dir = mkdtempSync(join(tmpdir(), 'loa-fleet-'));
  let connected: Array<[string, number]> = [];
  let hits: Array<[string, number]> = [];
  const flush = setInterval(() => {
    if (connected.length) process.send!({ type: 'connected', ids: connected } satisfies WorkerMsg);
    if (hits.length) process.send!({ type: 'cmd', hits } satisfies WorkerMsg);
    connected = [];
    hits = [];
  }, 50);
  const clients: SyncClient[] = [];
  for (const id of start.ids) {
    const db = new Database(':memory:');
    migrate(db);
    const sim = new SimulatedStation({ cacheDir: join(dir, id) });
    sim.on('command', (cmd: { id: string }) => hits.push([cmd.id, now()]));
    const config = SyncSchema.parse({
      brokers: [start.url],
      provinceKeys: [start.publicPem],
      password: `pw-${id}`,
      groups: ['province', `commune-${Number(id.slice(3)) % 100}`],
      tls: { caFile: start.caFile },
    });
    const client = new SyncClient({ stationId: id, config, port: sim, db, log: silentLogger(), downloadDir: join(dir, id, 'downloads') });
    client.on('connected', () => connected.push([id, now()]));
    clients.push(client);
  }
  for (const c of clients) c.start();
  process.send!({ type: 'ready' } satisfies WorkerMsg);
  process.once('message', () => {
    void Promise.all(clients.map((c) => c.stop())).then(() => {
      clearInterval(flush);
      process.exit(0);
    });
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stations: { type: 'string' }, workers: { type: 'string' }, commands: { type: 'string' }, worker: { type: 'boolean' } } });
  if (values.worker) return worker();
  const n = Number(values.stations ?? 2000);
  const w = Number(values.workers ?? 2);
  const k = Number(values.commands ?? 20);
  const ids = Array.from({ length: n }, (_, i) => `st-${String(i).padStart(5, '0')}`);
  const keys = generateProvinceKeys();
  const dir = mkdtempSync(join(tmpdir(), 'loa-fleet-broker-'));
  const broker = await MosquittoBroker.create({
    dir,
    province: { username: 'province', password: 'pw-province' },
    stations: ids.map((id) => ({ id, groups: ['province', `commune-${Number(id.slice(3)) % 100}`], password: `pw-${id}` })),
  });
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-province', ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  await province.connect();
  await province.beacon();

  const connectedAt = new Map<string, number>();
  const hits = new Map<string, number[]>();
  const workers: ChildProcess[] = [];
  const t0 = now();
  for (let i = 0; i < w; i++) {
    const child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: 'inherit' });
    child.on('message', (m: WorkerMsg) => {
      if (m.type === 'connected') for (const [id, t] of m.ids) connectedAt.set(id, t);
      if (m.type === 'cmd') for (const [cmd, t] of m.hits) (hits.get(cmd) ?? hits.set(cmd, []).get(cmd)!).push(t);
    });
    child.send({ ids: ids.filter((_, j) => j % w === i), url: broker.url, caFile: broker.certs.caFile, publicPem: keys.publicPem });
    workers.push(child);
  }
  const waitUntil = async (cond: () => boolean, ms: number, what: string): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) {
        process.stderr.write(`fleet: gave up waiting for ${what} after ${ms / 1000} s\n`);
        return false;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  };

  await waitUntil(() => connectedAt.size === n, 600_000, `all ${n} stations to connect`);
  const connectAll = (Math.max(...connectedAt.values()) - t0) / 1000;
  process.stdout.write(`connect: ${connectedAt.size}/${n} stations in ${connectAll.toFixed(1)} s (each waits a jittered 0-5 s first, as after a power cut)\n`);

  const latencies: number[] = [];
  let complete = 0;
  for (let i = 0; i < k; i++) {
    const sent = now();
    const cmd = await province.send({ group: 'province' }, { action: 'volume', volume: 50 + (i % 50) }, { ttlMs: 60_000 });
    if (await waitUntil(() => (hits.get(cmd.id)?.length ?? 0) >= n, 60_000, `command ${i} to reach all stations`)) complete++;
    latencies.push(...(hits.get(cmd.id) ?? []).map((t) => t - sent));
    await new Promise((r) => setTimeout(r, 300));
  }
  latencies.sort((a, b) => a - b);
  const p50 = pct(latencies, 50);
  const p99 = pct(latencies, 99);
  process.stdout.write(`fan-out: ${k} province-wide commands, ${complete} reached all ${n}; p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms\n`);

  connectedAt.clear();
  await broker.stop();
  await new Promise((r) => setTimeout(r, 2000));
  await broker.start();
  const back = now();
  await waitUntil(() => connectedAt.size === n, 600_000, 'every station to reconnect');
  const times = [...connectedAt.values()].map((t) => t - back);
  const reconnectAll = Math.max(...times) / 1000;
  const perSecond = new Map<number, number>();
  for (const t of times) perSecond.set(Math.floor(Math.max(0, t) / 1000), (perSecond.get(Math.floor(Math.max(0, t) / 1000)) ?? 0) + 1);
  const peak = Math.max(...perSecond.values());
  const curve = [...perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([s, c]) => `${s}s:${c}`).join(' ');
  process.stdout.write(`reconnect after a broker restart (2 s down): ${connectedAt.size}/${n} back in ${reconnectAll.toFixed(1)} s; per second: ${curve}\n`);

  for (const c of workers) c.send('stop');
  await Promise.all(workers.map((c) => new Promise((r) => c.once('exit', r))));
  await province.close();
  await broker.stop();
  process.stdout.write(
    JSON.stringify({
      bench: 'fleet',
      stations: n,
      connect_all_s: Math.round(connectAll * 10) / 10,
      fanout_p50_ms: Math.round(p50),
      fanout_p99_ms: Math.round(p99),
      reconnect_all_s: Math.round(reconnectAll * 10) / 10,
      peak_connects_per_s: peak,
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
