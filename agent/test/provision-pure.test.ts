import t from 'tap';
import { CROCKFORD, crockford, enrolmentCode, newToken, normaliseCode, tokenDigest } from '../src/provision/code.js';
import { buildProvisionedConfig } from '../src/provision/config-build.js';
import { parseConfig } from '../src/config/load.js';
import { codeBox, parseTokenFile } from '../src/cli/provision.js';
import { chainsTo, normaliseFingerprint } from '../src/provision/enrol-client.js';
import type { ProvisionBundle } from '../src/provision/protocol.js';

t.test('Crockford base32: 5 bits a symbol, most significant first', async (t) => {
  t.equal(crockford(Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00]), 8), '00000000');
  t.equal(crockford(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), 8), 'ZZZZZZZZ');
  // 0x08 = 00001 000: the first symbol is 1, the second starts with 000.
  t.equal(crockford(Buffer.from([0x08, 0x42, 0x10, 0x84, 0x21]), 8), '11111111');
  t.throws(() => crockford(Buffer.from([1, 2]), 4), /hold at most 3 symbols/);
  t.notOk(/[ILOU]/.test(CROCKFORD), 'no I, L, O or U');
});

t.test('the enrolment code: 8 symbols grouped 4-4, the same for the same key, different for another', async (t) => {
  const a = Buffer.alloc(32, 1);
  const b = Buffer.alloc(32, 2);
  t.match(enrolmentCode(a), /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
  t.equal(enrolmentCode(a), enrolmentCode(Buffer.from(a)));
  t.not(enrolmentCode(a), enrolmentCode(b));
});

t.test('typed codes: case, spaces and dashes ignored, O/I/L read as 0/1, nothing else guessed', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['4k7q-m2xa', '4K7Q-M2XA'],
    ['4K7Q M2XA', '4K7Q-M2XA'],
    ['4k7qm2xa', '4K7Q-M2XA'],
    ['OIL0-1111', '0110-1111'],
    ['4K7Q-M2X', null],
    ['4K7Q-M2XAA', null],
    ['4K7Q-M2XU', null],
    ['', null],
  ];
  for (const [typed, want] of cases) t.equal(normaliseCode(typed), want, JSON.stringify(typed));
});

t.test('tokens: 20 symbols in fives from 100 random bits; the digest ignores how it was typed', async (t) => {
  const tok = newToken(() => Buffer.alloc(13, 0xff));
  t.equal(tok, 'ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ');
  t.match(newToken(), /^([0-9A-HJKMNP-TV-Z]{5}-){3}[0-9A-HJKMNP-TV-Z]{5}$/);
  t.equal(tokenDigest('abcde-fghjk'), tokenDigest('ABCDEFGHJK'));
  t.not(tokenDigest('ABCDE'), tokenDigest('ABCDF'));
});

const bundle: ProvisionBundle = {
  stationId: 'xa-tan-lap',
  groups: ['province', 'huyen-a'],
  brokers: ['mqtts://province.example:8883'],
  username: 'xa-tan-lap',
  password: 'p'.repeat(32),
  caPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
  provinceKeys: ['AAAAC3NzaC1lZDI1NTE5AAAAIHN0YXRpb24ga2V5IGZvciB0ZXN0cw=='],
  releaseKey: Buffer.alloc(32, 7).toString('base64'),
  issuedMs: 1,
};
const files = { passwordFile: '/var/lib/loa/sync/password', caFile: '/var/lib/loa/sync/province-ca.pem' };

t.test('config from a blank controller: identity and link from the province, secrets by file, defaults for the rest', async (t) => {
  const c = buildProvisionedConfig(null, bundle, files, '/var/lib/loa');
  t.same(c, {
    station: { id: 'xa-tan-lap' },
    paths: { state: '/var/lib/loa' },
    sync: {
      brokers: ['mqtts://province.example:8883'],
      username: 'xa-tan-lap',
      passwordFile: '/var/lib/loa/sync/password',
      tls: { caFile: '/var/lib/loa/sync/province-ca.pem' },
      provinceKeys: bundle.provinceKeys,
      groups: ['province', 'huyen-a'],
    },
    update: { releaseKey: bundle.releaseKey },
  });
  t.notOk(JSON.stringify(c).includes(bundle.password), 'the password is not in the config');
  const parsed = parseConfig(c);
  t.equal(parsed.update?.releaseKey, bundle.releaseKey);
});

