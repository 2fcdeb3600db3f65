/**
 * The connection number that orders a station's status messages at the
 * province: it grows across every connect and every restart, and a month
 * offline (a failed connect every couple of minutes) does not write the SD
 * card at each attempt.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from '../src/store/database.js';
import { CONNECT_SEQ_BLOCK } from '../src/sync/link.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { freePort } from '../../province/src/mosquitto.js';
import { makeStation, tempDir, until } from './sync-fixture.js';

t.test('failed connects write the number once per block; after a restart it is higher than any used', async (t) => {
  const dir = tempDir('connect-seq');
  // Every write of the stored number, as the database saw it.
  const db = new Database(join(dir, 'loa.db'));
  migrate(db);
  db.exec(`CREATE TABLE seq_writes (value TEXT);
    CREATE TRIGGER seq_ins AFTER INSERT ON meta WHEN NEW.key = 'sync.connect_seq' BEGIN INSERT INTO seq_writes VALUES (NEW.value); END;
    CREATE TRIGGER seq_upd AFTER UPDATE ON meta WHEN NEW.key = 'sync.connect_seq' BEGIN INSERT INTO seq_writes VALUES (NEW.value); END;`);
  db.close();
  const config = {
    brokers: [`mqtts://127.0.0.1:${await freePort()}`], // nothing listens: every connect fails at once
    provinceKeys: [generateProvinceKeys().publicPem],
    reconnect: { initialMs: 100, maxMs: 1000, connectTimeoutMs: 1000 },
  };

  const first = makeStation({ id: 'st-seq', dir, config });
  await until(() => first.client.status().connectSeq >= 12 || undefined, 20_000, 'a dozen failed connects');
  const usedBefore = first.client.status().connectSeq;
  await first.stop();
  const writes = (): string[] => {
    const check = new Database(join(dir, 'loa.db'), { readonly: true });
    try {
      return (check.prepare('SELECT value FROM seq_writes').all() as Array<{ value: string }>).map((r) => r.value);
    } finally {
      check.close();
    }
  };
  t.same(writes(), [String(CONNECT_SEQ_BLOCK)], `${usedBefore} connects, one write: the end of the block reserved`);

  const again = makeStation({ id: 'st-seq', dir, config });
  t.teardown(() => again.stop());
  const next = await until(() => (again.client.status().connectSeq > CONNECT_SEQ_BLOCK ? again.client.status().connectSeq : undefined), 20_000, 'the first connect after the restart');
  t.equal(next, CONNECT_SEQ_BLOCK + 1, `after the restart: ${next}, above every number used before (${usedBefore})`);
  t.same(writes(), [String(CONNECT_SEQ_BLOCK), String(2 * CONNECT_SEQ_BLOCK)], 'and a new block reserved');
});
