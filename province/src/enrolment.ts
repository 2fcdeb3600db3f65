import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import { MosquittoBroker, hashedPasswordLine, renderAcl, type Certs } from './mosquitto.js';
import { Province } from './province.js';
import { EnrolmentStore, PENDING_TTL_MS, type Approval, type EnrolmentRow, type PendingEnrolment } from './enrolment-store.js';
import type { TargetSpec } from './target-builder.js';
import { writeFileAtomic } from '../../agent/src/lib/atomic-file.js';
import { generateProvinceKeys, loadPrivateKey, rawPublicKey } from '../../agent/src/sync/signing.js';
import { enrolmentCode } from '../../agent/src/provision/code.js';
import {
  ENROL_CHALLENGE_PATH, ENROL_PAGE_PATH, ENROL_PATH, MAX_ENROL_BYTES, openEnrolRequest,
  type Challenge, type EnrolAnswer, type ProvisionBundle, type Refusal,
} from '../../agent/src/provision/protocol.js';

const run = promisify(execFile);

/**
 * The reference province's enrolment service (`scripts/province serve`):
 * the HTTPS endpoint `loa provision` talks to, the project's Mosquitto with
 * one password and ACL entry per enrolled station, and the signer of the
 * stations' targets. Approvals come from `approve()` (or `scripts/province
 * approve CODE` in another process, through the shared store), a one-time
 * token, or `autoApprove` (benchmarks). Issuing credentials mints a new
 * password every time, which revokes the previous one: a reflashed
 * controller, or an answer lost on the way, never leaves two passwords valid.
 */

export type FirstTarget = Omit<TargetSpec, 'station' | 'version' | 'issuedMs'>;

export interface EnrolmentServiceOptions {
  /** State: province.db, keys, the broker's files and certificates. Kept across restarts. */
  dir: string;
  httpsPort?: number;
  brokerPort?: number;
  /** The host name stations use for this province (certificate names and broker URLs); localhost by default. */
  host?: string;
  /** The brokers want TLS client certificates as well (require_certificate), signed from each station's CSR. */
  clientCertificates?: boolean;
  /** What every newly enrolled station is sent first; default an empty schedule. */
  firstTarget?: FirstTarget;
  defaultGroups?: string[];
  /** Decides a new pending enrolment at once (benchmarks, tests): an approval, or undefined to wait for the operator. */
  autoApprove?: (p: PendingEnrolment) => Approval | undefined;
  log?: (what: string, data: Record<string, unknown>) => void;
  now?: () => number;
}

const CHALLENGE_TTL_MS = 600_000;
const PROVINCE_USER = 'province';

function readOrCreate(path: string, make: () => string): string {
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
  return readFileSync(path, 'utf8');
}

export class EnrolmentService {
  readonly store: EnrolmentStore;
  private server?: https.Server;
  private readonly challenges = new Map<string, number>();
  private issuing: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  private readonly log: (what: string, data: Record<string, unknown>) => void;
  private readonly announced = new Set<string>();
  private port = 0;

  private constructor(
    private readonly o: EnrolmentServiceOptions,
    readonly broker: MosquittoBroker,
    readonly province: Province,
    readonly provinceKey: KeyObject,
    readonly releaseKey: KeyObject,
    private readonly provinceLine: string,
    /** The province's own client certificate (publisher and probe) where the brokers require them. */
    private readonly clientCert?: { cert: string; key: string },
  ) {
    this.now = o.now ?? Date.now;
    this.log = o.log ?? (() => undefined);
    this.store = new EnrolmentStore(join(o.dir, 'province.db'), this.now);
  }

  static async start(o: EnrolmentServiceOptions): Promise<EnrolmentService> {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const provinceKey = loadPrivateKey(readOrCreate(join(o.dir, 'province.key'), () => generateProvinceKeys().privatePem));
    const releaseKey = loadPrivateKey(readOrCreate(join(o.dir, 'release.key'), () => generateProvinceKeys().privatePem));
    const password = readOrCreate(join(o.dir, 'province.password'), () => randomBytes(24).toString('base64url')).trim();
    const broker = await MosquittoBroker.create({
      dir: join(o.dir, 'mosquitto'),
      ...(o.brokerPort ? { port: o.brokerPort } : {}),
      province: { username: PROVINCE_USER, password },
      stations: [],
      keepCerts: true,
      hosts: o.host && o.host !== 'localhost' ? [o.host] : [],
      ...(o.clientCertificates ? { editConfig: (c: string) => c.replace(/^cafile .*$/m, (l) => `${l}\nrequire_certificate true`) } : {}),
    });
    const provinceLine = await hashedPasswordLine({ username: PROVINCE_USER, password });
    const clientCert = o.clientCertificates ? await provinceClientCert(broker.certs, join(o.dir, 'mosquitto', 'certs', 'province-client.key')) : undefined;
    const province = new Province({
      url: broker.url, username: PROVINCE_USER, password, ca: readFileSync(broker.certs.caFile), privateKey: provinceKey, ...(clientCert ? { clientCert } : {}), ...(o.now ? { now: o.now } : {}),
    });
    const service = new EnrolmentService(o, broker, province, provinceKey, releaseKey, provinceLine, clientCert);
    // Stations enrolled before a restart keep their passwords.
    await service.writeBrokerFiles();
    broker.reload();
    await province.connect();
    await service.listen(o.httpsPort ?? 0);
    return service;
  }

