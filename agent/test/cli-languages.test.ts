/**
 * The `loa` command as an operator meets it, against the real daemon: its
 * language (LANG, --lang), help for every command, errors named before
 * anything is sent, the agent's errors in the operator's language, --json
 * errors, 80 columns, the play log in words, and files the agent cannot
 * see sent as bytes and heard at the sink.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { COMMANDS } from '../src/cli/help.js';
import { columns } from '../src/cli/width.js';
import { makeTestTone } from '../src/audio/tones.js';
import { simStationConfig, startDaemon, stopDaemon, tonesHeard, until } from './daemon-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'loa-cli-lang-'));
const sink = join(dir, 'out.raw');
const configPath = join(dir, 'config.json');
const base = simStationConfig({ id: 'xa-tan-lap', dir, sink, locale: 'en' });
writeFileSync(configPath, JSON.stringify({ ...base, relays: { ...(base.relays as object), zones: [{ name: 'north', line: 22, amplifier: 'amp' }, { name: 'south', line: 23, amplifier: 'amp' }] } }));

/** `loa ARGS` in-process with exactly this environment (no LANG unless given). */
async function loa(env: Record<string, string>, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--config', configPath, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, env);
  return { code, out, err };
}
const VI = { LANG: 'vi_VN.UTF-8' };
const EN = { LANG: 'en_US.UTF-8' };

function widest(text: string): { width: number; line: string } {
  return text.split('\n').reduce((w, line) => (columns(line) > w.width ? { width: columns(line), line } : w), { width: 0, line: '' });
}

/** Every line of `r`'s stdout and stderr in 80 columns. */
function fits(t: Test, r: { out: string; err: string }, what: string): void {
  const w = widest(r.out + r.err);
  t.ok(w.width <= 80, `${what}: widest line ${w.width} columns${w.width > 80 ? `: ${w.line}` : ''}`);
}

// One station for every test below: each asserts what changed.
const daemon = await startDaemon(configPath);
t.teardown(async () => {
  await stopDaemon(daemon);
  rmSync(dir, { recursive: true, force: true });
});

t.test('help for every command, in both languages, in 80 columns', async (t) => {
  for (const env of [VI, EN]) {
    const all = await loa(env, 'help');
    t.equal(all.code, 0);
    fits(t, all, `loa help (${env.LANG})`);
    for (const cmd of Object.keys(COMMANDS)) {
      t.match(all.out, new RegExp(`^  loa ${cmd} `, 'm'), `loa help lists ${cmd}`);
      const a = await loa(env, 'help', cmd);
      const b = await loa(env, cmd, '--help');
      t.equal(a.code, 0);
      t.equal(b.code, 0);
      t.equal(a.out, b.out, `loa help ${cmd} = loa ${cmd} --help`);
      t.match(a.out, env === VI ? /^Cách dùng:\n  loa / : /^Usage:\n  loa /, `${cmd}: usage first`);
      fits(t, a, `loa help ${cmd} (${env.LANG})`);
    }
  }
  t.match((await loa(VI, 'help', 'play')).out, /--volume N +âm lượng 0-100/);
  t.match((await loa(EN, 'help', 'play')).out, /--volume N +volume 0-100/);
  const unknown = await loa(VI, 'help', 'phat');
  t.equal(unknown.code, 2);
  t.match(unknown.err, /Lệnh không rõ: phat/);
});

