import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MAX_PACKET_BYTES } from '../../agent/src/sync/protocol.js';

/**
 * The project's Mosquitto setup (province/mosquitto/): TLS with a provincial
 * CA, one password per station, and an ACL under which a station reads only
 * its own and its groups' topics and never writes a command topic. Used by
 * the integration tests, the fleet bench and `scripts/province`, and a model
 * for the real provincial broker.
 */

const run = promisify(execFile);
export const MOSQUITTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../province/mosquitto');

/** The folder province/NAME holding `file`, from the sources or from dist/province/src (two levels further up). */
export function provinceTemplateDir(name: string, file: string): string {
  for (const d of [resolve(dirname(fileURLToPath(import.meta.url)), '../../province', name), resolve(dirname(fileURLToPath(import.meta.url)), '../../../province', name)]) {
    try {
      readFileSync(join(d, file));
      return d;
    } catch {
      continue;
    }
  }
  throw new Error(`province/${name} templates not found near ${fileURLToPath(import.meta.url)}`);
}

function templateDir(): string {
  return provinceTemplateDir('mosquitto', 'mosquitto.conf.template');
}

export interface Certs {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** CA and broker certificate via province/mosquitto/make-certs.sh (openssl); `keep`: those already in `dir` are kept. */
export async function makeCerts(dir: string, hosts: string[] = [], keep = false): Promise<Certs> {
  const certs = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  if (!(keep && Object.values(certs).every((f) => existsSync(f)))) await run('bash', [join(templateDir(), 'make-certs.sh'), dir, ...hosts]);
  return certs;
}

export interface BrokerUser {
  username: string;
  password: string;
}

/** A Mosquitto password file (PBKDF2-SHA512 hashes, made by mosquitto_passwd -U). */
export async function writePasswordFile(path: string, users: readonly BrokerUser[]): Promise<void> {
  for (const u of users) {
    if (!/^[A-Za-z0-9._-]+$/.test(u.username) || u.password.includes('\n') || u.password.length === 0) {
      throw new Error(`user "${u.username}": names are letters, digits, ".", "_" or "-"; passwords one non-empty line`);
    }
  }
  writeFileSync(path, users.map((u) => `${u.username}:${u.password}\n`).join(''), { mode: 0o600 });
  await run('mosquitto_passwd', ['-U', path]);
}

/** One hashed password-file line (`user:$7$...`), made in a private temp file: the password never appears on a command line. */
export async function hashedPasswordLine(user: BrokerUser): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-passwd-'));
  try {
    const file = join(dir, 'passwd');
    await writePasswordFile(file, [user]);
    return readFileSync(file, 'utf8').trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface AclStation {
  id: string;
  groups: readonly string[];
}

/** Fills {{NAME}} placeholders; a placeholder without a value is an error. */
export function fillTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`template variable ${k} has no value`);
    return v;
  });
}

export function renderAcl(provinceUsers: readonly string[], stations: readonly AclStation[]): string {
  const dir = templateDir();
  const prov = readFileSync(join(dir, 'acl-province.template'), 'utf8');
  const st = readFileSync(join(dir, 'acl-station.template'), 'utf8');
  return (
    provinceUsers.map((u) => fillTemplate(prov, { USER: u })).join('') +
    stations.map((s) => fillTemplate(st, { STATION: s.id, GROUP_LINES: s.groups.map((g) => `topic read loa/v1/group/${g}/cmd`).join('\n') })).join('')
  );
}

export interface MosquittoConfigVars {
  port: number;
  bind: string;
  passwordFile: string;
  aclFile: string;
  dataDir: string;
  certs: Certs;
  runAsRoot: boolean;
}

export function renderMosquittoConfig(v: MosquittoConfigVars): string {
  return fillTemplate(readFileSync(join(templateDir(), 'mosquitto.conf.template'), 'utf8'), {
    USER_LINE: v.runAsRoot ? 'user root' : '',
    PASSWORD_FILE: v.passwordFile,
    ACL_FILE: v.aclFile,
    DATA_DIR: v.dataDir,
    PORT: String(v.port),
    BIND: v.bind,
    CA_FILE: v.certs.caFile,
    CERT_FILE: v.certs.certFile,
    KEY_FILE: v.certs.keyFile,
    MAX_PACKET_BYTES: String(MAX_PACKET_BYTES),
  });
}

/** `n` ports free at once and distinct: each listener is held until all are chosen (one after another, a port just closed can come back). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export interface MosquittoOptions {
  /** Working folder: certs, password and ACL files, persistence. */
  dir: string;
  port?: number;
  province: BrokerUser;
  /** More users with the province's rights (tools, watchers): the broker allows one connection per user. */
  provinceTools?: readonly BrokerUser[];
  stations: ReadonlyArray<AclStation & { password: string }>;
  /** Rewrites the project's ACL text (tests of a deliberately wrong ACL). */
  editAcl?: (acl: string) => string;
  /** Rewrites the rendered mosquitto.conf (tests of a broker configured otherwise). */
  editConfig?: (conf: string) => string;
  /** More names for the broker certificate. */
  hosts?: string[];
  /** Keep the CA and certificate already in DIR/certs (a province that restarts keeps its pinned CA). */
  keepCerts?: boolean;
}

/** A Mosquitto of our own on a free loopback port, with the project's configuration. */
export class MosquittoBroker {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private stderr = '';

  private constructor(
    readonly port: number,
    readonly configFile: string,
    readonly certs: Certs,
  ) {}

  get url(): string {
    return `mqtts://localhost:${this.port}`;
  }

  static async create(o: MosquittoOptions): Promise<MosquittoBroker> {
    mkdirSync(join(o.dir, 'data'), { recursive: true });
    const certs = await makeCerts(join(o.dir, 'certs'), o.hosts ?? [], o.keepCerts ?? false);
    const passwordFile = join(o.dir, 'passwd');
    const provinceUsers = [o.province, ...(o.provinceTools ?? [])];
    await writePasswordFile(passwordFile, [...provinceUsers, ...o.stations.map((s) => ({ username: s.id, password: s.password }))]);
    const aclFile = join(o.dir, 'acl');
    const acl = renderAcl(provinceUsers.map((u) => u.username), o.stations);
    writeFileSync(aclFile, o.editAcl ? o.editAcl(acl) : acl);
    const port = o.port ?? (await freePort());
    const configFile = join(o.dir, 'mosquitto.conf');
    const conf = renderMosquittoConfig({ port, bind: '127.0.0.1', passwordFile, aclFile, dataDir: join(o.dir, 'data'), certs, runAsRoot: process.getuid?.() === 0 });
    writeFileSync(configFile, o.editConfig ? o.editConfig(conf) : conf);
    const broker = new MosquittoBroker(port, configFile, certs);
    await broker.start();
    return broker;
  }

  /** Starts (or restarts after stop) and resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    this.stderr = '';
    const child = spawn('mosquitto', ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${this.stderr}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port} within 15 s: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Re-reads the password and ACL files (SIGHUP). Mosquitto does it between
   * two turns of its loop: a caller that needs it done probes with a login.
   */
  reload(): void {
    if (!this.child) throw new Error('mosquitto is not running');
    this.child.kill('SIGHUP');
  }

  /** Graceful stop (SIGTERM: persistence saved). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    await this.exited;
    delete this.child;
  }

  get log(): string {
    return this.stderr;
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
