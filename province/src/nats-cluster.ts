import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PACKET_BYTES } from '../../agent/src/sync/protocol.js';
import { canConnect, fillTemplate, freePorts, makeCerts, provinceTemplateDir, renderAcl, type AclStation, type BrokerUser, type Certs } from './mosquitto.js';

/**
 * The provincial broker as a NATS cluster (province/nats/): Debian's
 * nats-server with JetStream and its MQTT listener, one HAProxy in front of
 * each node for TLS and the client-id rule. Stations list every node's front
 * in `sync.brokers` and speak MQTT 3.1.1 (`sync.protocolVersion: 4`); the ACL
 * is the project's Mosquitto ACL turned into NATS subject permissions, so
 * both brokers enforce one rule. Used by the tests and the fleet bench.
 */

const templateDir = (): string => provinceTemplateDir('nats', 'nats-node.conf.template');

/** MQTT topic filter -> NATS subjects: a/+/b -> a.*.b; a/# -> a and a.> (MQTT's # also matches its parent). */
export function topicToSubjects(filter: string): string[] {
  const levels = filter.split('/');
  for (const l of levels) {
    // NATS 2.9 maps "." to a subject separator: such a topic would not be the one the ACL names.
    if (l.includes('.') || l === '') throw new Error(`topic "${filter}": NATS cannot carry empty topic levels or levels with "."`);
  }
  const tokens = levels.map((l) => (l === '+' ? '*' : l === '#' ? '>' : l));
  return tokens.at(-1) === '>' && tokens.length > 1 ? [tokens.slice(0, -1).join('.'), tokens.join('.')] : [tokens.join('.')];
}

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** Pure: a Mosquitto ACL (as province/mosquitto renders it) -> subject permissions per user. */
export function aclToPermissions(acl: string): Map<string, NatsPermissions> {
  const users = new Map<string, NatsPermissions>();
  let current: NatsPermissions | undefined;
  for (const raw of acl.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const user = /^user (\S+)$/.exec(line);
    if (user) {
      current = { publish: [], subscribe: [] };
      users.set(user[1]!, current);
      continue;
    }
    const topic = /^topic (read|write|readwrite) (\S+)$/.exec(line);
    if (!topic || !current) throw new Error(`ACL line not understood: "${line}"`);
    const subjects = topicToSubjects(topic[2]!);
    if (topic[1] !== 'write') current.subscribe.push(...subjects);
    if (topic[1] !== 'read') current.publish.push(...subjects);
  }
  return users;
}

function renderUsers(acl: string, passwords: ReadonlyMap<string, string>): string {
  return [...aclToPermissions(acl)]
    .map(([user, p]) => {
      const password = passwords.get(user);
      if (password === undefined) throw new Error(`ACL user ${user} has no password`);
      // MQTT only: over the NATS protocol a station could subscribe to the server's internal delivery subjects.
      // Over MQTT it cannot (NATS ignores MQTT subscriptions under $MQTT/sub/), but NATS delivers every QoS 1
      // message to the client on such a subject, which the user must therefore be allowed.
      const subscribe = [...p.subscribe, '$MQTT.sub.>'];
      return `    { user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)}, allowed_connection_types: ["MQTT"], permissions: { publish: { allow: ${JSON.stringify(p.publish)} }, subscribe: { allow: ${JSON.stringify(subscribe)} } } }`;
    })
    .join('\n');
}

export interface NatsNodePorts {
  /** HAProxy's TLS front: what stations connect to. */
  front: number;
  /** nats-server's MQTT listener (loopback, behind the front). */
  mqtt: number;
  client: number;
  route: number;
  http: number;
}

interface NodeProcs {
  nats: ChildProcess;
  haproxy: ChildProcess;
  exited: Promise<void>;
}