t.test('language: --lang, then LANGUAGE/LC_ALL/LANG, then the station config', async (t) => {
  t.match((await loa(VI, 'status')).out, /^Đài: xa-tan-lap/m, 'LANG=vi_VN.UTF-8 beats the config (en)');
  t.match((await loa(EN, 'status')).out, /^Station: xa-tan-lap/m);
  t.match((await loa({ LANG: 'en_US.UTF-8', LC_ALL: 'vi_VN.UTF-8' }, 'status')).out, /^Đài:/m, 'LC_ALL beats LANG');
  t.match((await loa({ LANG: 'vi_VN.UTF-8', LANGUAGE: 'en_GB:vi' }, 'status')).out, /^Station:/m, 'LANGUAGE beats both');
  t.match((await loa({ LANG: 'C.UTF-8' }, 'status')).out, /^Station:/m, 'C chooses nothing: the station config (en)');
  t.match((await loa({}, 'status')).out, /^Station:/m, 'no locale: the station config');
  t.match((await loa(EN, '--lang', 'vi', 'status')).out, /^Đài:/m, '--lang beats the environment');
  t.match((await loa({ ...EN, LOA_LANG: 'vi' }, 'status')).out, /^Đài:/m, 'LOA_LANG beats the locale');

  for (const env of [VI, EN]) {
    const bogus = await loa(env, '--lang', 'fr', 'status');
    t.equal(bogus.code, 2, '--lang fr refused');
    t.match(bogus.err, /--lang phải là vi hoặc en, không phải "fr"/, 'in Vietnamese');
    t.match(bogus.err, /--lang must be vi or en, not "fr"/, 'and in English');
    t.equal(bogus.out, '');
  }
  const bogusJson = JSON.parse((await loa(VI, '--json', '--lang', 'xx', 'log')).out) as { error: { code: string } };
  t.equal(bogusJson.error.code, 'bad-lang');
});

