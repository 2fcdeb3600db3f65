/** The CLI's pure pieces as data: choosing the language, fitting 80 columns, the upload spool's bounds. */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseLocale, translatedReason, translator } from '../src/cli/messages.js';
import { columns, truncate, wrap } from '../src/cli/width.js';
import { UploadSpool } from '../src/daemon/upload-spool.js';
import { identifyCommand } from '../src/cli/identify.js';
import { main } from '../src/cli/main.js';
import { SOFTWARE_VERSION } from '../src/version.js';

t.test('the language: flag, LOA_LANG, LANGUAGE, LC_ALL, LC_MESSAGES, LANG, config, vi', async (t) => {
  const cases: Array<[Parameters<typeof chooseLocale>, 'vi' | 'en']> = [
    [['en', { LANG: 'vi_VN.UTF-8' }, 'vi'], 'en'],
    [[undefined, { LOA_LANG: 'vi', LANG: 'en_GB.UTF-8' }, 'en'], 'vi'],
    [[undefined, { LANGUAGE: 'vi:en', LANG: 'en_GB.UTF-8' }, 'en'], 'vi'],
    [[undefined, { LC_ALL: 'en_US.UTF-8', LANG: 'vi_VN.UTF-8' }, 'vi'], 'en'],
    [[undefined, { LC_MESSAGES: 'vi_VN', LANG: 'en_GB.UTF-8' }, 'en'], 'vi'],
    [[undefined, { LANG: 'de_DE.UTF-8' }, 'vi'], 'en'],
    [[undefined, { LANG: 'C.UTF-8' }, 'en'], 'en'],
    [[undefined, { LANG: 'POSIX' }, 'vi'], 'vi'],
    [[undefined, { LANG: 'C' }, undefined], 'vi'],
    [[undefined, {}, undefined], 'vi'],
  ];
  for (const [args, want] of cases) t.equal(chooseLocale(...args), want, JSON.stringify(args));
});

t.test("the agent's reasons by code, in the operator's language; a reason without one as the agent said it", async (t) => {
  const vi = translator('vi');
  const en = translator('en');
  const kind = { reason: 'it is an image, not audio', reasonCode: 'wrong-kind', is: 'image', expected: 'audio' };
  t.equal(translatedReason(kind, vi).reason, 'đây là ảnh, không phải âm thanh');
  t.equal(translatedReason(kind, en).reason, 'it is an image, not audio');
  t.equal(translatedReason({ reason: 'expired 2026-12-03T06:00:00.000Z', reasonCode: 'alert-expired' }, vi).reason, 'đã hết hạn');
  t.equal(translatedReason({ reason: 'something new', reasonCode: 'no-such-code' }, vi).reason, 'something new');
  t.equal(translatedReason({ reason: 'plain' }, vi).reason, 'plain');
});

t.test('loa --version answers with no config, agent or network', async (t) => {
  for (const argv of [['--version'], ['-V'], ['version'], ['--config', '/nonexistent', '--version']]) {
    let printed = '';
    const code = await main(argv, { stdout: { write: (x: string) => void (printed += x) }, stderr: { write: () => undefined } }, { LOA_SOCKET: '/nonexistent.sock' });
    t.equal(code, 0, argv.join(' '));
    t.equal(printed, `loa ${SOFTWARE_VERSION}\n`);
  }
  let printed = '';
  await main(['--json', '--version'], { stdout: { write: (x: string) => void (printed += x) }, stderr: { write: () => undefined } }, {});
  t.same(JSON.parse(printed), { version: SOFTWARE_VERSION });
});

