import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { cleanString } from '../lib/text.js';
import { loadPublicKey, rawPublicKey } from '../sync/signing.js';

/**
 * The enrolment exchange (docs/protocol.md "Enrolment"): JSON over HTTPS
 * between `loa provision` and the province. The station proves it holds its
 * Ed25519 key by signing each request over a fresh challenge of the
 * province's; the province answers pending (with the code to read out),
 * approved (with everything the station's configuration needs) or refused.
 */

export const ENROL_CHALLENGE_PATH = '/v1/enrol/challenge';
export const ENROL_PATH = '/v1/enrol';
/** The page the QR code on the board opens on the operator's phone. */
export const ENROL_PAGE_PATH = '/enrol';
/** Requests and answers larger than this are refused unread. */
export const MAX_ENROL_BYTES = 64 * 1024;
/** The longest the province holds a request open waiting for the approval. */
export const MAX_WAIT_MS = 30_000;

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" or "-" (at most 64)');
const base64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'expected base64').max(8192);
const pem = (label: string) => z.string().max(16_384).refine((s) => s.includes(`-----BEGIN ${label}`), `expected a PEM ${label}`);

export const ChallengeSchema = strict.object({
  challenge: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
  expiresMs: z.number().int(),
  /** The province's brokers want a client certificate too: send a CSR. */
  clientCertificates: z.boolean(),
});
export type Challenge = z.infer<typeof ChallengeSchema>;

export const EnrolRequestSchema = strict.object({
  type: z.literal('enrol'),
  challenge: ChallengeSchema.shape.challenge,
  /** The station's Ed25519 public key, 32 raw bytes in base64. */
  stationKey: base64,
  hostname: cleanString(64),
  loaVersion: cleanString(32),
  /** PKCS#10 request for a TLS client certificate, when the province asked for one. */
  csr: pem('CERTIFICATE REQUEST').optional(),
  /** A one-time token of the province's (sites without a board or a phone call). */
  token: z.string().min(1).max(64).optional(),
  /** How long the province may hold the answer while the enrolment is pending. */
  waitMs: z.number().int().min(0).max(MAX_WAIT_MS),
});
export type EnrolRequest = z.infer<typeof EnrolRequestSchema>;

/** What goes over the wire: the exact request bytes and the station's signature over them. */
export const SignedEnrolSchema = strict.object({ request: z.string().max(MAX_ENROL_BYTES), signature: base64 });

export const ProvisionZoneSchema = strict.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'use 1-32 lowercase letters, digits, "-" or "_"'),
  label: cleanString(80).optional(),
  /** The relay line, when the province knows the wiring; else the controller's own zone at the same place keeps its line. */
  line: z.number().int().min(0).max(4095).optional(),
});
export type ProvisionZone = z.infer<typeof ProvisionZoneSchema>;

/** Everything a station needs to join the province. */
export const ProvisionBundleSchema = strict.object({
  stationId: id,
  name: cleanString(120).optional(),
  timezone: z.string().max(64).optional(),
  groups: z.array(id).max(64),
  zones: z.array(ProvisionZoneSchema).max(64).optional(),
  brokers: z.array(z.string().regex(/^(mqtts?|wss?):\/\/\S+$/).max(500)).min(1).max(8),
  /** The broker user; the broker binds the client id to it. */
  username: z.string().min(1).max(128),
  password: z.string().min(16).max(256),
  /** The CA that signed the brokers' certificates (pinned into sync.tls.caFile). */
  caPem: pem('CERTIFICATE'),
  /** The TLS client certificate signed from the station's CSR, where the province uses them. */
  clientCertPem: pem('CERTIFICATE').optional(),
  /** Ed25519 keys that sign targets and commands (PEM or raw base64). */
  provinceKeys: z.array(z.string().min(1).max(4096)).min(1).max(4),
  /** The Ed25519 key that signs release bundles (base64 of the SPKI DER or the 32 raw bytes), pinned for self-update. */
  releaseKey: z.string().max(4096).optional(),
  issuedMs: z.number().int(),
});
export type ProvisionBundle = z.infer<typeof ProvisionBundleSchema>;

export const REFUSALS = ['bad-request', 'bad-signature', 'stale-challenge', 'bad-token', 'expired-token', 'used-token', 'rejected', 'replaced'] as const;
export type Refusal = (typeof REFUSALS)[number];

export const EnrolAnswerSchema = z.discriminatedUnion('status', [
  strict.object({ status: z.literal('pending'), code: z.string().max(16), expiresMs: z.number().int(), challenge: ChallengeSchema }),
  strict.object({ status: z.literal('approved'), bundle: ProvisionBundleSchema }),
  strict.object({ status: z.literal('refused'), reason: z.enum(REFUSALS), message: z.string().max(500), challenge: ChallengeSchema.optional() }),
]);
export type EnrolAnswer = z.infer<typeof EnrolAnswerSchema>;

export function signEnrolRequest(privateKey: KeyObject, request: EnrolRequest): z.infer<typeof SignedEnrolSchema> {
  const text = JSON.stringify(request);
  return { request: text, signature: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64') };
}

export type OpenedEnrol = { ok: true; request: EnrolRequest; key: KeyObject } | { ok: false; reason: 'bad-request' | 'bad-signature'; message: string };

/** The province's check: a well-formed request signed by the key it names. */
export function openEnrolRequest(body: unknown): OpenedEnrol {
  const signed = SignedEnrolSchema.safeParse(body);
  if (!signed.success) return { ok: false, reason: 'bad-request', message: 'expected {"request": "...", "signature": "..."}' };
  let json: unknown;
  try {
    json = JSON.parse(signed.data.request);
  } catch {
    return { ok: false, reason: 'bad-request', message: 'request is not JSON' };
  }
  const r = EnrolRequestSchema.safeParse(json);
  if (!r.success) return { ok: false, reason: 'bad-request', message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 400) };
  let key: KeyObject;
  try {
    key = loadPublicKey(r.data.stationKey);
  } catch (err) {
    return { ok: false, reason: 'bad-request', message: (err as Error).message };
  }
  if (!verify(null, Buffer.from(signed.data.request, 'utf8'), key, Buffer.from(signed.data.signature, 'base64'))) {
    return { ok: false, reason: 'bad-signature', message: 'the signature does not match the station key' };
  }
  return { ok: true, request: r.data, key };
}

export function rawKeyBase64(key: KeyObject): string {
  return rawPublicKey(key).toString('base64');
}
