import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { keyRing, loadPublicKey, openEnvelope, signPayload } from '../sync/signing.js';

/**
 * A release bundle's manifest: what the bundle is (version, SHA-256, size,
 * compression) and which database schemas the release works with, signed
 * by the province's release key (Ed25519, the envelope of docs/protocol.md).
 * The station pins that key in `update.releaseKey`; the province's command
 * key only announces a release, it cannot make one.
 */

/** A release folder name: no slash, no leading dot, nothing a shell or a path would read twice. */
export const RELEASE_VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$/;
export const releaseVersion = z.string().regex(RELEASE_VERSION_PATTERN, 'use letters, digits, ".", "+", "_" or "-" (at most 40), not starting with "." or "-"');

/** The signed manifest travels inside a signed command: it stays small. */
export const MAX_MANIFEST_BYTES = 4096;

export const ReleaseManifestSchema = z.strictObject({
  type: z.literal('release'),
  version: releaseVersion,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  bytes: z.number().int().min(1).max(4096 * 1_048_576),
  compression: z.enum(['zstd', 'gzip']),
  /**
   * Database schemas (PRAGMA user_version) the release can open: from `min`
   * (the oldest it migrates from) to `max` (MIGRATIONS.length of that
   * release: what it migrates to).
   */
  schema: z.strictObject({ min: z.number().int().min(0), max: z.number().int().min(0) }).refine((s) => s.min <= s.max, 'schema.min is above schema.max'),
  builtMs: z.number().int().min(0),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifestSchema>;

export function signManifest(privateKey: KeyObject, manifest: ReleaseManifest): string {
  return signPayload(privateKey, ReleaseManifestSchema.parse(manifest));
}

export type OpenedManifest = { ok: true; manifest: ReleaseManifest } | { ok: false; reason: string };

/** The manifest, only when it is signed by the pinned release key and well formed. */
export function openManifest(envelope: string, releaseKey: string): OpenedManifest {
  if (Buffer.byteLength(envelope) > MAX_MANIFEST_BYTES) return { ok: false, reason: `release manifest is ${Buffer.byteLength(envelope)} bytes, more than ${MAX_MANIFEST_BYTES}` };
  let key: KeyObject;
  try {
    key = loadPublicKey(releaseKey);
  } catch (err) {
    return { ok: false, reason: `update.releaseKey is not usable: ${(err as Error).message}` };
  }
  const opened = openEnvelope(envelope, keyRing([key]), ReleaseManifestSchema);
  if (!opened.ok) return { ok: false, reason: `release manifest refused (${opened.reason}): ${opened.errors.slice(0, 3).join('; ')}` };
  return { ok: true, manifest: opened.payload };
}
