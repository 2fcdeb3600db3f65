import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { NatsCluster } from '../../province/src/nats-cluster.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { SyncSchema } from '../src/config/schema.js';
import { SyncClient } from '../src/sync/client.js';
import { SimulatedStation } from '../src/sync/sim-station.js';
import { groupCmdTopic, stationTopics } from '../src/sync/topics.js';
import { migrate } from '../src/store/database.js';
import { silentLogger } from '../src/lib/logger.js';
import { StationSimulator, type SimStation } from './fleet-sim.js';
import { percentile } from './stats.js';

/**
 * scripts/bench fleet [--stations 10000] [--broker mosquitto|nats-cluster] [--commands 20] [--agents 20]
 *
 * A province on one broker kind, the project's configuration (TLS,
 * per-station passwords, the ACL, client ids bound to users):
 * - `mosquitto`: one Mosquitto;
 * - `nats-cluster`: three nats-server nodes (JetStream, MQTT) behind their
 *   HAProxy fronts, each station's broker list starting at a different node.
 * N light stations (fleet-sim.ts: raw MQTT in one process, so the broker is
 * what is measured) plus a sample of full agents (the real SyncClient with
 * signature checks, replay guard and SQLite, in a process of their own).
 * Measures: every station connected; group fan-out (the province's publish
 * of a signed province-wide command to its arrival at each station's socket;
 * for the agents, at their playout port) over K commands; a node loss
 * (nats-cluster: node 1 killed with SIGKILL; mosquitto: the one broker
 * stopped for 2 s and started again), with one command sent at once, and how
 * long until every station that lost its connection is subscribed again, and
 * how many stations never got the command (`lost`).
 */

type AgentMsg = { type: 'connected'; ids: Array<[string, number]> } | { type: 'cmd'; hits: Array<[string, number]> } | { type: 'ready' };
type SimMsg =
  | { type: 'progress'; connected: number; dropped: number; counts: Record<string, number>; lastConnectMs: number; lastReconnectMs: number }
  | { type: 'latencies'; byKey: Record<string, number[]>; unknown: number; refusals: number; subscribeRefusals: number };
type SimStart = { stations: SimStation[]; caFile: string };

const now = (): number => performance.timeOrigin + performance.now();
const GROUP = 'province';
// The agent's defaults (sync.reconnect): full jitter up to 5 s, doubling to 60 s.
const RECONNECT = { initialMs: 5000, maxMs: 60_000 };
/** The signature at a signed payload's end tells commands apart without parsing them. */
const keyOf = (payload: Buffer | string): string => (typeof payload === 'string' ? payload : payload.toString('latin1')).slice(-24);

async function simProcess(): Promise<void> {
  const start = await new Promise<SimStart>((resolve) => process.once('message', resolve as never));
  const sent = new Map<string, number>();
  const latencies = new Map<string, number[]>();
  let dropped = 0;
  let lastConnectMs = 0;
  let lastReconnectMs = 0;
  const connectedOnce = new Set<number>();
  const sim = new StationSimulator(start.stations, {
    ca: readFileSync(start.caFile),
    keepaliveS: 60,
    ...RECONNECT,
    onPublish: (_i, topic, payload, at) => {
      if (topic !== groupCmdTopic(GROUP)) return;
      const key = keyOf(payload);
      const s = sent.get(key);
      if (s !== undefined) (latencies.get(key) ?? latencies.set(key, []).get(key)!).push(at - s);
    },
    onConnected: (i, at) => {
      if (connectedOnce.has(i)) {
        dropped++;
        lastReconnectMs = at;
      } else {
        connectedOnce.add(i);
        lastConnectMs = at;
      }
    },
  });
  process.on('message', (m: { type: 'expect'; key: string; sentMs: number } | { type: 'report' } | { type: 'stop' }) => {
    if (m.type === 'expect') sent.set(m.key, m.sentMs);
    if (m.type === 'report') process.send!({ type: 'latencies', byKey: Object.fromEntries(latencies), unknown: sim.unknown, refusals: sim.connectRefusals, subscribeRefusals: sim.subscribeRefusals } satisfies SimMsg);
    if (m.type === 'stop') {
      sim.stop();
      process.exit(0);
    }
  });
  setInterval(() => {
    const counts = Object.fromEntries([...latencies].map(([k, v]) => [k, v.length]));
    process.send!({ type: 'progress', connected: sim.connectedCount(), dropped, counts, lastConnectMs, lastReconnectMs } satisfies SimMsg);
  }, 200);
  sim.start();
}

