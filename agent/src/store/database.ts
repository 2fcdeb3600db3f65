import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, fsyncSync, openSync, closeSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isStorageFailure } from './write-behind.js';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { MIGRATIONS } from './migrations.js';
import { SOFTWARE_VERSION } from '../version.js';

export type Db = Database.Database;

export interface OpenedStore {
  db: Db;
  /** Set when the database was found corrupt and rebuilt empty; names the file kept aside. */
  rebuiltFrom?: string;
  /**
   * Set when the state disk would not let the database open for writing
   * (full, read-only): the station runs on a copy in memory, read from the
   * file as it was; `writeBack` puts it on the disk once the disk takes it.
   * Names the disk's error.
   */
  inMemory?: string;
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
    if (isStorageFailure(err)) return openInMemory(path, err as Error, log);
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

/**
 * The station must play on a disk that takes no writes, and it cannot start
 * on a database it cannot open for writing: a copy of the file in memory
 * (every write succeeds there; nothing of it survives a power cut until
 * `writeBack`). A file that cannot even be read, or a newer schema, still
 * throws.
 */
function openInMemory(path: string, cause: Error, log: Logger): OpenedStore {
  const image = existsSync(path) ? readImage(path) : undefined;
  const db = image ? new Database(image) : new Database(':memory:');
  try {
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new QuickCheckError(`quick_check: ${String(check)}`);
    migrate(db, path);
  } catch (err) {
    db.close();
    throw err;
  }
  const why = cause.message.split('\n')[0]!;
  log.error({ path, err: why }, 'the state disk takes no writes: the database runs on a copy in memory until it does');
  return { db, inMemory: why };
}

/**
 * The database file's bytes, with what its WAL holds: SQLite cannot read a
 * WAL on a disk where it cannot make the WAL's index, so a WAL left by a
 * crash is replayed in a copy in RAM (/dev/shm). Marked as a rollback-journal
 * file (header bytes 18-19), as a database in memory must be.
 */
function readImage(path: string): Buffer {
  let image: Buffer;
  const wal = `${path}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) {
    const ram = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'loa-db-'));
    try {
      copyFileSync(path, join(ram, 'loa.db'));
      copyFileSync(wal, join(ram, 'loa.db-wal'));
      const copy = new Database(join(ram, 'loa.db'));
      try {
        image = copy.serialize();
      } finally {
        copy.close();
      }
    } finally {
      rmSync(ram, { recursive: true, force: true });
    }
  } else image = readFileSync(path);
  if (image.length >= 20) image[18] = image[19] = 1;
  return image;
}

/**
 * The in-memory database onto the disk, replacing the file: written whole
 * beside it and synced, the old WAL and its index removed, then renamed
 * over (a crash before the rename leaves the old file as it was, without
 * the WAL's last transactions; after it, the copy). Throws when the disk
 * still refuses.
 */
export function writeBack(db: Db, path: string): void {
  const tmp = `${path}.from-memory`;
  const image = db.serialize();
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, image);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  for (const suffix of ['-wal', '-shm']) rmSync(path + suffix, { force: true });
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** True when a small file can be written, synced and removed in `dir` (a full or read-only disk refuses). */
export function diskTakesWrites(dir: string): boolean {
  const probe = join(dir, '.write-probe');
  try {
    const fd = openSync(probe, 'w', 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    rmSync(probe);
    return true;
  } catch {
    rmSync(probe, { force: true });
    return false;
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
    // A file SQLite could open for reading only (a read-only disk, the WAL's index left by a crash) opens without
    // a word: one write proves it takes them (the version it already has, one page).
    db.pragma(`user_version = ${db.pragma('user_version', { simple: true }) as number}`);
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