  get caFile(): string {
    return this.broker.certs.caFile;
  }

  /** SHA-256 of the CA certificate, as `loa provision --ca-fingerprint` takes it. */
  get caFingerprint(): string {
    return new X509Certificate(readFileSync(this.caFile)).fingerprint256;
  }

  get url(): string {
    return `https://${this.o.host ?? 'localhost'}:${this.port}`;
  }

  get brokerUrl(): string {
    return `mqtts://${this.o.host ?? 'localhost'}:${this.broker.port}`;
  }

  get publicKeyPem(): string {
    return createPublicKey(this.provinceKey).export({ format: 'pem', type: 'spki' }) as string;
  }

  /** Opens the enrolment endpoint (again, on the same port after `closeEndpoint`). */
  async listen(port = this.port): Promise<void> {
    const certs = this.broker.certs;
    // The chain carries the CA, so a station pinning it by fingerprint can find it in the handshake.
    const server = https.createServer({ cert: readFileSync(certs.certFile, 'utf8') + readFileSync(certs.caFile, 'utf8'), key: readFileSync(certs.keyFile) }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log('error', { error: (err as Error).message });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal error' }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Closes the endpoint only (a province that cannot be reached); the broker stays up. */
  async closeEndpoint(): Promise<void> {
    const s = this.server;
    delete this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.closeEndpoint();
    await this.issuing.catch(() => undefined);
    await this.province.close();
    await this.broker.stop();
    this.store.close();
  }

  approve(code: string, a: Approval = {}): EnrolmentRow {
    const row = this.store.approveCode(code, { ...a, ...(a.groups ? {} : { groups: this.o.defaultGroups ?? [] }) });
    this.log('approved', { code: row.code, station: row.stationId, groups: row.groups });
    return row;
  }

  private newChallenge(): Challenge {
    const challenge = randomBytes(24).toString('base64url');
    const expiresMs = this.now() + CHALLENGE_TTL_MS;
    for (const [c, exp] of this.challenges) if (exp < this.now()) this.challenges.delete(c);
    this.challenges.set(challenge, expiresMs);
    return { challenge, expiresMs, clientCertificates: this.o.clientCertificates ?? false };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://province');
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && url.pathname === ENROL_CHALLENGE_PATH) return json(200, this.newChallenge());
    if (req.method === 'GET' && url.pathname === ENROL_PAGE_PATH) return this.page(url.searchParams.get('code') ?? '', res);
    if (req.method !== 'POST' || url.pathname !== ENROL_PATH) return json(404, { error: 'not found' });
    const body = await readBody(req);
    if (body === null) return json(413, { status: 'refused', reason: 'bad-request', message: `requests are at most ${MAX_ENROL_BYTES} bytes` });
    json(200, await this.answer(body, req));
  }

  private async answer(body: string, req: IncomingMessage): Promise<EnrolAnswer> {
    const refuse = (reason: Refusal, message: string, withChallenge = false): EnrolAnswer => ({ status: 'refused', reason, message, ...(withChallenge ? { challenge: this.newChallenge() } : {}) });
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return refuse('bad-request', 'not JSON');
    }
    const opened = openEnrolRequest(parsed);
    if (!opened.ok) return refuse(opened.reason, opened.message);
    const r = opened.request;
    const expires = this.challenges.get(r.challenge);
    this.challenges.delete(r.challenge);
    if (expires === undefined || expires < this.now()) return refuse('stale-challenge', 'the challenge is unknown, used or expired: ask for a new one', true);
    const key = r.stationKey;
    const code = enrolmentCode(rawPublicKey(opened.key));
    const before = this.store.enrolment(key);
    if (before?.status === 'replaced') return refuse('replaced', 'another controller was enrolled as this station since: this one is no longer trusted (ask the province to approve its new code)');
    if (before?.status === 'rejected') return refuse('rejected', 'the province refused this controller');
    let row = this.store.seen({ stationKey: key, code, hostname: r.hostname, ...(r.csr ? { csr: r.csr } : {}) });
    if (r.token) {
      const t = this.store.useToken(r.token, key);
      if (!t.ok) return refuse(t.reason, { 'bad-token': 'the province knows no such token', 'expired-token': 'the token has expired: ask the province for a new one', 'used-token': 'the token was already used by another controller' }[t.reason]);
      row = this.store.approveKey(key, { groups: this.o.defaultGroups ?? [], ...t.approval }, code);
      this.log('approved', { code, station: row.stationId, by: 'token' });
    }
    if (row.status === 'pending' && !this.announced.has(key)) {
      this.announced.add(key);
      this.log('pending', { code, hostname: r.hostname });
      const auto = this.o.autoApprove?.({ code, stationKey: key, hostname: r.hostname, createdMs: row.createdMs, seenMs: row.seenMs });
      if (auto) row = this.approve(code, auto);
    }
    const deadline = this.now() + r.waitMs;
    while (row.status === 'pending' && this.now() < deadline && !req.socket.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      row = this.store.enrolment(key) ?? row;
    }
    if (row.status === 'approved') return { status: 'approved', bundle: await this.serialised(() => this.issue(row, r.csr)) };
    if (row.status === 'pending') return { status: 'pending', code, expiresMs: row.seenMs + PENDING_TTL_MS, challenge: this.newChallenge() };
    return refuse(row.status === 'rejected' ? 'rejected' : 'replaced', row.status === 'rejected' ? 'the province refused this controller' : 'another controller was enrolled as this station');
  }

