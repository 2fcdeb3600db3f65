import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig, formatFinding } from '../src/config/check.js';
import type { Config } from '../src/config/schema.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { parseConfig, ConfigError } from '../src/config/load.js';
import { levenshtein, nearestKey } from '../src/lib/strict.js';
import { ScheduleDocumentSchema, describeIssues } from '../src/domain/schemas.js';
import { assembleTarget, sha256Hex } from '../src/sync/target.js';
import type { TargetHead } from '../src/sync/protocol.js';

const problems = (raw: unknown): string[] => {
  try {
    parseConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

t.test('a minimal configuration is complete with defaults', async (t) => {
  const c = parseConfig({ station: { id: 'lc-01' } });
  t.equal(c.station.timezone, 'Asia/Ho_Chi_Minh');
  t.equal(c.station.locale, 'vi');
  t.equal(c.audio.loudness.targetLufs, -23);
  t.equal(c.relays.driver, 'sim');
  t.equal(c.sync, undefined, 'a station without sync runs alone');
});

t.test('every problem is reported at once, each naming the field and the fix', async (t) => {
  const p = problems({
    station: { id: 'bad id!', timezone: 'Asia/Nowhere' },
    relays: {
      amplifiers: [{ name: 'amp', line: 17, warmupMs: 9000 }],
      zones: [{ name: 'z', line: 17, amplifier: 'other' }],
    },
    audio: { sink: { kind: 'speaker' } },
  });
  t.match(p.join('\n'), /station\.id: use letters/);
  t.match(p.join('\n'), /relays\.amplifiers\.0\.warmupMs/);
  t.match(p.join('\n'), /audio\.sink/);
  t.ok(p.length >= 3, `${p.length} problems in one pass`);
  t.match(problems({ station: { id: 'x' }, relays: { zones: [{ name: 'z', line: 22, amplifier: 'nope' }] } }).join(), /relays\.zones\.0\.amplifier: no amplifier named "nope"/);
  t.match(problems({ station: { id: 'x' }, relays: { amplifiers: [{ name: 'a', line: 5 }], zones: [{ name: 'z', line: 5, amplifier: 'a' }] } }).join(), /line 5 is used by both/);
  t.match(problems({ station: { id: 'x', timezone: 'Asia/Nowhere' } }).join(), /station\.timezone: unknown time zone/);
  t.match(problems({ station: { id: 'x' }, relays: { driver: 'bridge' } }).join(), /relays\.driver: driver "bridge" needs a "bridge" section/);
});

t.test('what the configuration points at is checked: files, folders, keys, certificates', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-config-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pem = (name: string, ...args: string[]): string => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), ...args], { stdio: 'ignore' });
    return join(dir, name);
  };
  const ca = pem('ca');
  const client = pem('client');
  const stateFile = join(dir, 'state-file');
  writeFileSync(stateFile, 'not a folder');
  writeFileSync(join(dir, 'not-a-cert.pem'), 'hello');
  const province = generateProvinceKeys().publicPem;
  const base = (extra: Record<string, unknown>, sync: Record<string, unknown> = {}): Config =>
    parseConfig({
      station: { id: 'x' },
      paths: { state: join(dir, 'state'), socket: join(dir, 'run', 'loa.sock') },
      audio: { sink: { kind: 'file', path: join(dir, 'out.raw') } },
      sync: { brokers: ['mqtts://province.example:8883'], provinceKeys: [province], tls: { caFile: `${ca}.crt`, certFile: `${client}.crt`, keyFile: `${client}.key` }, ...sync },
      ...extra,
    });
  t.same(checkConfig(base({})), [], 'a good configuration (real certificates, a state folder yet to be made) has no findings');

  const fields = (c: Config): string[] => checkConfig(c).map((f) => formatFinding(f));
  t.match(fields(base({}, { tls: { caFile: dir } })), [/^sync\.tls\.caFile: .* is a folder; point sync\.tls\.caFile at a file user loa may read$/]);
  t.match(fields(base({}, { tls: { caFile: join(dir, 'not-a-cert.pem') } })), [/^sync\.tls\.caFile: no PEM certificate/]);
  t.match(fields(base({}, { provinceKeys: [province, 'bm90IGEga2V5'] })), [/^sync\.provinceKeys\.1: not an Ed25519 public key: province key is 9 bytes/]);
  t.match(fields(base({}, { provinceKeys: ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'] })), [/^sync\.provinceKeys\.0: not an Ed25519 public key/]);
  t.match(fields(base({}, { passwordFile: join(dir, 'nope') })), [/^sync\.passwordFile: .*nope does not exist/]);
  t.match(fields(base({}, { tls: { certFile: `${client}.crt`, keyFile: `${ca}.key` } })), [/^sync\.tls\.keyFile: the key does not belong to the certificate/]);
  t.match(fields(base({}, { tls: { certFile: `${client}.crt` } })), [/^sync\.tls\.keyFile: a client certificate needs both/]);
  t.match(fields(base({}, { tls: { certFile: `${client}.key`, keyFile: `${client}.key` } })), [/^sync\.tls\.certFile: not a certificate/]);
  t.match(fields(base({ audio: { sink: { kind: 'file', path: join(dir, 'no-such-folder', 'out.raw') } } })), [/^audio\.sink\.path: folder .*no-such-folder does not exist/]);
  t.match(fields(base({ audio: { sink: { kind: 'file', path: dir } } })), [/^audio\.sink\.path: .* is a folder/]);
  t.match(fields(base({ paths: { state: stateFile, socket: join(dir, 'loa.sock') } })), [/^paths\.state: .*state-file is a file, not a folder/]);
  t.match(fields(base({ paths: { state: join(stateFile, 'sub'), socket: join(dir, 'loa.sock') } })), [/^paths\.state: .* cannot be created: .*state-file is a file/]);
  t.match(fields(base({ paths: { state: join(dir, 'state'), socket: dir } })), [/^paths\.socket: .* is a folder/]);
  t.match(fields(base({ paths: { state: join(dir, 'state'), socket: join(stateFile, 'loa.sock') } })), [/^paths\.socket: .*state-file is a file, not a folder; put the socket in a folder/]);
  t.match(fields(base({ bridge: { path: 'ttyACM0' } })), [/^bridge\.path: ttyACM0 is not an absolute path/]);
  t.match(fields(base({ bridge: { path: stateFile } })), [/^bridge\.path: .* is not a serial device/]);
  t.same(fields(base({ bridge: { path: join(dir, 'unplugged') } })), [], 'a microcontroller unplugged at boot is not a configuration mistake');
  t.match(fields(base({ paths: { state: join(dir, 'state'), socket: join(dir, 'x'.repeat(120), 'loa.sock') } })), [/^paths\.socket: .* is longer than the 107 bytes/]);
  writeFileSync(join(dir, 'empty-password'), '\n');
  t.match(fields(base({}, { passwordFile: join(dir, 'empty-password') })), [/^sync\.passwordFile: .*empty-password is empty/]);
  const all = checkConfig(base({ paths: { state: stateFile, socket: join(dir, 'loa.sock') } }, { tls: { caFile: dir }, provinceKeys: ['x'] }));
  t.same(all.map((f) => f.field), ['paths.state', 'sync.tls.caFile', 'sync.provinceKeys.0'], 'every finding at once');
  t.ok(all.every((f) => f.problem.vi && f.fix.vi && f.problem.vi !== f.problem.en), 'each in Vietnamese too');
});

t.test('a nearest known key is suggested only when it is a plausible typo', async (t) => {
  const cases: Array<[string, string[], string | undefined]> = [
    ['weekday', ['kind', 'time', 'weekdays', 'validFrom', 'validTo'], 'weekdays'],
    ['Weekdays', ['weekdays'], 'weekdays'],
    ['provinceKey', ['brokers', 'provinceKeys', 'groups'], 'provinceKeys'],
    ['cafile', ['caFile', 'certFile', 'keyFile'], 'caFile'],
    ['sinc', ['sink', 'loudness', 'fadeMs'], 'sink'],
    ['id', ['to'], undefined],
    ['colour', ['kind', 'time'], undefined],
  ];
  for (const [key, known, expected] of cases) t.equal(nearestKey(key, known), expected, `${key} -> ${expected ?? 'nothing'}`);
  t.equal(levenshtein('weekday', 'weekdays'), 1);
  t.equal(levenshtein('', 'abc'), 3);
  t.equal(levenshtein('kitten', 'sitting'), 3);
});

t.test('a misspelled configuration key is refused, with the nearest known key, in English and Vietnamese', async (t) => {
  const p = problems({ station: { id: 'x' }, audio: { sinc: { kind: 'null' } }, schedule: { graceMS: 1000 } }).join('\n');
  t.match(p, /audio: unknown key "sinc": did you mean "sink"\? \(khóa lạ "sinc": có phải "sink"\?\)/);
  t.match(p, /schedule: unknown key "graceMS": did you mean "graceMs"\?/);
  t.match(problems({ station: { id: 'x', colour: 'red' } }).join(), /station: unknown key "colour"; known keys: id, name, timezone, locale/);
  t.match(problems({ station: { id: 'x' }, bridge: { path: '/dev/ttyACM0', baudrate: 9600 } }).join(), /bridge: unknown key "baudrate": did you mean "baudRate"\?/);
  t.match(problems({ station: { id: 'x' }, audio: { sink: { kind: 'file', path: '/tmp/x', device: 'hw:0' } } }).join(), /audio\.sink: unknown key "device"/, 'inside a union too');
  t.match(problems({ station: { id: 'x' }, statoin: {} }).join(), /\(document\): unknown key "statoin": did you mean "station"\?/);
});

t.test('a misspelled programme key is refused: "weekday" never plays every day', async (t) => {
  const programme = {
    id: 'morning', name: 'Morning', items: [{ content: 'a'.repeat(64) }], zones: ['north'],
    recurrence: { kind: 'daily', time: '06:00', weekday: [1] },
  };
  const r = ScheduleDocumentSchema.safeParse({ programmes: [programme] });
  t.notOk(r.success);
  t.match(describeIssues(r.error!).join('\n'), /programmes\.0\.recurrence: unknown key "weekday": did you mean "weekdays"\?/);
  const item = ScheduleDocumentSchema.safeParse({ programmes: [{ ...programme, recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: 'a'.repeat(64), repaet: 2 }] }] });
  t.match(describeIssues(item.error!).join('\n'), /programmes\.0\.items\.0: unknown key "repaet": did you mean "repeat"\?/);
  t.ok(ScheduleDocumentSchema.safeParse({ programmes: [{ ...programme, recurrence: { kind: 'daily', time: '06:00', weekdays: [1] } }] }).success, 'the right key still parses');
});

