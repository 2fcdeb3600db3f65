import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore, migratedBy, isCorruption, DatabaseNewerError, MIGRATED_BY_KEY } from '../src/store/database.js';
import { writeNewerDatabase } from './store-fixture.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { StationStore } from '../src/store/station-store.js';
import { Outbox, OUTBOX_DEFAULTS } from '../src/sync/outbox.js';
import { ScheduleDocumentSchema } from '../src/domain/schemas.js';
import { SOFTWARE_VERSION } from '../src/version.js';
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

t.test('only a real corruption sets the database aside', async (t) => {
  t.test('a damaged page (quick_check fails, or SQLite says corrupt)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
    const path = join(dir, 'loa.db');
    const first = openStore(path, silentLogger());
    const insert = first.db.prepare('INSERT INTO outbox (id, kind, payload, created_ms) VALUES (?, ?, ?, ?)');
    first.db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`id-${i}`, 'event', 'x'.repeat(200), i);
    })();
    first.db.pragma('wal_checkpoint(TRUNCATE)');
    first.db.close();
    const bytes = readFileSync(path);
    const pageSize = 4096;
    // Scribble over pages in the middle of the file (the outbox's b-tree), keeping the header valid.
    bytes.fill(0x5a, pageSize * 5, pageSize * 12);
    writeFileSync(path, bytes);
    const { db, rebuiltFrom } = openStore(path, silentLogger(), () => 99);
    t.equal(rebuiltFrom, `${path}.corrupt-99`);
    t.equal((db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n, 0, 'rebuilt empty');
    db.close();
  });

  t.test('a locked, unreadable or misplaced file is an error, and is left where it is', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
    const path = join(dir, 'loa.db');
    mkdirSync(path); // a folder where the database should be
    t.throws(() => openStore(path, silentLogger()), /unable to open|directory/i);
    t.same(readdirSync(dir), ['loa.db'], 'nothing renamed, nothing rebuilt');

    const other = join(dir, 'other.db');
    const held = openStore(other, silentLogger()).db;
    held.pragma('locking_mode = EXCLUSIVE');
    held.exec('BEGIN EXCLUSIVE');
    const busy = (() => {
      try {
        openStore(other, silentLogger());
        return null;
      } catch (err) {
        return err as { code?: string };
      }
    })();
    t.match(busy?.code, /^SQLITE_BUSY/, 'a database held by another process is busy, not corrupt');
    t.notOk(isCorruption(busy));
    held.exec('ROLLBACK');
    held.close();
    t.notOk(readdirSync(dir).some((f) => f.includes('corrupt')), 'nothing set aside');
  });
});