  private serialised<T>(f: () => Promise<T>): Promise<T> {
    const next = this.issuing.then(f, f);
    this.issuing = next.catch(() => undefined);
    return next;
  }

  /** New credentials for the approved station (the old password stops working), its certificate, and its first target. */
  private async issue(row: EnrolmentRow, csr: string | undefined): Promise<ProvisionBundle> {
    const id = row.stationId!;
    const password = randomBytes(24).toString('base64url');
    this.store.setPasswordLine(id, await hashedPasswordLine({ username: id, password }));
    await this.writeBrokerFiles();
    this.broker.reload();
    const clientCertPem = this.o.clientCertificates && (csr ?? row.csr) ? await signClientCsr(this.broker.certs, csr ?? row.csr!, id) : undefined;
    await this.probe(id, password);
    const version = await this.province.publishTarget({ station: id, ...(this.o.firstTarget ?? { programmes: [], content: [] }) });
    this.log('issued', { station: id, firstTarget: version });
    return {
      stationId: id,
      ...(row.name ? { name: row.name } : {}),
      groups: row.groups,
      ...(row.zones ? { zones: row.zones } : {}),
      brokers: [this.brokerUrl],
      username: id,
      password,
      caPem: readFileSync(this.caFile, 'utf8'),
      ...(clientCertPem ? { clientCertPem } : {}),
      provinceKeys: [this.publicKeyPem],
      releaseKey: rawPublicKey(createPublicKey(this.releaseKey)).toString('base64'),
      issuedMs: this.now(),
    };
  }

  private async writeBrokerFiles(): Promise<void> {
    const stations = this.store.stations();
    const passwd = [this.provinceLine, ...stations.flatMap((s) => (s.passwordLine ? [s.passwordLine] : []))].join('\n') + '\n';
    const dir = join(this.o.dir, 'mosquitto');
    await writeFileAtomic(join(dir, 'passwd'), passwd, { mode: 0o600 });
    await writeFileAtomic(join(dir, 'acl'), renderAcl([PROVINCE_USER], stations.filter((s) => s.passwordLine)), { mode: 0o600 });
  }

  /** Logs in as the station until the reloaded broker takes the new password (Mosquitto reloads between two turns of its loop). */
  private async probe(username: string, password: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const c = await connectAsync(this.broker.url, {
          username, password, ca: readFileSync(this.caFile), reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 5, clean: true,
          ...(this.clientCert ?? {}),
        });
        await c.endAsync(true);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the broker does not take the new credentials of ${username}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** What the QR code on the station's board opens: the waiting station, and how to approve it. */
  private page(code: string, res: ServerResponse): void {
    const p = this.store.pending().find((x) => x.code === code.toUpperCase());
    const text = p
      ? `Station waiting / Trạm đang chờ: ${p.code}\nhost: ${p.hostname}\nsince: ${new Date(p.createdMs).toISOString()}\n\nApprove / Duyệt: scripts/province approve ${p.code}\n`
      : `No station waits with code ${code} / Không có trạm nào chờ với mã ${code}\n`;
    res.writeHead(p ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
  }
}

/** The province's own client certificate, for its publisher and the probe, when the brokers require them. */
async function provinceClientCert(certs: Certs, keyFile: string): Promise<{ cert: string; key: string }> {
  if (!existsSync(keyFile)) await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  const { stdout: csr } = await run('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${PROVINCE_USER}`]);
  return { cert: await signClientCsr(certs, csr, PROVINCE_USER), key: readFileSync(keyFile, 'utf8') };
}

/** A TLS client certificate (clientAuth, 825 days) for the CSR, signed by the provincial CA, subject CN = the station id. */
async function signClientCsr(certs: Certs, csr: string, cn: string): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'loa-csr-'));
  try {
    writeFileSync(join(tmp, 'req.csr'), csr);
    writeFileSync(join(tmp, 'ext'), 'extendedKeyUsage=clientAuth\n');
    const { stdout } = await run('openssl', [
      'x509', '-req', '-in', join(tmp, 'req.csr'), '-CA', certs.caFile, '-CAkey', certs.keyFile, '-set_serial', `0x${randomBytes(12).toString('hex')}`,
      '-days', '825', '-sha256', '-extfile', join(tmp, 'ext'), '-subj', `/CN=${cn}`,
    ]);
    return stdout;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ENROL_BYTES) {
        resolve(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