async function agentProcess(): Promise<void> {
  const start = await new Promise<{ ids: string[]; brokers: string[][]; caFile: string; publicPem: string; protocolVersion: 4 | 5 }>((resolve) => process.once('message', resolve as never));
  const dir = mkdtempSync(join(tmpdir(), 'loa-fleet-'));
  let connected: Array<[string, number]> = [];
  let hits: Array<[string, number]> = [];
  const flush = setInterval(() => {
    if (connected.length) process.send!({ type: 'connected', ids: connected } satisfies AgentMsg);
    if (hits.length) process.send!({ type: 'cmd', hits } satisfies AgentMsg);
    connected = [];
    hits = [];
  }, 50);
  const clients = start.ids.map((id, i) => {
    const db = new Database(':memory:');
    migrate(db);
    const sim = new SimulatedStation({ cacheDir: join(dir, id) });
    sim.on('command', (cmd: { id: string }) => hits.push([cmd.id, now()]));
    const config = SyncSchema.parse({ brokers: start.brokers[i], provinceKeys: [start.publicPem], password: `pw-${id}`, groups: [GROUP], tls: { caFile: start.caFile }, protocolVersion: start.protocolVersion });
    const client = new SyncClient({ stationId: id, config, port: sim, db, log: silentLogger(), downloadDir: join(dir, id, 'downloads') });
    client.on('connected', () => connected.push([id, now()]));
    return client;
  });
  for (const c of clients) c.start();
  process.send!({ type: 'ready' } satisfies AgentMsg);
  process.once('message', () => {
    void Promise.all(clients.map((c) => c.stop())).then(() => {
      clearInterval(flush);
      process.exit(0);
    });
  });
}

interface Rig {
  nodes: number;
  caFile: string;
  provinceUrl: string;
  /** Station i's broker list. */
  brokersFor: (i: number) => string[];
  protocolVersion: 4 | 5;
  /** The node loss: resolves once the loss has happened (the broker may come back later by itself). */
  loseNode: () => Promise<void>;
  stop: () => Promise<void>;
}

async function startRig(kind: string, users: Array<{ id: string; groups: string[]; password: string }>): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-fleet-broker-'));
  const province = { username: 'province', password: 'pw-province' };
  if (kind === 'mosquitto') {
    const broker = await MosquittoBroker.create({ dir, province, stations: users });
    return {
      nodes: 1,
      caFile: broker.certs.caFile,
      provinceUrl: broker.url,
      brokersFor: () => [broker.url],
      protocolVersion: 5,
      loseNode: async () => {
        await broker.stop();
        setTimeout(() => void broker.start(), 2000);
      },
      stop: () => broker.stop(),
    };
  }
  if (kind === 'nats-cluster') {
    // After a node loss a surviving node holds half the province: room for all of it.
    const cluster = await NatsCluster.create({ dir, province, stations: users, maxConnectionsPerNode: Math.min(9000, users.length + 100) });
    const urls = cluster.urls;
    return {
      nodes: urls.length,
      caFile: cluster.certs.caFile,
      // The province on the last node; the node lost is the first.
      provinceUrl: urls.at(-1)!,
      brokersFor: (i) => urls.map((_, k) => urls[(i + k) % urls.length]!),
      protocolVersion: 4,
      loseNode: () => cluster.killNode(0),
      stop: () => cluster.stop(),
    };
  }
  throw new Error(`--broker must be mosquitto or nats-cluster, not "${kind}"`);
}

