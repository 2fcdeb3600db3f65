import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig, formatFinding } from '../src/config/check.js';
import { parseConfig } from '../src/config/load.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { plaintextBrokers } from '../src/sync/transport-policy.js';
import { loa, loaJson, simStationConfig, startDaemon, stopDaemon } from './daemon-fixture.js';
import { freePort } from '../../province/src/mosquitto.js';

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// Plaintext mqtt:// and ws:// carry the station's password and every command
// in clear over 3G/4G. Refused unless the broker is on this machine or the
// explicit development setting says so, and then warned about loudly.

const province = generateProvinceKeys().publicPem;
const dir = mkdtempSync(join(tmpdir(), 'loa-tls-'));

t.test('the policy, as data', async (t) => {
  t.same(
    plaintextBrokers(['mqtts://p.example:8883', 'wss://p.example/mqtt', 'mqtt://p.example:18830', 'ws://10.0.0.5/mqtt', 'mqtt://127.0.0.1:18830', 'ws://localhost:9001', 'mqtt://[::1]:18830'], false),
    [
      { index: 2, url: 'mqtt://p.example:18830', verdict: 'refused' },
      { index: 3, url: 'ws://10.0.0.5/mqtt', verdict: 'refused' },
      { index: 4, url: 'mqtt://127.0.0.1:18830', verdict: 'loopback' },
      { index: 5, url: 'ws://localhost:9001', verdict: 'loopback' },
      { index: 6, url: 'mqtt://[::1]:18830', verdict: 'loopback' },
    ],
  );
  t.same(plaintextBrokers(['mqtt://p.example:18830'], true), [{ index: 0, url: 'mqtt://p.example:18830', verdict: 'allowed' }]);
  t.same(plaintextBrokers(['mqtt://127.0.0.1.evil.example:18830'], false).map((v) => v.verdict), ['refused'], 'a name that merely starts with 127. is not loopback');
});

t.test('config check: a remote plaintext broker is refused, naming the field and the setting', async (t) => {
  const config = (sync: Record<string, unknown>): ReturnType<typeof parseConfig> =>
    parseConfig({ station: { id: 'x' }, paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') }, audio: { sink: { kind: 'null' } }, sync: { provinceKeys: [province], ...sync } });
  const found = checkConfig(config({ brokers: ['mqtts://p.example:8883', 'mqtt://p.example:18830'] })).map((f) => formatFinding(f));
  t.same(found, [
    "sync.brokers.1: mqtt://p.example:18830 is plaintext: the station's password and every command would cross the network in clear; use mqtts:// (or wss://) with sync.tls.caFile; for a development rig only, set sync.allowInsecure: true",
  ]);
  t.match(checkConfig(config({ brokers: ['ws://p.example/mqtt'] })).map((f) => formatFinding(f, 'vi')), [/^sync\.brokers\.0: ws:\/\/p\.example\/mqtt không mã hóa/]);
  t.same(checkConfig(config({ brokers: ['mqtt://127.0.0.1:18830'] })), [], 'loopback: accepted (warned at run time)');
  t.same(checkConfig(config({ brokers: ['mqtt://p.example:18830'], allowInsecure: true })), [], 'the explicit development setting');
});

t.test('allowInsecure: the agent runs, and says so in loa status and loa doctor', async (t) => {
  const configPath = join(dir, 'insecure.json');
  // A TEST-NET address on a port nobody uses: nothing answers, the warning stands on its own.
  const broker = `mqtt://192.0.2.1:${await freePort()}`;
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'insecure', dir, sink: join(dir, 'out.raw') }, { sync: { brokers: [broker], provinceKeys: [province], allowInsecure: true } })));
  const d = await startDaemon(configPath);
  t.teardown(() => stopDaemon(d));
  const status = await loaJson<{ problems: string[] }>(configPath, 'status');
  t.match(status.problems, [new RegExp(`INSECURE: broker ${esc(broker)} is plaintext and sync\\.allowInsecure is true`)]);
  const doctor = await loa('--config', configPath, '--lang', 'en', 'doctor');
  t.match(doctor.out, new RegExp(`\\[WARN\\s*\\] sync\\s+INSECURE: broker ${esc(broker)} is plaintext`));
  t.match(d.stderr(), new RegExp(`INSECURE: broker ${esc(broker)}`), 'logged at start');
});
