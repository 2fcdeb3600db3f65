import t from 'tap';
import { mkdtempSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { silentLogger } from '../src/lib/logger.js';

t.test('a new database is migrated to the latest schema in WAL mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const { db, rebuiltFrom } = openStore(join(dir, 'loa.db'), silentLogger());
  t.equal(rebuiltFrom, undefined);
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
});

t.test('a corrupt database is kept aside and rebuilt', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const path = join(dir, 'loa.db');
  writeFileSync(path, Buffer.alloc(8192, 0x5a));
  const { db, rebuiltFrom } = openStore(path, silentLogger(), () => 1234);
  t.equal(rebuiltFrom, `${path}.corrupt-1234`);
  t.ok(existsSync(`${path}.corrupt-1234`), 'the bad file is kept for inspection');
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.same(readdirSync(dir).filter((f) => f.startsWith('loa.db.corrupt')).length, 1);
  db.close();
});