t.test('mistakes refused before anything is sent; the agent\'s errors translated; --json errors', async (t) => {
  const tone = await makeTestTone(join(dir, 'tin.wav'), 'ffmpeg', { frequencyHz: 660, durationMs: 1500 });
  const plays = async (): Promise<number> => (JSON.parse((await loa(EN, '--json', 'log')).out) as { rows: unknown[] }).rows.length;
  const cached = async (): Promise<number> => (JSON.parse((await loa(EN, '--json', 'cache', 'ls')).out) as { items: unknown[] }).items.length;
  const before = { plays: await plays(), cached: await cached() };

  const cases: Array<[string[], RegExp, RegExp]> = [
    [['play', tone, '--volume', 'abc'], /--volume phải là số nguyên từ 0 đến 100, không phải "abc"/, /--volume must be a whole number from 0 to 100, not "abc"/],
    [['play', tone, '--volume', '150'], /từ 0 đến 100, không phải "150"/, /from 0 to 100, not "150"/],
    [['play', tone, '--volume', '7.5'], /không phải "7\.5"/, /not "7\.5"/],
    [['play', tone, '--priority', '10'], /--priority phải là số nguyên từ 0 đến 9/, /--priority must be a whole number from 0 to 9/],
    [['play', tone, '--class', 'urgent'], /--class phải là normal/, /--class must be normal, priority or emergency, not "urgent"/],
    [['play', tone, '--zones', 'north,east'], /Đài không có cụm loa east\. Các cụm loa của đài: north, south/, /The station has no zone east\. Its zones: north, south/],
    [['play', tone, '--zones', ','], /--zones không nêu cụm loa nào/, /--zones names no zone/],
    [['play', tone, '--volume'], /Tuỳ chọn --volume cần một giá trị, ví dụ --volume 60/, /Option --volume needs a value, e\.g\. --volume 60/],
    [['play', tone, '--volumn', '5'], /Tuỳ chọn không rõ: --volumn/, /Unknown option: --volumn/],
    [['play'], /Cách dùng: loa play FILE\|CONTENT/, /Usage: loa play FILE\|CONTENT/],
    [['log', '--limit', '0'], /--limit phải là số nguyên từ 1 đến 1000/, /--limit must be a whole number from 1 to 1000/],
    [['schedule', '--days', 'ba'], /--days phải là số nguyên từ 1 đến 31/, /--days must be a whole number from 1 to 31/],
    [['report', '--from', '15/12/2025'], /--from phải là một ngày dạng NĂM-THÁNG-NGÀY/, /--from must be a date YYYY-MM-DD/],
    [['live', '--duration', 'soon'], /--duration phải là một khoảng thời gian/, /--duration must be a length of time/],
    [['test-tone', '--zones', 'west'], /Đài không có cụm loa west/, /The station has no zone west/],
    [['phat'], /Lệnh không rõ: phat/, /Unknown command: phat/],
  ];
  for (const [args, vi, en] of cases) {
    const a = await loa(VI, ...args);
    t.equal(a.code, 2, `loa ${args.join(' ')}: exit 2`);
    t.match(a.err, vi, `loa ${args.join(' ')} in Vietnamese`);
    t.equal(a.out, '');
    fits(t, a, `loa ${args.join(' ')}`);
    t.match((await loa(EN, ...args)).err, en, `loa ${args.join(' ')} in English`);
    const j = await loa(VI, '--json', ...args);
    t.equal(j.code, 2);
    t.equal(j.err, '', '--json: nothing on stderr');
    const doc = JSON.parse(j.out) as { error: { code: string; message: string } };
    t.match(doc.error.message, vi, `--json: one document with the message (${doc.error.code})`);
  }
  t.same({ plays: await plays(), cached: await cached() }, before, 'nothing reached the agent: no play-log row, no file imported');
  t.same(readdirSync(join(dir, 'state', 'spool')), [], 'and nothing was sent to its spool');
  t.notOk(existsSync(sink) && statSync(sink).size > 0, 'and the sink heard nothing');

  // The agent's own refusals, by code, in the operator's language.
  const relay = await loa(VI, 'relay', 'loa-phuong', 'on');
  t.equal(relay.code, 1);
  t.match(relay.err, /Không có rơ-le tên "loa-phuong"\. Các rơ-le: amp, north, south/);
  t.match((await loa(EN, 'relay', 'loa-phuong', 'on')).err, /No relay named "loa-phuong"\. Relays: amp, north, south/);
  const content = await loa(VI, 'play', 'deadbeef00');
  t.match(content.err, /Không có nội dung nào trong kho khớp "deadbeef00"\. Xem: loa cache ls/);
  const relayJson = JSON.parse((await loa(EN, '--json', 'relay', 'loa-phuong', 'on')).out) as { error: { code: string; message: string; params: Record<string, string> } };
  t.same(relayJson.error, { code: 'unknown-relay', message: 'No relay named "loa-phuong". Relays: amp, north, south', params: { name: 'loa-phuong', known: 'amp, north, south' } });
  const board = await loa(VI, 'board');
  t.match(board.err, /Đài này không có bảng tin điện tử/);
  const garbage = join(dir, 'not-audio.mp3');
  writeFileSync(garbage, 'this is not audio at all');
  const notAudio = await loa(VI, 'play', garbage);
  t.equal(notAudio.code, 1);
  t.match(notAudio.err, /^Không nhập được not-audio\.mp3: không phải âm thanh, ảnh hay video\n$/, 'a file that does not decode: named, the reason in Vietnamese too');
  t.match((await loa(EN, 'play', garbage)).err, /^Could not import not-audio\.mp3: neither audio, an image nor a video\n$/);
  const picture = join(dir, 'ảnh.png');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=red:s=64x64', '-frames:v', '1', '-y', picture]);
  const image = await loa(VI, 'play', picture);
  t.match(image.err, /^Không nhập được ảnh\.png: tệp không có âm thanh\n$/, 'an image sent to the speakers: said in Vietnamese');
  const imageJson = JSON.parse((await loa(VI, '--json', 'play', picture)).out) as { error: { code: string; params: Record<string, string> } };
  t.match(imageJson.error, { code: 'import-failed', params: { reasonCode: 'no-audio', file: 'ảnh.png' } }, '--json keeps the code for scripts');
  const missing = await loa(VI, 'play', join(dir, 'khong-co.mp3'));
  t.match(missing.err, /Không có tệp .*khong-co\.mp3/);
  t.equal(await plays(), before.plays, 'none of these played anything');

  // The agent down: the same errors, on stdout with --json.
  const down = JSON.parse((await main(['--json', 'status'], { stdout: { write: (s: string) => void (downOut += s) }, stderr: { write: () => undefined } }, { ...VI, LOA_SOCKET: join(dir, 'nobody.sock') }), downOut)) as { error: { code: string; message: string } };
  t.equal(down.error.code, 'daemon-down');
  t.match(down.error.message, /Tác tử loa không chạy/);
});
let downOut = '';

