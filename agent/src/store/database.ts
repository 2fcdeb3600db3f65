import Database from 'better-sqlite3';
import { existsSync, renameSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenedStore {
  db: Db;
  /** Set when the database was found corrupt and rebuilt empty; names the file kept aside. */
  rebuiltFrom?: string;
}

/**
 * Opens the station database: WAL, synchronous=FULL (a committed play-log
 * row survives a pulled plug), migrations applied, integrity checked.
 *
 * Recovery: if the file cannot be opened or fails `quick_check`, it (and its
 * -wal/-shm) is renamed to `<name>.corrupt-<epoch ms>` and an empty database
 * is built in its place. The cache re-indexes itself from disk and the
 * schedule comes back from the province or `loa schedule import`; the caller
 * must report `rebuiltFrom` loudly.
 */
export function openStore(path: string, log: Logger, now: () => number = Date.now): OpenedStore {
  try {
    const db = openChecked(path);
    return { db };
  } catch (err) {
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

function openChecked(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 2000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema ${current} is newer than this loa (${MIGRATIONS.length}): install the newer loa again`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
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

