import { execFile } from 'node:child_process';
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chown, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { keyId, loadPrivateKey } from '../sync/signing.js';

const run = promisify(execFile);

/**
 * The station's own keys, made on the station and never sent anywhere: the
 * Ed25519 identity that signs its enrolment, and (where the province's
 * brokers want client certificates) a P-256 TLS key with its CSR. They live
 * in the state folder, mode 0600, owned like the folder (the loa user when
 * `loa provision` runs as root), and survive a re-provisioning: the same
 * controller keeps being recognised.
 */

export interface StationKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Newly made this run (a fresh controller or a wiped state folder). */
  created: boolean;
}

export interface IdentityPaths {
  dir: string;
  identityKey: string;
  tlsKey: string;
}

export function identityPaths(stateDir: string): IdentityPaths {
  const dir = join(stateDir, 'identity');
  return { dir, identityKey: join(dir, 'station.key'), tlsKey: join(dir, 'tls-client.key') };
}

/** Who owns what `loa provision` writes: the owner of the state folder. */
export async function ownerOf(dir: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const s = await stat(dir);
  return { uid: s.uid, gid: s.gid };
}

/** A folder for secrets (0700), owned like the state folder so the agent can enter it. */
export async function privateDir(path: string, stateDir: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const owner = await ownerOf(stateDir);
  if (owner) await chown(path, owner.uid, owner.gid);
}

export async function loadOrCreateIdentity(stateDir: string): Promise<StationKeys> {
  const p = identityPaths(stateDir);
  await privateDir(p.dir, stateDir);
  try {
    const privateKey = loadPrivateKey(await readFile(p.identityKey, 'utf8'));
    return { privateKey, publicKey: createPublicKey(privateKey), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${p.identityKey}: ${(err as Error).message} (move it away to make a new identity; the province then sees a new controller)`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFileAtomic(p.identityKey, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600, ...owned(await ownerOf(stateDir)) });
  return { privateKey, publicKey, created: true };
}

const owned = (o: { uid: number; gid: number } | undefined): { owner?: { uid: number; gid: number } } => (o ? { owner: o } : {});

/** The TLS client key (kept) and a CSR for it (openssl; Node makes no CSRs), subject CN = the identity's key id. */
export async function tlsClientRequest(stateDir: string, identity: KeyObject, openssl = 'openssl'): Promise<string> {
  const p = identityPaths(stateDir);
  const owner = owned(await ownerOf(stateDir));
  try {
    createPrivateKey(await readFile(p.tlsKey, 'utf8'));
  } catch {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFileAtomic(p.tlsKey, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600, ...owner });
  }
  const { stdout } = await run(openssl, ['req', '-new', '-key', p.tlsKey, '-subj', `/CN=loa-${keyId(createPublicKey(identity))}`, '-sha256']);
  return stdout;
}