async function waitUntil(cond: () => boolean, ms: number, what: string | (() => string)): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      process.stderr.write(`fleet: gave up waiting for ${typeof what === 'string' ? what : what()} after ${ms / 1000} s\n`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stations: { type: 'string' }, broker: { type: 'string' }, commands: { type: 'string' }, agents: { type: 'string' }, sim: { type: 'boolean' }, agent: { type: 'boolean' } } });
  if (values.sim) return simProcess();
  if (values.agent) return agentProcess();
  const n = Number(values.stations ?? 10_000);
  const nAgents = Number(values.agents ?? 20);
  const k = Number(values.commands ?? 20);
  const kind = values.broker ?? 'mosquitto';
  const load0 = loadavg()[0]!;
  const ids = Array.from({ length: n }, (_, i) => `st-${String(i).padStart(5, '0')}`);
  const agentIds = Array.from({ length: nAgents }, (_, i) => `ag-${String(i).padStart(3, '0')}`);
  const keys = generateProvinceKeys();
  const t0 = now();
  const rig = await startRig(kind, [...ids, ...agentIds].map((id) => ({ id, groups: [GROUP], password: `pw-${id}` })));
  process.stdout.write(`broker ${kind} (${rig.nodes} node${rig.nodes > 1 ? 's' : ''}) ready in ${((now() - t0) / 1000).toFixed(1)} s\n`);
  const province = new Province({ url: rig.provinceUrl, username: 'province', password: 'pw-province', ca: readFileSync(rig.caFile), privateKey: keys.privateKey, protocolVersion: rig.protocolVersion });
  await province.connect();
  await province.beacon();

  let progress: Extract<SimMsg, { type: 'progress' }> = { type: 'progress', connected: 0, dropped: 0, counts: {}, lastConnectMs: 0, lastReconnectMs: 0 };
  let report: Extract<SimMsg, { type: 'latencies' }> | undefined;
  const sim = fork(fileURLToPath(import.meta.url), ['--sim'], { stdio: 'inherit' });
  sim.on('message', (m: SimMsg) => {
    if (m.type === 'progress') progress = m;
    else report = m;
  });
  const t1 = now();
  sim.send({ stations: ids.map((id, i) => ({ id, password: `pw-${id}`, brokers: rig.brokersFor(i), topics: [groupCmdTopic(GROUP), stationTopics(id).cmd] })), caFile: rig.caFile } satisfies SimStart);

  const agentConnected = new Map<string, number>();
  const agentHits = new Map<string, number[]>();
  const agents: ChildProcess | undefined = nAgents
    ? fork(fileURLToPath(import.meta.url), ['--agent'], { stdio: 'inherit' })
    : undefined;
  agents?.on('message', (m: AgentMsg) => {
    if (m.type === 'connected') for (const [id, t] of m.ids) agentConnected.set(id, t);
    if (m.type === 'cmd') for (const [cmd, t] of m.hits) (agentHits.get(cmd) ?? agentHits.set(cmd, []).get(cmd)!).push(t);
  });
  agents?.send({ ids: agentIds, brokers: agentIds.map((_, i) => rig.brokersFor(i)), caFile: rig.caFile, publicPem: keys.publicPem, protocolVersion: rig.protocolVersion });

  await waitUntil(() => progress.connected === n && agentConnected.size === nAgents, 900_000, `all ${n} stations and ${nAgents} agents to connect`);
  const connectAll = (Math.max(progress.lastConnectMs, ...agentConnected.values()) - t1) / 1000;
  // A station's subscriptions follow its CONNACK: let the last ones settle.
  await new Promise((r) => setTimeout(r, 3000));
  process.stdout.write(`connect: ${progress.connected}/${n} stations, ${agentConnected.size}/${nAgents} agents in ${connectAll.toFixed(1)} s (each waits a jittered 0-5 s first, as after a power cut)\n`);

  const sentAt = new Map<string, number>();
  const send = async (i: number): Promise<{ key: string; id: string }> => {
    const { cmd, payload } = province.signCommand({ group: GROUP }, { action: 'volume', volume: 50 + (i % 50) }, { ttlMs: 600_000 });
    const key = keyOf(payload);
    const sent = now();
    sim.send({ type: 'expect', key, sentMs: sent });
    sentAt.set(cmd.id, sent);
    await province.publishRaw(groupCmdTopic(GROUP), payload);
    return { key, id: cmd.id };
  };
  let complete = 0;
  const fanoutKeys: string[] = [];
  const fanoutIds: string[] = [];
  for (let i = 0; i < k; i++) {
    const { key, id } = await send(i);
    fanoutKeys.push(key);
    fanoutIds.push(id);
    if (await waitUntil(() => (progress.counts[key] ?? 0) >= n && (agentHits.get(id)?.length ?? 0) >= nAgents, 60_000, () => `command ${i} to reach all stations (${progress.counts[key] ?? 0} stations, ${agentHits.get(id)?.length ?? 0} agents so far)`)) complete++;
    await new Promise((r) => setTimeout(r, 500));
  }

  // The node loss, and one command at once: it must reach every station, those moving to another node included.
  const droppedBefore = progress.dropped;
  const lostAt = now();
  await rig.loseNode();
  await new Promise((r) => setTimeout(r, 300));
  const away = await send(k);
  await waitUntil(() => progress.dropped > droppedBefore && progress.connected === n, 300_000, 'every station to be back');
  const reconnectS = (progress.lastReconnectMs - lostAt) / 1000;
  const movedStations = progress.dropped - droppedBefore;
  await waitUntil(() => (progress.counts[away.key] ?? 0) >= n, 60_000, 'the command sent during the loss to reach every station');
  await new Promise((r) => setTimeout(r, 1000));

  sim.send({ type: 'report' });
  await waitUntil(() => report !== undefined, 30_000, 'the simulator report');
  const r = report!;
  const latencies = fanoutKeys.flatMap((key) => r.byKey[key] ?? []);
  const agentLatencies = fanoutIds.flatMap((id) => (agentHits.get(id) ?? []).map((t) => t - sentAt.get(id)!));
  const lost = n - (r.byKey[away.key]?.length ?? 0);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  process.stdout.write(`fan-out: ${k} province-wide commands, ${complete} reached all ${n}; p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; agents p99 ${percentile(agentLatencies, 99).toFixed(0)} ms\n`);
  process.stdout.write(`node loss: ${movedStations} stations lost their connection, all back in ${reconnectS.toFixed(1)} s; the command sent at the loss reached ${n - lost}/${n}\n`);

  sim.send({ type: 'stop' });
  agents?.send('stop');
  await Promise.all([sim, ...(agents ? [agents] : [])].map((c) => new Promise((res) => c.once('exit', res))));
  await province.close();
  await rig.stop();
  process.stdout.write(
    JSON.stringify({
      bench: 'fleet',
      broker: kind,
      nodes: rig.nodes,
      stations: n,
      agents: nAgents,
      connect_all_s: Math.round(connectAll * 10) / 10,
      fanout_p50_ms: Math.round(p50),
      fanout_p99_ms: Math.round(p99),
      agent_fanout_p99_ms: Math.round(percentile(agentLatencies, 99)),
      node_loss_reconnect_s: Math.round(reconnectS * 10) / 10,
      moved: movedStations,
      lost,
      commands: k,
      commands_reached_all: complete,
      subscribe_refused: r.subscribeRefusals,
      load_start: Math.round(load0 * 10) / 10,
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