t.test('80 columns: long lines wrap at spaces, hanging, nothing lost', async (t) => {
  const line = '  ' + 'Tác tử loa không trả lời trong 30 giây (lệnh có thể đã được thực hiện hoặc chưa). Kiểm tra: loa status; nhật ký: journalctl -u loa-agent';
  const out = wrap(line);
  t.ok(out.split('\n').every((l) => columns(l) <= 80), out);
  t.ok(out.split('\n').slice(1).every((l) => l.startsWith('    ')), 'continuations indented two more');
  t.equal(out.replace(/\n +/g, ' ').trim(), line.trim(), 'every word kept');
  t.equal(wrap('short\n  also short'), 'short\n  also short');
  const long = wrap('x'.repeat(200));
  t.same(long.split('\n').map(columns), [80, 80, 44], 'a word longer than a line is cut');
  t.equal(columns('Bản tin sáng'.normalize('NFD')), 12, 'tone marks take no column');
  t.equal(truncate('Bản tin sáng xã Tân Lập', 10), 'Bản tin s…');
  t.equal(truncate('ngắn', 10), 'ngắn');
});

t.test('loa identify on a controller with many addresses fits 80 columns, every address kept', async (t) => {
  const addresses = ['192.168.100.201 (eth0)', '10.164.23.118 (wwan0)', '192.168.1.47 (wlan0)', '172.17.0.1 (docker0)'];
  for (const locale of ['vi', 'en'] as const) {
    let printed = '';
    const code = await identifyCommand({
      rpc: async <T>() => ({ station: 'xa-tan-lap-02', name: 'Đài truyền thanh xã Tân Lập', addresses, durationMs: 30_000, board: { untilMs: 0 }, led: null, tone: { played: true, sink: 'hw:1' } }) as T,
      emit: () => undefined,
      out: { stdout: { write: (x: string) => void (printed += x) }, stderr: { write: () => undefined } },
      locale,
      json: false,
    });
    t.equal(code, 0);
    t.ok(printed.trimEnd().split('\n').every((l) => columns(l) <= 80), printed);
    for (const a of addresses) t.match(printed.replace(/\n +/g, ' '), a, `${locale}: ${a}`);
  }
});

t.test('the upload spool: in order, bounded, emptied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-spool-'));
  let now = 0;
  const spool = new UploadSpool(dir, { maxBytes: 10, maxOpen: 1, idleMs: 1000 }, () => now);
  await t.rejects(spool.begin({ size: 11, name: 'big.mp3' }), { code: 'upload-too-large', params: { max: 0 } });
  await t.rejects(spool.begin({ size: 0 }), { code: 'upload-empty' });
  const { upload } = await spool.begin({ size: 6, name: '../../etc/tin.mp3' });
  await t.rejects(spool.begin({ size: 1 }), { code: 'upload-busy' }, 'one at a time here');
  await spool.chunk({ upload, offset: 0, data: Buffer.from('abc').toString('base64') });
  await spool.chunk({ upload, offset: 3, data: Buffer.from('def').toString('base64') });
  const seen = await spool.take(upload, async (path, name) => ({ bytes: readFileSync(path, 'utf8'), name }));
  t.same(seen, { bytes: 'abcdef', name: '../../etc/tin.mp3' }, 'the name is only a label: the file lives in the spool');
  t.same(readdirSync(dir), [], 'deleted after use');

  const second = (await spool.begin({ size: 4 })).upload;
  await t.rejects(spool.chunk({ upload: second, offset: 2, data: Buffer.from('ab').toString('base64') }), { code: 'upload-broken' }, 'a gap is refused');
  await t.rejects(spool.take(second, async () => 1), { code: 'upload-unknown' }, 'and the upload dropped');
  const third = (await spool.begin({ size: 4 })).upload;
  await t.rejects(spool.take(third, async () => 1), { code: 'upload-broken' }, 'incomplete: refused');
  const idle = (await spool.begin({ size: 4 })).upload;
  now += 2000;
  await spool.sweep();
  await t.rejects(spool.chunk({ upload: idle, offset: 0, data: 'YQ==' }), { code: 'upload-unknown' }, 'idle uploads dropped');
  t.same(readdirSync(dir), []);
  await spool.close();
});
