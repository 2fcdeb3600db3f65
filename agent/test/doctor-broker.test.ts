/**
 * `loa doctor` against a real Mosquitto (the project's config: TLS,
 * passwords, ACL) with the agent down: it connects as the station, with
 * the station's CA, user and password, and tells a good login, a wrong
 * password and a CA that does not match apart.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MosquittoBroker, makeCerts } from '../../province/src/mosquitto.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { loa, simStationConfig } from './daemon-fixture.js';
import { tempDir } from './sync-fixture.js';

interface Doc {
  checks: Array<{ code: string; status: string; text: { en: string }; action: { vi: string; en: string } }>;
}

t.test('broker reachable with TLS and credentials; a wrong password; a wrong CA', async (t) => {
  const dir = tempDir('doctor-broker');
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'mosq'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'doc-st', groups: [], password: 'pw-st' }] });
  t.teardown(() => broker.stop());
  process.env.LOA_SOCKET = join(dir, 'none.sock');
  t.teardown(() => delete process.env.LOA_SOCKET);
  const good = join(dir, 'good.pw');
  writeFileSync(good, 'pw-st\n', { mode: 0o600 });
  const bad = join(dir, 'bad.pw');
  writeFileSync(bad, 'not-the-password\n', { mode: 0o600 });
  const otherCa = (await makeCerts(join(dir, 'other'))).caFile;
  const doctor = async (name: string, sync: Record<string, unknown>): Promise<Doc['checks']> => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(simStationConfig({ id: 'doc-st', dir: join(dir, name), sink: join(dir, `${name}.raw`) }, { sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], ...sync } })));
    const r = await loa('--config', path, '--json', 'doctor');
    return (JSON.parse(r.out) as Doc).checks.filter((c) => c.code.startsWith('broker.') || c.code.startsWith('province-key.'));
  };

  const ok = await doctor('good', { passwordFile: good, tls: { caFile: broker.certs.caFile } });
  t.same(ok.map((c) => [c.code, c.status]), [['broker.ok', 'ok'], ['province-key.pinned', 'ok']]);
  t.match(ok[0]!.text.en, `${broker.url}: TLS and credentials accepted`);
  t.match(ok[1]!.text.en, /province key 0 pinned \(SHA-256 [0-9a-f]{16}\)/);

  const refused = await doctor('bad', { passwordFile: bad, tls: { caFile: broker.certs.caFile } });
  t.same(refused.map((c) => [c.code, c.status])[0], ['broker.auth', 'fail']);
  t.match(refused[0]!.action.en, /sync\.passwordFile/);

  const tls = await doctor('tls', { passwordFile: good, tls: { caFile: otherCa } });
  t.same(tls.map((c) => [c.code, c.status])[0], ['broker.tls', 'fail']);
  t.match(tls[0]!.action.en, /sync\.tls\.caFile/);

  const badKey = await doctor('key', { passwordFile: good, tls: { caFile: broker.certs.caFile }, provinceKeys: [readFileSync(broker.certs.caFile, 'utf8')] });
  t.equal(badKey.find((c) => c.code.startsWith('province-key.'))?.code, 'province-key.invalid', 'a certificate is no Ed25519 key');
});