t.test('a target part or board playlist from a newer province with an unknown key is refused whole, the key named', async (t) => {
  const part = (body: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ version: 3, ...body }));
  const settings = part({ kind: 'settings', settings: { volume: 80, nightVolume: 40 } });
  const board = part({ kind: 'board', board: { defaultPlaylist: { id: 'main', items: [{ kind: 'clock', id: 'c', durationS: 10, colour: 'red' }] } } });
  const head = (names: string[], bodies: Buffer[]): TargetHead => ({
    type: 'target', station: 'st', version: 3, issuedMs: 1, parts: names.map((name, i) => ({ name, sha256: sha256Hex(bodies[i]!), bytes: bodies[i]!.length })),
  });
  const r = assembleTarget(head(['settings', 'board'], [settings, board]), new Map([['settings', settings], ['board', board]]), ['north']);
  t.equal(r.state, 'invalid', 'nothing of the target is applied');
  const errors = r.state === 'invalid' ? r.errors.join('\n') : '';
  t.match(errors, /part settings: settings: unknown key "nightVolume"/);
  t.match(errors, /part board: board\.defaultPlaylist\.items\.0: unknown key "colour"/);
});

t.test('a broker URL that does not parse is refused by the schema', async (t) => {
  t.match(problems({ station: { id: 'x' }, sync: { brokers: ['mqtts://[::1:8883'], provinceKeys: ['k'] } }).join(), /sync\.brokers\.0: not a valid URL/);
});

t.test('unknown keys alone leave a configuration safe-off can still use; any other problem does not', async (t) => {
  const typo = (raw: unknown): ConfigError => {
    try {
      parseConfig(raw);
    } catch (err) {
      if (err instanceof ConfigError) return err;
    }
    throw new Error('not refused');
  };
  const lenient = typo({ station: { id: 'x' }, relays: { zones: [{ name: 'north', line: 22, amplifier: 'amp', volum: 3 }], tailMS: 5 } }).withoutUnknownKeys;
  t.same(lenient?.relays.zones.map((z) => [z.name, z.line, z.volume]), [['north', 22, 100]]);
  t.equal(typo({ station: { id: 'x' }, relays: { tailMS: 5, zoneLeadMs: -1 } }).withoutUnknownKeys, null);
});