t.test('a database written by a newer loa refuses to open, names the version, and is left byte for byte', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const path = join(dir, 'loa.db');
  writeNewerDatabase(path, '9.8.7');
  const before = readFileSync(path);
  const err = (() => {
    try {
      openStore(path, silentLogger());
      return null;
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof DatabaseNewerError, String(err));
  const e = err as DatabaseNewerError;
  t.equal(e.schema, MIGRATIONS.length + 1);
  t.equal(e.writtenBy, '9.8.7');
  t.match(e.message, /written by loa 9\.8\.7/);
  t.match(e.message, new RegExp(`this is loa ${SOFTWARE_VERSION.replace(/\./g, '\\.')} \\(schema ${MIGRATIONS.length}\\)`));
  t.match(e.message, /do loa 9\.8\.7 ghi/, 'and in Vietnamese');
  t.ok(readFileSync(path).equals(before), 'the database is unchanged');
  t.same(readdirSync(dir).sort(), ['loa.db'], 'no copy set aside, nothing rebuilt');
});

t.test('every released schema migrates to the latest with its data kept', async (t) => {
  for (let from = 0; from < MIGRATIONS.length; from++) {
    t.test(`from schema ${from}`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'loa-migrate-'));
      const path = join(dir, 'loa.db');
      const old = new Database(path);
      for (let v = 0; v < from; v++) old.exec(MIGRATIONS[v]!);
      old.pragma(`user_version = ${from}`);
      const filled = fillEveryTable(old);
      old.close();

      const { db, rebuiltFrom } = openStore(path, silentLogger());
      t.equal(rebuiltFrom, undefined);
      t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      for (const [table, rows] of filled) {
        const cols = Object.keys(rows[0]!);
        const now = (db.prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM "${table}" ORDER BY 1`).all() as Array<Record<string, unknown>>)
          .filter((r) => !(table === 'meta' && r.key === MIGRATED_BY_KEY));
        t.same(now, rows, `${table}: every row and value survived`);
      }
      t.equal(migratedBy(db), SOFTWARE_VERSION, 'the version that migrated is recorded');
      db.close();
    });
  }
});

/** Two rows in every table, each column a value of its declared type (texts 64 characters, for the checks on hashes). */
function fillEveryTable(db: Database.Database): Map<string, Array<Record<string, unknown>>> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>;
  const out = new Map<string, Array<Record<string, unknown>>>();
  for (const { name } of tables) {
    const cols = db.pragma(`table_info("${name}")`) as Array<{ name: string; type: string }>;
    const rows: Array<Record<string, unknown>> = [];
    for (let i = 1; i <= 2; i++) {
      const row: Record<string, unknown> = {};
      for (const c of cols) {
        const type = c.type.toUpperCase();
        row[c.name] = type.includes('INT') ? i * 1000 + c.name.length : type.includes('REAL') ? i + 0.25 : `${name}.${c.name}.${i}`.padEnd(64, '-');
      }
      db.prepare(`INSERT INTO "${name}" (${cols.map((c) => `"${c.name}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => row[c.name]));
      rows.push(row);
    }
    out.set(name, rows);
  }
  return out;
}

t.test("an item's play-log row and the resume point it implies are one transaction", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const { db } = openStore(join(dir, 'loa.db'), silentLogger());
  const store = new StationStore(db, new Outbox(db, OUTBOX_DEFAULTS), 'st');
  const occurrence = { id: 'news@2026-12-02T06:00:00', programmeId: 'news', startMs: 1000 };
  const row = { source: 'schedule' as const, programmeId: 'news', occurrenceId: occurrence.id, content: 'a'.repeat(64), priority: 0, zones: ['north'], volume: 80, result: 'played' as const, clock: 'ntp' };
  store.logItem(row, { resume: { item: 1, offsetMs: 0 }, occurrence }, 2000);
  t.same(store.unfinished().occurrences, [{ ...occurrence, resume: { item: 1, offsetMs: 0 }, updatedMs: 2000 }]);
  t.equal(store.recentPlays(10).length, 1);

  // The resume point cannot be written (as if the power went): the row must not stay either.
  db.exec("CREATE TEMP TRIGGER cut BEFORE UPDATE ON occurrence BEGIN SELECT RAISE(ABORT, 'power cut'); END");
  t.throws(() => store.logItem(row, { resume: { item: 2, offsetMs: 0 }, occurrence }, 3000), /power cut/);
  t.equal(store.recentPlays(10).length, 1, 'no row for an item whose resume point was not saved');
  t.equal((db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n, 1, 'nor its copy for the province');
  t.same(store.unfinished().occurrences[0]!.resume, { item: 1, offsetMs: 0 });
  db.close();
});

t.test('a schedule imported under an untrusted clock counts from the first trusted time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const { db } = openStore(join(dir, 'loa.db'), silentLogger());
  const store = new StationStore(db, new Outbox(db, OUTBOX_DEFAULTS), 'st');
  const programme = { id: 'news', name: 'News', recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: 'a'.repeat(64) }], zones: ['north'] };
  const doc = ScheduleDocumentSchema.parse({ programmes: [programme] });
  store.replaceSchedule(doc, null);
  t.equal(store.loadProgrammes().programmes[0]!.knownSinceMs, Number.POSITIVE_INFINITY, 'undated: none of its occurrences count yet');
  store.replaceSchedule(doc, null);
  t.equal(store.dateUndatedSchedule(5000), 1);
  t.equal(store.loadProgrammes().programmes[0]!.knownSinceMs, 5000);
  t.equal(store.dateUndatedSchedule(9000), 0, 'dated once');
  store.replaceSchedule(doc, 7000);
  t.equal(store.loadProgrammes().programmes[0]!.knownSinceMs, 5000, 'an unchanged programme keeps its date');
  store.replaceSchedule(ScheduleDocumentSchema.parse({ programmes: [{ ...programme, name: 'News 2' }] }), 8000);
  t.equal(store.loadProgrammes().programmes[0]!.knownSinceMs, 8000, 'a changed one is dated by the trusted time given');
  db.close();
});

t.test('loa log keeps the name a programme had when it played, after the schedule is replaced or renamed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-store-'));
  const { db } = openStore(join(dir, 'loa.db'), silentLogger());
  const store = new StationStore(db, new Outbox(db, OUTBOX_DEFAULTS), 'st');
  const programme = { id: 'news', name: 'Bản tin sáng', recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: 'a'.repeat(64) }], zones: ['north'] };
  store.replaceSchedule(ScheduleDocumentSchema.parse({ programmes: [programme] }), 1000);
  const row = { source: 'schedule' as const, programmeId: 'news', content: 'a'.repeat(64), priority: 0, zones: ['north'], volume: 80, result: 'played' as const, clock: 'ntp' };
  store.logPlays([row], 2000);
  store.replaceSchedule(ScheduleDocumentSchema.parse({ programmes: [{ ...programme, name: 'Bản tin chiều' }] }), 3000);
  store.logPlays([row], 4000);
  store.replaceSchedule(ScheduleDocumentSchema.parse({ programmes: [] }), 5000);
  t.same(store.recentPlays(10).map((r) => r.programmeName), ['Bản tin sáng', 'Bản tin chiều'], 'each row with the name it played under, the programme gone');
  db.close();
});
