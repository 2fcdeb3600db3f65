import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import tls from 'node:tls';
import { Backoff, sleep } from '../lib/backoff.js';
import { SOFTWARE_VERSION } from '../version.js';
import {
  ChallengeSchema, ENROL_CHALLENGE_PATH, ENROL_PATH, EnrolAnswerSchema, MAX_ENROL_BYTES, MAX_WAIT_MS, rawKeyBase64, signEnrolRequest,
  type Challenge, type EnrolRequest, type ProvisionBundle, type Refusal,
} from './protocol.js';

/**
 * The station's side of the enrolment exchange. The province's HTTPS
 * certificate is checked against a pinned CA only (never the system store):
 * its chain to that CA and its host name, but not its dates, since a blank
 * controller's clock is not to be trusted yet. The CA comes from a file, or
 * from the province's own handshake when its SHA-256 fingerprint matches the
 * one the technician was given.
 */

export class EnrolRefused extends Error {
  constructor(
    readonly reason: Refusal,
    message: string,
  ) {
    super(message);
  }
}

/** The province's certificate is not the one pinned: no retry helps. */
export class PinMismatch extends Error {}

export type EnrolProgress =
  | { kind: 'contacting'; url: string }
  | { kind: 'pending'; code: string; expiresMs: number; waitedMs: number }
  | { kind: 'unreachable'; error: string; retryInMs: number }
  | { kind: 'approved'; stationId: string };

export interface EnrolOptions {
  province: URL;
  caPem: string;
  key: KeyObject;
  csr?: string;
  token?: string;
  signal?: AbortSignal;
  onProgress?: (p: EnrolProgress) => void;
  /** Backoff after a network failure. */
  retry?: { initialMs: number; maxMs: number };
  /** How long each request may be held by the province (long poll). */
  waitMs?: number;
  /** Called once the province asked for a CSR (its brokers want client certificates). */
  makeCsr?: () => Promise<string>;
}

const sha256Colon = (der: Buffer): string => createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');

/** A fingerprint as typed (any case, with or without colons or spaces) in Node's form, or null. */
export function normaliseFingerprint(typed: string): string | null {
  const hex = typed.replace(/[\s:]/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex.match(/../g)!.join(':') : null;
}

function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/** Whether the peer's leaf chains up to `ca` through the certificates it sent, and names `host`. */
export function chainsTo(chain: X509Certificate[], ca: X509Certificate, host: string): string | null {
  const leaf = chain[0];
  if (!leaf) return 'the province sent no certificate';
  const named = isIP(host) ? leaf.checkIP(host) : leaf.checkHost(host);
  if (!named) return `the province's certificate does not name ${host}`;
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) return null;
    const up = chain[i + 1];
    if (!up || !cert.checkIssued(up) || !cert.verify(up.publicKey)) break;
  }
  return "the province's certificate is not signed by the pinned CA";
}

