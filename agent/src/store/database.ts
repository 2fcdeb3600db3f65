import Database from 'better-sqlite3';
import { existsSync, renameSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { MIGRATIONS } from './migrations.js';
import { SOFTWARE_VERSION } from '../version.js';

export type Db = Database.Database;

export interface OpenedStore {
  db: Db;
  /** Set when the database was found corrupt and rebuilt empty; names the file kept aside. */
  rebuiltFrom?: string;
}

/** The meta key naming the loa version that last migrated the schema, so a downgrade can say who wrote it. */
export const MIGRATED_BY_KEY = 'schema.migrated_by';

/**
 * The database was written by a newer loa (its schema is ahead of this
 * one's migrations). Nothing is changed: the operator installs that version
 * again. The daemon exits 78 (EX_CONFIG) on it, so systemd does not loop.
 */
export class DatabaseNewerError extends Error {
  constructor(
    readonly path: string,
    readonly schema: number,
    readonly writtenBy: string | null,
  ) {
    super(databaseNewerMessage(path, schema, writtenBy));
  }
}

export function databaseNewerMessage(path: string, schema: number, writtenBy: string | null): string {
  const by = writtenBy ?? 'a newer loa (version not recorded)';
  return (
    `${path} has schema ${schema}, written by loa ${by}; this is loa ${SOFTWARE_VERSION} (schema ${MIGRATIONS.length}): ` +
    `install loa ${writtenBy ?? 'the newer version'} again; the database was left untouched / ` +
    `cơ sở dữ liệu ${path} có lược đồ ${schema}, do loa ${writtenBy ?? 'bản mới hơn (không ghi phiên bản)'} ghi; đây là loa ${SOFTWARE_VERSION} (lược đồ ${MIGRATIONS.length}): ` +
    `hãy cài lại loa ${writtenBy ?? 'bản mới hơn'}; cơ sở dữ liệu được giữ nguyên`
  );
}

/**
 * Opens the station database: WAL, synchronous=FULL (a committed play-log
 * row survives a pulled plug), migrations applied, integrity checked.
 *
 * Recovery: only a real corruption (SQLITE_CORRUPT, SQLITE_NOTADB, a failed
 * `quick_check`) renames the file (and its -wal/-shm) to
 * `<name>.corrupt-<epoch ms>` and builds an empty database in its place; the
 * cache re-indexes itself from disk and the schedule comes back from the
 * province or `loa schedule import`; the caller must report `rebuiltFrom`
 * loudly. Anything else (a newer schema, a full disk, a locked or unreadable
 * file) is thrown with the database left as it was.
 */
export function openStore(path: string, log: Logger, now: () => number = Date.now): OpenedStore {
  try {
    const db = openChecked(path);
    return { db };
  } catch (err) {
    if (!isCorruption(err)) throw err;
    const aside = `${path}.corrupt-${now()}`;
    log.fatal(
      { err, path, keptAs: aside },
      'database is corrupt: kept aside and rebuilt empty; schedule must be re-sent or re-imported',
    );
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
    }
    fsyncDir(dirname(path));
    const db = openChecked(path);
    return { db, rebuiltFrom: aside };
  }
}

/** The file's contents are damaged (as opposed to the disk full, the file locked, or the schema newer). */
export class QuickCheckError extends Error {}

export function isCorruption(err: unknown): boolean {
  if (err instanceof QuickCheckError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'));
}

function openChecked(path: string): Db {
  const db = new Database(path);
  try {
    // Before anything that could write: a newer schema must stay byte for byte as it was.
    refuseNewerSchema(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 2000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new QuickCheckError(`quick_check: ${String(check)}`);
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Throws DatabaseNewerError when the schema is ahead of this loa's migrations; reads only. */
export function refuseNewerSchema(db: Db, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) throw new DatabaseNewerError(path, current, migratedBy(db));
}

/** The loa version that last migrated this database, if it recorded one. */
export function migratedBy(db: Db): string | null {
  try {
    const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(MIGRATED_BY_KEY) as { value: string } | undefined;
    return row?.value ?? null;
  } catch {
    return null;
  }
}

export function migrate(db: Db, path = db.name): void {
  refuseNewerSchema(db, path);
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(MIGRATED_BY_KEY, SOFTWARE_VERSION);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function databasePath(stateDir: string): string {
  return join(stateDir, 'loa.db');
}
