import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEnrolment, runLoa, writeSkeleton } from './provision-fixture.js';
import { tempDir } from './sync-fixture.js';
import { parseConfig } from '../src/config/load.js';

// One-time tokens (sites with no board): against the reference province and its real Mosquitto.

t.test('tokens: a good one enrols without a code; an expired or unknown one is refused, naming why', async (t) => {
  const { service } = await startEnrolment(t);
  const expired = service.store.newToken({ station: 'xa-het-han' }, -1000);
  const dir1 = tempDir('provision-token-expired');
  const cfg1 = writeSkeleton(dir1);
  const r1 = runLoa('--config', cfg1, '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--token', expired.token, '--no-start');
  t.equal(await r1.done, 1);
  t.match(r1.err(), /the province refused: the token has expired/);
  t.match(JSON.parse(readFileSync(cfg1, 'utf8')), { station: { id: 'unprovisioned' } }, 'the skeleton is untouched');
  const r2 = runLoa('--config', cfg1, '--lang', 'vi', 'provision', '--province', service.url, '--ca', service.caFile, '--token', 'ABCDE-ABCDE-ABCDE-ABCDE', '--no-start');
  t.equal(await r2.done, 1);
  t.match(r2.err(), /tỉnh từ chối: the province knows no such token/);

  const good = service.store.newToken({ station: 'xa-usb', groups: ['province'] }, 3_600_000);
  const dir = tempDir('provision-token');
  const cfg = writeSkeleton(dir);
  const file = join(dir, 'loa-token.json');
  (await import('node:fs')).writeFileSync(file, JSON.stringify({ token: good.token.toLowerCase(), province: service.url, caFingerprint: service.caFingerprint }));
  const r3 = runLoa('--config', cfg, '--lang', 'en', 'provision', '--token-file', file, '--no-start');
  t.equal(await r3.done, 0, r3.err());
  t.notMatch(r3.out(), /enrolment code/, 'no code to read out');
  t.equal(parseConfig(JSON.parse(readFileSync(cfg, 'utf8'))).station.id, 'xa-usb');
  const again = runLoa('--config', writeSkeleton(tempDir('provision-token-2')), '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--token', good.token, '--no-start');
  t.equal(await again.done, 1, 'a token enrols one controller only');
  t.match(again.err(), /already used by another controller/);
});
