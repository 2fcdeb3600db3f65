import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Db } from '../store/database.js';
import { MIGRATED_BY_KEY } from '../store/database.js';
import { fsyncDirectory } from '../lib/atomic-file.js';

/**
 * An older release never meets a newer database. Before a switch the
 * station database is copied with SQLite's online backup API (the agent
 * keeps writing meanwhile). On a rollback, if the new release migrated the
 * schema, the backup comes back, and every row the newer release wrote is
 * carried over: migrations are append-only (new tables, new columns), so
 * each table both schemas have is refilled from the newer file in the
 * columns both have. Proof of play, the outbox, command and replay records
 * written after the switch survive; what only the newer schema can hold is
 * kept aside in `<db>.newer-<version>`.
 */

export async function backupDatabase(db: Db, dest: string): Promise<void> {
  rmSync(dest, { force: true });
  await db.backup(dest);
  await fsyncDirectory(dirname(dest));
}

export interface RestoreOutcome {
  /** No: the schema had not changed, the database stays as it is. */
  restored: boolean;
  /** Rows carried from the newer database, by table. */
  carried: Record<string, number>;
  keptAs?: string;
  carryError?: string;
}

export function schemaOf(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

/**
 * Brings the live database back to the backup's schema with the newer rows
 * in it; `tag` names the newer file kept aside. If the rows cannot be
 * carried (a constraint of the older schema refuses one), the backup comes
 * back alone and `carryError` says so: losing rows beats a station that
 * cannot open its database.
 */
export function restoreDatabase(livePath: string, backupPath: string | null, schemaBefore: number, tag: string): RestoreOutcome {
  if (!existsSync(livePath)) return { restored: false, carried: {} };
  if (schemaOf(livePath) <= schemaBefore) return { restored: false, carried: {} };
  if (!backupPath || !existsSync(backupPath)) throw new Error(`the database has a newer schema and its backup ${backupPath ?? '(none)'} is missing`);
  const work = `${livePath}.rollback-tmp`;
  rmSync(work, { force: true });
  copyFileSync(backupPath, work);
  let carried: Record<string, number> = {};
  let carryError: string | undefined;
  try {
    carried = carryRows(work, livePath);
  } catch (err) {
    carryError = (err as Error).message;
    rmSync(work, { force: true });
    copyFileSync(backupPath, work);
  }
  const keptAs = `${livePath}.newer-${tag}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(livePath + suffix)) renameSync(livePath + suffix, keptAs + suffix);
  }
  renameSync(work, livePath);
  for (const suffix of ['-wal', '-shm']) rmSync(work + suffix, { force: true });
  fsyncDirectory(dirname(livePath)).catch(() => undefined);
  return { restored: true, carried, keptAs, ...(carryError ? { carryError } : {}) };
}

/** Every table of the older file refilled from the newer one, in the columns both have, in one transaction. */
function carryRows(olderPath: string, newerPath: string): Record<string, number> {
  const carried: Record<string, number> = {};
  const db = new Database(olderPath);
  try {
    db.pragma('journal_mode = DELETE');
    db.prepare('ATTACH DATABASE ? AS newer').run(newerPath);
    const migratedBy = (db.prepare('SELECT value FROM main.meta WHERE key = ?').get(MIGRATED_BY_KEY) as { value: string } | undefined)?.value;
    const tables = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);
    const columns = (table: string, schema: string): string[] => (db.prepare('SELECT name FROM pragma_table_info(?, ?)').all(table, schema) as Array<{ name: string }>).map((c) => c.name);
    db.transaction(() => {
      for (const t of tables) {
        const newerCols = new Set(columns(t, 'newer'));
        if (newerCols.size === 0) continue;
        const list = columns(t, 'main').filter((c) => newerCols.has(c)).map((c) => `"${c}"`).join(', ');
        db.prepare(`DELETE FROM main."${t}"`).run();
        carried[t] = db.prepare(`INSERT INTO main."${t}" (${list}) SELECT ${list} FROM newer."${t}"`).run().changes;
      }
      if (migratedBy !== undefined) db.prepare('UPDATE main.meta SET value = ? WHERE key = ?').run(migratedBy, MIGRATED_BY_KEY);
    })();
    db.prepare('DETACH DATABASE newer').run();
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  return carried;
}
