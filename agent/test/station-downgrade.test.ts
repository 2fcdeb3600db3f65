/**
 * An older loa on a database written by a newer one (a downgrade): the real
 * daemon refuses to start with exit 78 (systemd does not loop on it), names
 * the version that wrote the database, and leaves it byte for byte;
 * `loa doctor` says the same.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databasePath } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SOFTWARE_VERSION } from '../src/version.js';
import { loa, spawnDaemon } from './daemon-fixture.js';
import { writeNewerDatabase } from './store-fixture.js';

t.test('an older binary on a newer database refuses, names the version, and leaves it intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-downgrade-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    station: { id: 'downgrade-test', locale: 'en' },
    paths: { state, socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }] },
    audio: { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    log: { level: 'warn' },
  }));
  const path = databasePath(state);
  writeNewerDatabase(path, '9.8.7');
  const before = readFileSync(path);

  const d = spawnDaemon(configPath);
  t.teardown(() => { d.child.kill('SIGKILL'); });
  t.equal(await d.exited, 78, 'EX_CONFIG: systemd does not restart it in a loop');
  t.match(d.stderr(), /written by loa 9\.8\.7/);
  t.match(d.stderr(), new RegExp(`this is loa ${SOFTWARE_VERSION.replace(/\./g, '\\.')} \\(schema ${MIGRATIONS.length}\\)`));
  t.match(d.stderr(), /do loa 9\.8\.7 ghi/, 'in Vietnamese too');
  t.ok(readFileSync(path).equals(before), 'the database is byte for byte as the newer loa left it');
  t.same(readdirSync(state).filter((f) => f.startsWith('loa.db')), ['loa.db'], 'nothing set aside, nothing rebuilt, no journal left');

  const doctor = await loa('--config', configPath, '--lang', 'en', 'doctor', '--json');
  t.equal(doctor.code, 1);
  const check = (JSON.parse(doctor.out) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks.find((c) => c.name === 'database');
  t.equal(check?.status, 'fail');
  t.match(check?.detail, /written by loa 9\.8\.7/);
  t.match(check?.fix, /install loa 9\.8\.7 again/);
  t.ok(readFileSync(path).equals(before), 'still intact after the doctor looked');
});
