import Database from 'better-sqlite3';
import { migrate, MIGRATED_BY_KEY } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';

/** A database as a later loa leaves it: one schema ahead, its version recorded, a row of data. */
export function writeNewerDatabase(path: string, version: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  migrate(db);
  db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(version, MIGRATED_BY_KEY);
  db.exec("CREATE TABLE future_thing (x TEXT); INSERT INTO meta (key, value) VALUES ('clock.last_seen_ms', '1800000000000')");
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
