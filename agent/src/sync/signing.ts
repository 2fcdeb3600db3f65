import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { EnvelopeSchema, PROTOCOL_VERSION, SignedPayloadSchema, type Envelope, type SignedPayload } from './protocol.js';
import { describeIssues } from '../domain/schemas.js';
import type { ZodType } from 'zod';

/**
 * Ed25519 signatures over the exact payload bytes (Node's built-in crypto).
 * The station pins the province's public key(s) in its configuration and
 * never takes a key from the network.
 */

// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Reads a pinned key: PEM (SPKI) or the 32 raw bytes in base64. */
export function loadPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? createPublicKey(trimmed)
    : (() => {
        const raw = Buffer.from(trimmed, 'base64');
        if (raw.length !== 32) throw new Error(`province key is ${raw.length} bytes in base64; an Ed25519 public key is 32 bytes`);
        return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
      })();
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`province key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  return key;
}

export function loadPrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`signing key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  return key;
}

export function rawPublicKey(key: KeyObject): Buffer {
  return (key.export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_ED25519_PREFIX.length);
}

/** First 16 hex digits of SHA-256 of the raw public key. */
export function keyId(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 16);
}

export interface ProvinceKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PEM of the public key, for station configuration. */
  publicPem: string;
  privatePem: string;
}

export function generateProvinceKeys(): ProvinceKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }) as string,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}

export function signPayload(privateKey: KeyObject, payload: SignedPayload | Record<string, unknown> | object): string {
  const p = JSON.stringify(payload);
  const s = sign(null, Buffer.from(p, 'utf8'), privateKey).toString('base64');
  const envelope: Envelope = { v: PROTOCOL_VERSION, k: keyId(createPublicKey(privateKey)), p, s };
  return JSON.stringify(envelope);
}

export type OpenResult<T = SignedPayload> =
  | { ok: true; payload: T }
  | { ok: false; reason: 'malformed' | 'unknown-key' | 'bad-signature' | 'invalid'; errors: string[] };

/** Pinned keys by id, ready for `openEnvelope`. */
export function keyRing(keys: KeyObject[]): Map<string, KeyObject> {
  return new Map(keys.map((k) => [keyId(k), k]));
}

/**
 * Checks an envelope and returns its payload only when it is well formed,
 * signed by a pinned key, and a valid protocol payload. Nothing in an
 * unverified message is ever acted on.
 */
export function openEnvelope<T = SignedPayload>(raw: Buffer | string, keys: Map<string, KeyObject>, schema: ZodType<T> = SignedPayloadSchema as unknown as ZodType<T>): OpenResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', errors: ['payload is not JSON'] };
  }
  const env = EnvelopeSchema.safeParse(json);
  if (!env.success) return { ok: false, reason: 'malformed', errors: describeIssues(env.error) };
  const key = keys.get(env.data.k);
  if (!key) return { ok: false, reason: 'unknown-key', errors: [`signed by key ${env.data.k}, which is not a pinned province key`] };
  const good = verify(null, Buffer.from(env.data.p, 'utf8'), key, Buffer.from(env.data.s, 'base64'));
  if (!good) return { ok: false, reason: 'bad-signature', errors: [`signature does not match key ${env.data.k}`] };
  let inner: unknown;
  try {
    inner = JSON.parse(env.data.p);
  } catch {
    return { ok: false, reason: 'invalid', errors: ['signed payload is not JSON'] };
  }
  const payload = schema.safeParse(inner);
  if (!payload.success) return { ok: false, reason: 'invalid', errors: describeIssues(payload.error) };
  return { ok: true, payload: payload.data };
}