export interface NatsClusterOptions {
  dir: string;
  nodes?: number;
  province: BrokerUser;
  provinceTools?: readonly BrokerUser[];
  stations: ReadonlyArray<AclStation & { password: string }>;
  /** HAProxy's connection limit per node (file descriptors: twice this). */
  maxConnectionsPerNode?: number;
}

export class NatsCluster {
  private readonly procs: Array<NodeProcs | undefined>;
  private readonly logs: string[];

  private constructor(
    readonly names: string[],
    readonly ports: NatsNodePorts[],
    readonly certs: Certs,
    private readonly dir: string,
    private readonly o: NatsClusterOptions,
    private readonly pemFile: string,
  ) {
    this.procs = names.map(() => undefined);
    this.logs = names.map(() => '');
  }

  /** Every node's front, in node order: a station's `sync.brokers` (rotate the list to spread stations). */
  get urls(): string[] {
    return this.ports.map((p) => `mqtts://localhost:${p.front}`);
  }

  static async create(o: NatsClusterOptions): Promise<NatsCluster> {
    const n = o.nodes ?? 3;
    const certs = await makeCerts(join(o.dir, 'certs'));
    const pemFile = join(o.dir, 'certs', 'server.pem');
    writeFileSync(pemFile, readFileSync(certs.certFile, 'utf8') + readFileSync(certs.keyFile, 'utf8'), { mode: 0o600 });
    const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    // A free port can be taken by another process before the node binds it: then the whole cluster is made again on new ones.
    for (let attempt = 1; ; attempt++) {
      const free = await freePorts(5 * n);
      const ports = names.map((_, i) => {
        const [front, mqtt, client, route, http] = free.slice(5 * i, 5 * i + 5) as [number, number, number, number, number];
        return { front, mqtt, client, route, http };
      });
      const cluster = new NatsCluster(names, ports, certs, o.dir, o, pemFile);
      emptyStores(o.dir, names);
      cluster.writeConfigs();
      try {
        await Promise.all(names.map((_, i) => cluster.spawnNode(i)));
        await Promise.all(names.map((_, i) => cluster.waitHealthy(i, 60_000)));
        return cluster;
      } catch (err) {
        await cluster.stop();
        if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  private async spawnNode(i: number): Promise<void> {
    if (this.procs[i]) return;
    const name = this.names[i]!;
    this.logs[i] = '';
    const keep = (d: Buffer): void => {
      this.logs[i] = (this.logs[i] + d.toString()).slice(-4000);
    };
    const nats = spawn('nats-server', ['-c', join(this.dir, name, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const haproxy = spawn('haproxy', ['-db', '-f', join(this.dir, name, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
    nats.stderr!.on('data', keep);
    haproxy.stderr!.on('data', keep);
    const exited = Promise.all([nats, haproxy].map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))))).then(() => undefined);
    this.procs[i] = { nats, haproxy, exited };
    const deadline = Date.now() + 15_000;
    while (!(await canConnect(this.ports[i]!.front)) || !(await canConnect(this.ports[i]!.mqtt))) {
      if (nats.exitCode !== null || haproxy.exitCode !== null) throw new Error(`node ${name} exited: ${this.logs[i]}`);
      if (Date.now() > deadline) throw new Error(`node ${name} did not listen within 15 s: ${this.logs[i]}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Until the node says JetStream is current (its /healthz), so MQTT sessions can be stored. */
  async waitHealthy(i: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${this.ports[i]!.http}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`node ${this.names[i]} not healthy within ${timeoutMs} ms: ${this.logs[i]}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * The users and their permissions written again (stations enrolled or
   * removed, an ACL fixed) and re-read by every running node (SIGHUP, as
   * `nats-server --signal reload`): connections stay up, and what a user may
   * subscribe to from then on follows the new permissions.
   */
  reload(editAcl?: (acl: string) => string): void {
    this.writeConfigs(editAcl);
    for (const p of this.procs) p?.nats.kill('SIGHUP');
  }

  /** `editAcl` changes the rendered Mosquitto ACL before it becomes subject permissions (a test's wrong ACL). */
  private writeConfigs(editAcl?: (acl: string) => string): void {
    const o = this.o;
    const provinceUsers = [o.province, ...(o.provinceTools ?? [])];
    const passwords = new Map([...provinceUsers.map((u) => [u.username, u.password] as const), ...o.stations.map((s) => [s.id, s.password] as const)]);
    const acl = renderAcl(provinceUsers.map((u) => u.username), o.stations);
    writeNodeConfigs(this.dir, this.names, this.ports, renderUsers(editAcl ? editAcl(acl) : acl, passwords), this.pemFile, o.maxConnectionsPerNode);
  }

  /** MQTT connections the node holds now (its /connz). */
  async mqttConnections(i: number): Promise<number> {
    const r = await fetch(`http://127.0.0.1:${this.ports[i]!.http}/connz?limit=1`);
    return ((await r.json()) as { num_connections: number }).num_connections;
  }

  /** A node lost at once (power, network): nats-server and its front killed with SIGKILL. */
  async killNode(i: number): Promise<void> {
    await this.end(i, 'SIGKILL');
  }

  /** Starts a node again (after killNode or stopNode) with its JetStream store, and waits until it has caught up. */
  async startNode(i: number): Promise<void> {
    await this.spawnNode(i);
    await this.waitHealthy(i, 60_000);
  }

  async stopNode(i: number): Promise<void> {
    await this.end(i, 'SIGTERM');
  }

  private async end(i: number, signal: NodeJS.Signals): Promise<void> {
    const p = this.procs[i];
    if (!p) return;
    p.haproxy.kill(signal);
    p.nats.kill(signal);
    await p.exited;
    this.procs[i] = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.names.map((_, i) => this.stopNode(i)));
  }

  log(i: number): string {
    return this.logs[i]!;
  }
}

/** An empty JetStream store for each node. */
function emptyStores(root: string, names: string[]): void {
  for (const name of names) {
    const storeDir = join(root, name, 'jetstream');
    rmSync(storeDir, { recursive: true, force: true });
    mkdirSync(storeDir, { recursive: true });
  }
}

/** Each node's nats.conf and haproxy.cfg for these ports. */
function writeNodeConfigs(root: string, names: string[], ports: NatsNodePorts[], users: string, pemFile: string, maxConnectionsPerNode: number | undefined): void {
  const dir = templateDir();
  const nodeTemplate = readFileSync(join(dir, 'nats-node.conf.template'), 'utf8');
  const frontTemplate = readFileSync(join(dir, 'haproxy.cfg.template'), 'utf8');
  const routes = ports.map((p) => `    nats-route://127.0.0.1:${p.route}`).join('\n');
  names.forEach((name, i) => {
    const p = ports[i]!;
    const storeDir = join(root, name, 'jetstream');
    const conf = fillTemplate(nodeTemplate, {
      NODE: name,
      BIND: '127.0.0.1',
      CLIENT_PORT: String(p.client),
      HTTP_PORT: String(p.http),
      ROUTE_PORT: String(p.route),
      MQTT_PORT: String(p.mqtt),
      CLUSTER: 'loa',
      ROUTES: routes,
      STORE_DIR: storeDir,
      MAX_PACKET_BYTES: String(MAX_PACKET_BYTES),
      USERS: users,
    });
    writeFileSync(join(root, name, 'nats.conf'), conf, { mode: 0o600 });
    const front = fillTemplate(frontTemplate, {
      NODE: name,
      BIND: '127.0.0.1',
      PORT: String(p.front),
      PEM_FILE: pemFile,
      MQTT_ADDR: `127.0.0.1:${p.mqtt}`,
      MAXCONN: String(maxConnectionsPerNode ?? 4000),
    });
    writeFileSync(join(root, name, 'haproxy.cfg'), front);
  });
}
