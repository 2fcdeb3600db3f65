import { execFile, execFileSync } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { RELEASE_VERSION_PATTERN, signManifest, type ReleaseManifest } from '../../agent/src/update/manifest.js';

/**
 * Release bundles, built and signed from a checkout (`scripts/province
 * release`): a tar (zstd where the zstd tool exists, else gzip) of dist,
 * bin, node_modules, package.json and systemd, with package.json's version
 * set to the release's, and the signed manifest beside it. node_modules
 * goes in as the checkout has it (build with `npm ci --omit=dev` first for
 * a lean bundle; a symlinked node_modules stays a symlink, for rigs only).
 */

const run = promisify(execFile);
export const BUNDLE_ENTRIES = ['dist', 'bin', 'node_modules', 'systemd'] as const;

export interface BuiltRelease {
  bundle: string;
  manifestFile: string;
  manifest: ReleaseManifest;
  /** The signed manifest (the envelope), as the `update` command carries it. */
  signed: string;
}

export function zstdAvailable(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The schema a tree's migrations reach (its compiled dist), for the manifest. */
export async function treeSchema(tree: string): Promise<number> {
  const file = join(tree, 'dist', 'agent', 'src', 'store', 'migrations.js');
  if (!existsSync(file)) throw new Error(`${tree} has no dist/agent/src/store/migrations.js: build it (npm run build) or give the schema`);
  return ((await import(pathToFileURL(file).href)) as { MIGRATIONS: readonly string[] }).MIGRATIONS.length;
}

export async function buildRelease(o: {
  tree: string;
  outDir: string;
  privateKey: KeyObject;
  version?: string;
  schema?: { min: number; max: number };
  compression?: 'zstd' | 'gzip';
  nowMs?: number;
}): Promise<BuiltRelease> {
  const pkg = JSON.parse(readFileSync(join(o.tree, 'package.json'), 'utf8')) as Record<string, unknown>;
  if (pkg.name !== 'loa') throw new Error(`${o.tree}/package.json is not loa's`);
  const version = o.version ?? String(pkg.version);
  if (!RELEASE_VERSION_PATTERN.test(version)) throw new Error(`version "${version}": use letters, digits, ".", "+", "_" or "-" (at most 40)`);
  if (!existsSync(join(o.tree, 'bin', 'loa-agent.js'))) throw new Error(`${o.tree} has no bin/loa-agent.js`);
  const compression = o.compression ?? (zstdAvailable() ? 'zstd' : 'gzip');
  const schema = o.schema ?? { min: 0, max: await treeSchema(o.tree) };
  mkdirSync(o.outDir, { recursive: true });
  const staging = mkdtempSync(join(tmpdir(), 'loa-release-'));
  const base = join(o.outDir, `loa-${version}`);
  const tar = `${base}.tar`;
  const bundle = `${tar}.${compression === 'zstd' ? 'zst' : 'gz'}`;
  try {
    writeFileSync(join(staging, 'package.json'), JSON.stringify({ ...pkg, version }, null, 2) + '\n');
    const entries = BUNDLE_ENTRIES.filter((e) => existsSync(join(o.tree, e)));
    rmSync(tar, { force: true });
    rmSync(bundle, { force: true });
    await run('tar', ['-c', '-f', tar, '--owner=0', '--group=0', '-C', o.tree, ...entries], { maxBuffer: 1 << 20 });
    await run('tar', ['-r', '-f', tar, '--owner=0', '--group=0', '-C', staging, 'package.json']);
    if (compression === 'zstd') await run('zstd', ['-q', '-T0', '--rm', tar, '-o', bundle]);
    else await run('gzip', ['-n', tar]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const hash = createHash('sha256');
  await pipeline(createReadStream(bundle), hash);
  const manifest: ReleaseManifest = { type: 'release', version, sha256: hash.digest('hex'), bytes: statSync(bundle).size, compression, schema, builtMs: o.nowMs ?? Date.now() };
  const signed = signManifest(o.privateKey, manifest);
  const manifestFile = `${base}.manifest.json`;
  writeFileSync(manifestFile, signed + '\n');
  return { bundle, manifestFile, manifest, signed };
}