function connectTls(url: URL, signal?: AbortSignal, timeoutMs = 15_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    signal?.throwIfAborted();
    const socket = tls.connect({ host, port: Number(url.port || 443), ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: false, timeout: timeoutMs });
    const onAbort = (): void => void socket.destroy(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => signal?.removeEventListener('abort', onAbort));
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('timeout', () => socket.destroy(Object.assign(new Error(`no answer from ${url.host} within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    socket.once('error', reject);
  });
}

/** The CA certificate (PEM) the province presents whose SHA-256 fingerprint is `fingerprint`. */
export async function caByFingerprint(url: URL, fingerprint: string, signal?: AbortSignal): Promise<string> {
  const socket = await connectTls(url, signal);
  try {
    const chain = peerChain(socket);
    const ca = chain.find((c) => sha256Colon(c.raw) === fingerprint);
    if (!ca) throw new PinMismatch(`no certificate of ${url.host} has the fingerprint given (it presents ${chain.map((c) => sha256Colon(c.raw).slice(0, 23) + '…').join(', ')})`);
    const problem = chainsTo(chain, ca, url.hostname.replace(/^\[|\]$/g, ''));
    if (problem) throw new PinMismatch(problem);
    return ca.toString();
  } finally {
    socket.destroy();
  }
}

/** One JSON request over a TLS connection checked against the pinned CA. */
export async function pinnedJson(url: URL, caPem: string, body?: unknown, signal?: AbortSignal, timeoutMs = 15_000): Promise<{ status: number; json: unknown }> {
  const socket = await connectTls(url, signal, timeoutMs);
  const problem = chainsTo(peerChain(socket), new X509Certificate(caPem), url.hostname.replace(/^\[|\]$/g, ''));
  if (problem) {
    socket.destroy();
    throw new PinMismatch(problem);
  }
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: text === undefined ? 'GET' : 'POST',
        host: url.hostname,
        path: url.pathname + url.search,
        headers: { host: url.host, accept: 'application/json', ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) },
        createConnection: () => socket,
        ...(signal ? { signal } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        let size = 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ENROL_BYTES) req.destroy(new Error(`the province's answer is over ${MAX_ENROL_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch {
            reject(Object.assign(new Error(`the province answered HTTP ${res.statusCode} without JSON`), { code: 'EBADANSWER' }));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * Enrols until the province approves or refuses, or `signal` aborts. Network
 * failures, a province that is down, and answers lost on the way are retried
 * with backoff for as long as it takes: the same key always names the same
 * pending enrolment, so nothing is lost by asking again.
 */
export async function enrol(o: EnrolOptions): Promise<ProvisionBundle> {
  const backoff = new Backoff(o.retry ?? { initialMs: 1000, maxMs: 30_000 });
  const started = Date.now();
  let challenge: Challenge | undefined;
  let csr = o.csr;
  o.onProgress?.({ kind: 'contacting', url: o.province.origin });
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      if (!challenge) {
        const r = await pinnedJson(new URL(ENROL_CHALLENGE_PATH, o.province), o.caPem, undefined, o.signal);
        if (r.status !== 200) throw Object.assign(new Error(`the province answered HTTP ${r.status}`), { code: 'EHTTP' });
        challenge = ChallengeSchema.parse(r.json);
      }
      if (challenge.clientCertificates && !csr && o.makeCsr) csr = await o.makeCsr();
      const waitMs = Math.min(o.waitMs ?? 25_000, MAX_WAIT_MS);
      const request: EnrolRequest = {
        type: 'enrol',
        challenge: challenge.challenge,
        stationKey: rawKeyBase64(createPublicKey(o.key)),
        hostname: hostname().slice(0, 64),
        loaVersion: SOFTWARE_VERSION,
        ...(csr ? { csr } : {}),
        ...(o.token ? { token: o.token } : {}),
        waitMs,
      };
      const r = await pinnedJson(new URL(ENROL_PATH, o.province), o.caPem, signEnrolRequest(o.key, request), o.signal, waitMs + 15_000);
      if (r.status >= 500) throw Object.assign(new Error(`the province answered HTTP ${r.status}`), { code: 'EHTTP' });
      const answer = EnrolAnswerSchema.parse(r.json);
      backoff.reset();
      if (answer.status === 'approved') {
        o.onProgress?.({ kind: 'approved', stationId: answer.bundle.stationId });
        return answer.bundle;
      }
      if (answer.status === 'pending') {
        challenge = answer.challenge;
        o.onProgress?.({ kind: 'pending', code: answer.code, expiresMs: answer.expiresMs, waitedMs: Date.now() - started });
        continue;
      }
      // A challenge that went stale while the link was down is simply asked for again.
      if (answer.reason === 'stale-challenge') {
        challenge = answer.challenge;
        continue;
      }
      throw new EnrolRefused(answer.reason, answer.message);
    } catch (err) {
      if (o.signal?.aborted || !isNetworkError(err)) {
        if ((err as { name?: string }).name === 'ZodError') throw new Error(`the province answered something that is not an enrolment answer: ${(err as Error).message.slice(0, 300)}`);
        throw err;
      }
      challenge = undefined;
      const retryInMs = Math.max(200, backoff.next());
      o.onProgress?.({ kind: 'unreachable', error: describeNetworkError(err), retryInMs });
      await sleep(retryInMs, o.signal);
    }
  }
}

/** What a link that comes and goes, or a province that is down or restarting, looks like: retried. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'EHTTP', 'EBADANSWER']);
function isNetworkError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return NETWORK_CODES.has(code) || code.startsWith('ERR_SSL_');
}

function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}` : e.message;
}
