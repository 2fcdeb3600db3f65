import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { fsyncDirectory, writeFileAtomic } from '../lib/atomic-file.js';
import type { UpdateMarker } from './trial.js';

/**
 * The install layout on disk (agreed in TEAM.md, docs/operations.md):
 *   <root>/releases/<version>/   one unpacked release (dist, bin, node_modules, package.json, systemd)
 *   <root>/current  -> releases/<version>   what the units run
 *   <root>/previous -> releases/<version>   the release switched away from: its boot check runs first
 * Only node: built-ins here (and the tar binary): the boot check uses this
 * file from the previous release, whatever the new one broke.
 */

const run = promisify(execFile);

export const releasesDir = (root: string): string => join(root, 'releases');
export const releaseDir = (root: string, version: string): string => join(releasesDir(root), version);
export const updateDir = (stateDir: string): string => join(stateDir, 'update');
export const markerPath = (stateDir: string): string => join(updateDir(stateDir), 'marker.json');

/** The version a link (`current`, `previous`) points at, or null. */
export function linkedVersion(root: string, name: 'current' | 'previous'): string | null {
  try {
    return basename(readlinkSync(join(root, name)));
  } catch {
    return null;
  }
}

/** Points `<root>/<name>` at releases/<version> in one rename: a power cut leaves the old link or the new one. */
export async function pointLink(root: string, name: 'current' | 'previous', version: string): Promise<void> {
  const tmp = join(root, `.tmp-${name}-${randomBytes(4).toString('hex')}`);
  await symlink(join('releases', version), tmp);
  await rename(tmp, join(root, name));
  await fsyncDirectory(root);
}

export function readMarker(stateDir: string): UpdateMarker | null {
  try {
    return JSON.parse(readFileSync(markerPath(stateDir), 'utf8')) as UpdateMarker;
  } catch {
    return null;
  }
}

export async function writeMarker(stateDir: string, marker: UpdateMarker): Promise<void> {
  await mkdir(updateDir(stateDir), { recursive: true, mode: 0o750 });
  await writeFileAtomic(markerPath(stateDir), JSON.stringify(marker, null, 1) + '\n');
}

/**
 * Unpacks a verified bundle beside the running release: into a temp folder
 * first, renamed to releases/<version> only once whole and holding the
 * version it claims, so a cut never leaves half a release under that name.
 */
export async function unpackBundle(bundle: string, compression: 'zstd' | 'gzip', root: string, version: string): Promise<string> {
  const dir = releasesDir(root);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${version}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    // --no-same-owner: files belong to loa; no absolute names or "..": tar refuses them by default.
    await run('tar', ['-x', compression === 'zstd' ? '--zstd' : '-z', '--no-same-owner', '-f', bundle, '-C', tmp], { maxBuffer: 1 << 20 });
    const pkg = JSON.parse(readFileSync(join(tmp, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (pkg.name !== 'loa' || pkg.version !== version) throw new Error(`bundle holds ${pkg.name ?? '?'} ${pkg.version ?? '?'}, the manifest says loa ${version}`);
    if (!existsSync(join(tmp, 'bin', 'loa-agent.js'))) throw new Error('bundle has no bin/loa-agent.js');
    const final = releaseDir(root, version);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await fsyncDirectory(dir);
    return final;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Removes release folders other than `keep` (and leftovers of cut unpacks). */
export async function pruneReleases(root: string, keep: ReadonlyArray<string | null>): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(releasesDir(root)).catch(() => [] as string[])) {
    if (keep.includes(name)) continue;
    await rm(join(releasesDir(root), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The two settings the boot check needs, read from the config file without its schema (a newer release may have added keys the older one does not know). */
export function bootSettings(configPath: string): { stateDir: string; root: string; maxStarts: number } {
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as { paths?: { state?: string }; update?: { root?: string; maxStarts?: number } };
  return { stateDir: raw.paths?.state ?? '/var/lib/loa', root: raw.update?.root ?? '/opt/loa', maxStarts: raw.update?.maxStarts ?? 3 };
}