t.test('a file the agent cannot see is sent as bytes, plays, and the log says what played', async (t) => {
  const sinkFrom = existsSync(sink) ? statSync(sink).size & ~3 : 0;
  // 10 s at 48 kHz stereo: several chunks over the socket.
  const tone = await makeTestTone(join(dir, 'src.wav'), 'ffmpeg', { frequencyHz: 880, durationMs: 10_000 });
  // The technician's folder exists only in the CLI's mount namespace, as home folders and /tmp under the unit.
  const hidden = join(dir, 'home-of-technician');
  mkdirSync(hidden);
  const cli = join(import.meta.dirname, 'cli-child.ts');
  const script = 'mount -t tmpfs tmpfs "$1" && cp "$2" "$1/Tin sáng.wav" && shift 2 && exec "$@"';
  const args = ['-rm', 'sh', '-c', script, 'sh', hidden, tone, process.execPath, ...process.execArgv, cli, '--config', configPath, '--lang', 'vi', 'play', join(hidden, 'Tin sáng.wav'), '--zones', 'south', '--label', 'Bản tin sáng xã Tân Lập'];
  const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  t.equal(code, 0, `loa play in its own namespace: ${err}`);
  t.match(out, /Đã nhận yêu cầu/);
  t.notOk(existsSync(join(hidden, 'Tin sáng.wav')), 'the path the technician named does not exist for the agent');

  const rows = await until('the bulletin played', async () => {
    const r = JSON.parse((await loa(EN, '--json', 'log')).out) as { rows: Array<Record<string, unknown>> };
    const row = r.rows.find((x) => x.label === 'Bản tin sáng xã Tân Lập' && x.result === 'played');
    return row ? r.rows : undefined;
  }, 60_000);
  const heardFile = join(dir, 'heard.raw');
  writeFileSync(heardFile, readFileSync(sink).subarray(sinkFrom));
  const heard = tonesHeard(heardFile, [880]);
  t.equal(heard.length, 1, `one tone at the sink: ${JSON.stringify(heard)}`);
  t.equal(heard[0]?.freq, 880);
  t.ok(Math.abs((heard[0]?.durationS ?? 0) - 10) < 0.5, `all 10 s of it: ${heard[0]?.durationS} s`);
  t.same(readdirSync(join(dir, 'state', 'spool')), [], 'the spool is emptied after the import');

  const row = rows.find((x) => x.label === 'Bản tin sáng xã Tân Lập')!;
  t.equal(row.fileName, 'Tin sáng.wav', '--json keeps the file name');
  t.match(row, { zones: ['south'], requestId: /^cli-/, content: /^[0-9a-f]{64}$/ }, '--json keeps ids and hashes');
  for (const [env, head, played] of [[VI, /^Giờ theo múi giờ Asia\/Ho_Chi_Minh \(UTC\+07:00\)$/m, 'đã phát'], [EN, /^Times in Asia\/Ho_Chi_Minh \(UTC\+07:00\)$/m, 'played']] as const) {
    const log = await loa(env, 'log');
    t.equal(log.code, 0);
    t.match(log.out, head, 'the time zone heads the log');
    const line = log.out.split('\n').find((l) => l.includes('Bản tin sáng'))!;
    t.match(line, new RegExp(`\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d +${played} +south +Bản tin sáng xã Tân Lập — Tin sáng\\.wav$`), `one row: time, result, zone, label — file: ${line}`);
    t.notMatch(log.out, String(row.content).slice(0, 12), 'no content hash');
    t.notMatch(log.out, String(row.requestId), 'no request id');
    fits(t, log, `loa log (${env.LANG})`);
  }
});

t.test('typical outputs of a running station fit 80 columns', async (t) => {
  const long = await makeTestTone(join(dir, 'Thông báo về lịch tiêm phòng vắc-xin cho gia súc gia cầm đợt hai năm nay.wav'), 'ffmpeg', { durationMs: 500 });
  t.equal((await loa(EN, 'cache', 'import', long)).code, 0);
  for (const env of [VI, EN]) {
    for (const args of [['status'], ['schedule'], ['log'], ['cache', 'ls'], ['relay'], ['doctor'], ['report'], ['stop'], ['board']]) {
      fits(t, await loa(env, ...args), `loa ${args.join(' ')} (${env.LANG})`);
    }
  }
});