t.test('config over the installer skeleton: hardware kept, zones named by the province on the wired lines, link tuning kept', async (t) => {
  const skeleton = {
    station: { id: 'unprovisioned', locale: 'vi', timezone: 'Asia/Ho_Chi_Minh' },
    relays: { driver: 'gpiod', amplifiers: [{ name: 'amp', line: 17 }], zones: [{ name: 'zone-1', line: 22, amplifier: 'amp', volume: 80 }, { name: 'zone-2', line: 23, amplifier: 'amp' }] },
    audio: { sink: { kind: 'alsa', device: 'hw:1' } },
    board: { port: 8090 },
    sync: { brokers: ['mqtts://old:8883'], provinceKeys: ['old'], password: 'old-secret', keepaliveS: 30, groups: ['old'] },
  };
  const c = buildProvisionedConfig(skeleton, { ...bundle, name: 'Đài xã Tân Lập', zones: [{ name: 'thon-1', label: 'Thôn 1' }, { name: 'thon-2', line: 24 }] }, { ...files, certFile: '/c.crt', keyFile: '/c.key' }, '/data/loa');
  t.same(c.station, { id: 'xa-tan-lap', locale: 'vi', timezone: 'Asia/Ho_Chi_Minh', name: 'Đài xã Tân Lập' });
  t.same(c.audio, skeleton.audio);
  t.same(c.board, skeleton.board);
  t.same((c.relays as { zones: unknown }).zones, [
    { line: 22, amplifier: 'amp', volume: 80, name: 'thon-1', label: 'Thôn 1' },
    { line: 24, amplifier: 'amp', name: 'thon-2' },
  ]);
  const sync = c.sync as Record<string, unknown>;
  t.equal(sync.keepaliveS, 30, 'link tuning kept');
  t.notOk('password' in sync, 'the old inline password is gone');
  t.same(sync.tls, { caFile: files.caFile, certFile: '/c.crt', keyFile: '/c.key' });
  t.same(c.paths, { state: '/data/loa' });
  parseConfig(c);
});

t.test('a zone with no line anywhere is an error naming it', async (t) => {
  const skeleton = { station: { id: 'x' }, relays: { amplifiers: [{ name: 'amp', line: 17 }], zones: [{ name: 'zone-1', line: 22, amplifier: 'amp' }] } };
  t.throws(() => buildProvisionedConfig(skeleton, { ...bundle, zones: [{ name: 'a' }, { name: 'b' }] }, files, '/s'), /wires 1; no relay line for b/);
});

t.test('token files: a bare token, comments, or JSON with the province and fingerprint', async (t) => {
  t.same(parseTokenFile('ABCDE-FGHJK-MNPQR-STVWX\n'), { token: 'ABCDE-FGHJK-MNPQR-STVWX' });
  t.same(parseTokenFile('# from the province\n\nABCDE\n'), { token: 'ABCDE' });
  t.same(parseTokenFile('{"token":"T","province":"https://p:8443","caFingerprint":"AB"}'), { token: 'T', province: 'https://p:8443', caFingerprint: 'AB' });
  t.throws(() => parseTokenFile('# nothing\n'), /empty/);
  t.throws(() => parseTokenFile('{"province":"x"}'), /no "token"/);
});

t.test('the code box fits 80 columns and is centred', async (t) => {
  const lines = codeBox('4K7Q-M2XA').split('\n');
  t.equal(lines.length, 3);
  for (const l of lines) t.ok(l.length <= 80, l);
  t.equal(lines[1]!.trim(), '│   4K7Q-M2XA   │');
  t.equal(lines[1]!.length - lines[1]!.trimStart().length, 31);
});

t.test('fingerprints as typed: colons, spaces, case; anything else refused', async (t) => {
  const hex = 'ab'.repeat(32);
  t.equal(normaliseFingerprint(hex), 'AB:'.repeat(31) + 'AB');
  t.equal(normaliseFingerprint('AB:'.repeat(31) + 'AB'), 'AB:'.repeat(31) + 'AB');
  t.equal(normaliseFingerprint('ab'.repeat(31)), null);
  t.equal(normaliseFingerprint('zz'.repeat(32)), null);
  t.equal(chainsTo([], undefined as never, 'x'), 'the province sent no certificate');
});
