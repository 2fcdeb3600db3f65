import t from 'tap';
import { readFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { startEnrolment, runLoa, writeSkeleton } from './provision-fixture.js';
import { tempDir, until } from './sync-fixture.js';
import { parseConfig } from '../src/config/load.js';

// Re-provisioning a controller, as balena's device registration does: the same key is
// recognised; a new key takes the station id over; the broker refuses the old passwords.

t.test('re-provisioning: the same key is recognised; a new key takes the station over; old passwords stop working', async (t) => {
  const { service } = await startEnrolment(t);
  const dir = tempDir('provision-again');
  const cfg = writeSkeleton(dir);
  const first = runLoa('--config', cfg, '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--no-start');
  const p = await until(() => service.store.pending()[0], 20_000, 'pending');
  service.approve(p.code, { station: 'xa-a' });
  t.equal(await first.done, 0, first.err());
  const c1 = parseConfig(JSON.parse(readFileSync(cfg, 'utf8')));
  const pw1 = readFileSync(c1.sync!.passwordFile!, 'utf8').trim();
  const ca = readFileSync(service.caFile);
  const login = (password: string) => connectAsync(service.broker.url, { username: 'xa-a', password, ca, reconnectPeriod: 0, connectTimeout: 3000 }).then((c) => c.endAsync(true));
  await login(pw1);

  // Same controller, config lost (reflashed SD, state kept): no operator needed.
  (await import('node:fs')).rmSync(cfg);
  const same = runLoa('--config', cfg, '--lang', 'en', '--state', c1.paths.state, 'provision', '--province', service.url, '--ca', service.caFile, '--no-start');
  t.equal(await same.done, 0, same.err());
  t.equal(service.store.pending().length, 0, 'never pending: the key is known');
  const c2 = parseConfig(JSON.parse(readFileSync(cfg, 'utf8')));
  t.equal(c2.station.id, 'xa-a');
  const pw2 = readFileSync(c2.sync!.passwordFile!, 'utf8').trim();
  t.not(pw2, pw1);
  await t.rejects(login(pw1), /not authorized|bad user name or password/i, 'the old password is revoked');
  await login(pw2);

  // A new controller (new key) for the same station: approved by the operator under the same id.
  const dir2 = tempDir('provision-new-key');
  const cfg2 = writeSkeleton(dir2);
  const fresh = runLoa('--config', cfg2, '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--no-start');
  const p2 = await until(() => service.store.pending()[0], 20_000, 'pending');
  t.not(p2.code, p.code, 'a new key shows a new code');
  service.approve(p2.code, { station: 'xa-a' });
  t.equal(await fresh.done, 0, fresh.err());
  const pw3 = readFileSync(parseConfig(JSON.parse(readFileSync(cfg2, 'utf8'))).sync!.passwordFile!, 'utf8').trim();
  await t.rejects(login(pw2), /not authorized|bad user name or password/i, "the replaced controller's password is revoked");
  await login(pw3);
  const old = runLoa('--config', cfg, '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--no-start');
  t.equal(await old.done, 1, 'the replaced key gets nothing more');
  t.match(old.err(), /another controller was enrolled as this station/);
});
