/**
 * Release trees and install roots for the update tests: small fake releases
 * (package.json, bin/loa-agent.js a tiny script, some payload) built into
 * real signed bundles by the province's release tool, and an install root
 * with releases/<version> and the current symlink as install.sh leaves it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRelease, type BuiltRelease } from '../../province/src/release.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { pointLink, releaseDir } from '../src/update/releases.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import type { Db } from '../src/store/database.js';

export const releaseKeys = generateProvinceKeys();

/** A fake release tree: `agent` is bin/loa-agent.js (CommonJS: it may require better-sqlite3 through NODE_PATH). */
export function fakeTree(version: string, o: { agent?: string; payloadBytes?: number } = {}): string {
  const tree = mkdtempSync(join(tmpdir(), `loa-tree-${version}-`));
  mkdirSync(join(tree, 'bin'));
  mkdirSync(join(tree, 'dist'));
  writeFileSync(join(tree, 'package.json'), JSON.stringify({ name: 'loa', version: '0.0.0-tree', type: 'commonjs' }));
  writeFileSync(join(tree, 'bin', 'loa-agent.js'), o.agent ?? `process.stdout.write('release ${version}\\n');\n`);
  writeFileSync(join(tree, 'dist', 'payload.bin'), randomBytes(o.payloadBytes ?? 256 * 1024));
  return tree;
}

export async function fakeBundle(version: string, o: { agent?: string; payloadBytes?: number; key?: typeof releaseKeys } = {}): Promise<BuiltRelease> {
  return buildRelease({
    tree: fakeTree(version, o),
    outDir: mkdtempSync(join(tmpdir(), 'loa-bundle-')),
    privateKey: (o.key ?? releaseKeys).privateKey,
    version,
    schema: { min: 0, max: MIGRATIONS.length + 1 },
  });
}

/** An install root whose current release is `running` (a fake tree unpacked by hand). */
export async function installRoot(running: string, dir = mkdtempSync(join(tmpdir(), 'loa-root-'))): Promise<string> {
  const rel = releaseDir(dir, running);
  mkdirSync(join(rel, 'bin'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), JSON.stringify({ name: 'loa', version: running }));
  writeFileSync(join(rel, 'bin', 'loa-agent.js'), `process.stdout.write('release ${running}\\n');\n`);
  await pointLink(dir, 'current', running);
  return dir;
}

/** update.* events in the station's outbox, oldest first. */
export function updateEvents(db: Db): Array<{ event: string; message: string; data: Record<string, unknown> }> {
  return (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq").all() as Array<{ payload: string }>)
    .map((r) => (JSON.parse(r.payload) as { body: { event: string; message: string; data: Record<string, unknown> } }).body)
    .filter((b) => b.event.startsWith('update.'));
}
