/**
 * Rollbacks: a crash-looping release switched back by the boot check (run
 * before each start, as systemd's ExecStartPre does, with the real release
 * scripts as ExecStart), the database brought back to the older schema with
 * the rows written meanwhile, and a release that runs but is unhealthy
 * switching back by itself.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { installRoot, releaseKeys, updateEvents } from './update-fixture.js';
import { startStation } from './station-fixture.js';
import { until } from './daemon-fixture.js';
import { bootCheck } from '../src/update/boot-check.js';
import { pointLink, readMarker, releaseDir, writeMarker } from '../src/update/releases.js';
import { backupDatabase } from '../src/update/database-rollback.js';
import { prepareUpdateAtStart } from '../src/update/updater.js';
import { migrate, databasePath } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { silentLogger } from '../src/lib/logger.js';
import { freePort } from './chromium-fixture.js';

const NODE_MODULES = join(import.meta.dirname, '..', '..', 'node_modules');

t.test('a crash-looping release is switched back by the boot check; the database comes back with the rows written meanwhile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-rollback-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  const root = await installRoot('0.1.0');
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ station: { id: 'rb' }, paths: { state }, update: { root, maxStarts: 3 } }));

  // The station's database before the switch, with one proof-of-play row.
  const db = new Database(databasePath(state));
  db.pragma('journal_mode = WAL');
  migrate(db);
  const row = (id: string): unknown[] => [id, 'schedule', 0, '["north"]', 80, 'played', 'ntp'];
  db.prepare('INSERT INTO play_log (id, source, priority, zones, volume, result, clock) VALUES (?, ?, ?, ?, ?, ?, ?)').run(...row('before-switch'));
  const backup = join(state, 'update', 'loa-before-0.2.0.db');
  mkdirSync(join(state, 'update'));
  await backupDatabase(db, backup);
  db.close();

  // 0.2.0 migrates the schema, writes a proof-of-play row, then dies at every start.
  const rel = releaseDir(root, '0.2.0');
  mkdirSync(join(rel, 'bin'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), JSON.stringify({ name: 'loa', version: '0.2.0', type: 'commonjs' }));
  writeFileSync(join(rel, 'bin', 'loa-agent.js'), `
const Database = require('better-sqlite3');
const db = new Database(${JSON.stringify(databasePath(state))});
if (db.pragma('user_version', { simple: true }) === ${MIGRATIONS.length}) {
  db.exec("ALTER TABLE play_log ADD COLUMN newer_column TEXT; CREATE TABLE newer_only (x); PRAGMA user_version = ${MIGRATIONS.length + 1}");
}
db.prepare("INSERT INTO play_log (id, source, priority, zones, volume, result, clock, newer_column) VALUES (?, 'schedule', 0, '[\\"north\\"]', 80, 'played', 'ntp', 'x')").run('after-switch-' + Date.now() + Math.random());
db.close();
process.stdout.write('release 0.2.0\\n');
throw new Error('0.2.0 cannot start');
`);
  await writeMarker(state, { state: 'trial', from: '0.1.0', to: '0.2.0', switchedMs: Date.now(), starts: 0, backup, schemaBefore: MIGRATIONS.length, playLogSeq: 1, failed: [] });
  await pointLink(root, 'previous', '0.1.0');
  await pointLink(root, 'current', '0.2.0');

  // What systemd does: ExecStartPre (the boot check), ExecStart (/opt/loa/current/bin/loa-agent.js), restart on failure.
  const ran: Array<{ release: string; code: number | null }> = [];
  const said: string[] = [];
  for (let start = 0; start < 6; start++) {
    await bootCheck(configPath, (l) => said.push(l));
    const r = spawnSync(process.execPath, [join(root, 'current', 'bin', 'loa-agent.js')], { env: { ...process.env, NODE_PATH: NODE_MODULES, NODE_OPTIONS: '' }, encoding: 'utf8' });
    ran.push({ release: r.stdout.trim(), code: r.status });
    if (r.status === 0) break;
  }
  t.same(ran.map((r) => r.release), ['release 0.2.0', 'release 0.2.0', 'release 0.2.0', 'release 0.1.0'], 'three starts of 0.2.0, then 0.1.0');
  t.same(ran.map((r) => r.code), [1, 1, 1, 0]);
  t.match(said.at(-1), /started 3 times without committing \(crash loop\): switched back to 0.1.0/);
  t.equal(readlinkSync(join(root, 'current')), 'releases/0.1.0');
  t.match(readMarker(state), { state: 'rolling-back', failed: ['0.2.0'] });

  // 0.1.0 starts: before opening the database it restores it, carrying the newer rows.
  const outcome = await prepareUpdateAtStart(state, silentLogger(), '0.1.0');
  t.equal(outcome?.restored, true);
  const after = new Database(databasePath(state), { readonly: true });
  t.equal(after.pragma('user_version', { simple: true }), MIGRATIONS.length, 'the older schema again');
  const ids = (after.prepare('SELECT id FROM play_log ORDER BY seq').all() as Array<{ id: string }>).map((r) => r.id);
  t.equal(ids[0], 'before-switch');
  t.equal(ids.filter((id) => id.startsWith('after-switch-')).length, 3, 'the three rows 0.2.0 wrote are kept');
  t.notOk(after.prepare("SELECT 1 FROM sqlite_master WHERE name = 'newer_only'").get(), 'what only the newer schema has is gone');
  after.close();
  t.ok(existsSync(`${databasePath(state)}.newer-0.2.0`), 'the newer database kept aside');
  t.match(readMarker(state), { state: 'rolled-back', reported: false });

  // The real agent of 0.1.0 opens the restored database and tells the province.
  const s = await startStation({ paths: { state, socket: join(dir, 'loa.sock') }, update: { root } }, dir);
  t.teardown(() => s.stop());
  const told = updateEvents(s.agent.store.db).find((e) => e.event === 'update.rolled-back');
  t.match(told, { data: { version: '0.2.0', from: '0.1.0' } });
  t.match(told?.message, /crash loop/);
  t.equal(s.agent.store.recentPlays(10).length, 4, 'all proof of play is in the log');
  t.match(readMarker(state), { state: 'rolled-back', reported: true });
});

t.test('a release that runs but never gets its link up rolls itself back', async (t) => {
  const root = await installRoot('0.0.9');
  const dir = mkdtempSync(join(tmpdir(), 'loa-trial-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  // This agent (0.1.0, the checkout) is the new release on trial, switched from 0.0.9.
  mkdirSync(join(releaseDir(root, '0.1.0'), 'bin'), { recursive: true });
  await pointLink(root, 'current', '0.1.0');
  await writeMarker(state, { state: 'trial', from: '0.0.9', to: '0.1.0', switchedMs: Date.now(), starts: 1, backup: null, schemaBefore: MIGRATIONS.length, playLogSeq: 0, failed: [] });
  let restarts = 0;
  const s = await startStation({
    paths: { state, socket: join(dir, 'loa.sock') },
    update: { root, releaseKey: releaseKeys.publicPem, commitAfterS: 1, trialMaxS: 3, checkEveryS: 1 },
    // Nothing listens there: the province link never comes up.
    sync: { brokers: [`mqtt://127.0.0.1:${await freePort()}`], provinceKeys: [releaseKeys.publicPem], reconnect: { initialMs: 200, maxMs: 1000, connectTimeoutMs: 1000 } },
  }, dir, { onRestartRequested: () => restarts++ });
  t.teardown(() => s.stop());
  t.equal(s.agent.updater.status().state, 'trial');
  await until('the rollback', () => (restarts > 0 ? true : undefined), 30_000);
  t.equal(readlinkSync(join(root, 'current')), 'releases/0.0.9', 'switched back to the release it came from');
  t.match(readMarker(state), { state: 'rolling-back', failed: ['0.1.0'] });
  t.match(readMarker(state)?.reason, /link has not come up within 3 s/);
  const e = updateEvents(s.agent.store.db).find((x) => x.event === 'update.rolling-back');
  t.match(e, { data: { version: '0.1.0', from: '0.0.9' } });
});

t.test('a healthy release commits after its window, drops the backup and keeps the previous release', async (t) => {
  const root = await installRoot('0.0.9');
  await installRoot('0.0.8', root);
  const dir = mkdtempSync(join(tmpdir(), 'loa-commit-'));
  const state = join(dir, 'state');
  mkdirSync(join(state, 'update'), { recursive: true });
  const backup = join(state, 'update', 'loa-before-0.1.0.db');
  writeFileSync(backup, 'backup');
  mkdirSync(join(releaseDir(root, '0.1.0'), 'bin'), { recursive: true });
  await pointLink(root, 'previous', '0.0.9');
  await pointLink(root, 'current', '0.1.0');
  await writeMarker(state, { state: 'trial', from: '0.0.9', to: '0.1.0', switchedMs: Date.now(), starts: 1, backup, schemaBefore: MIGRATIONS.length, playLogSeq: 0, failed: [] });
  const s = await startStation({ paths: { state, socket: join(dir, 'loa.sock') }, update: { root, commitAfterS: 2, checkEveryS: 1 } }, dir);
  t.teardown(() => s.stop());
  // Told last: after the backup is gone and the releases pruned.
  await until('the commit, told', () => (readMarker(state)?.state === 'committed' && readMarker(state)?.reported ? true : undefined), 30_000);
  t.notOk(existsSync(backup), 'backup removed');
  t.ok(existsSync(releaseDir(root, '0.0.9')), 'previous release kept');
  t.notOk(existsSync(releaseDir(root, '0.0.8')), 'older releases pruned');
  t.match(updateEvents(s.agent.store.db).find((e) => e.event === 'update.committed'), { data: { version: '0.1.0', from: '0.0.9' } });
});
