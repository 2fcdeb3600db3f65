/**
 * The board's control handlers on a real BoardServer: the operator override
 * against emergencies and bad ids, and the screenshot taken from a real
 * kiosk Chromium (its own process behind the DevTools socket) through
 * KioskWatch, written to a file by `loa board screenshot`.
 */
import t, { type Test } from 'tap';
import { startKiosk } from './chromium-fixture.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { BoardServer, type BoardProofRow } from '../src/board/server.js';
import { KioskWatch } from '../src/board/kiosk-watch.js';
import { boardHandlers } from '../src/daemon/board-control.js';
import { startControlServer } from '../src/daemon/control-server.js';
import { main } from '../src/cli/main.js';
import { render } from '../src/cli/render.js';
import { translator } from '../src/cli/messages.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';

/** Screenshots kept for a human to look at, as board-chromium.test.ts does. */
const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');
mkdirSync(ARTIFACTS, { recursive: true });
const TZ = 'Asia/Ho_Chi_Minh';
const IMG = 'c'.repeat(64);
const schedule = {
  playlists: [{ id: 'market', dayparts: [{}], items: [{ kind: 'text' as const, id: 'price', durationS: 3600, text: 'Giá lúa' }, { kind: 'image' as const, id: 'pic', durationS: 60, content: IMG }] }],
  defaultPlaylist: { id: 'main', items: [
    { kind: 'text' as const, id: 'price', durationS: 3600, text: 'Giá mặc định' }, { kind: 'clock' as const, id: 'clock', durationS: 30 },
    { kind: 'qr' as const, id: 'feedback', durationS: 20, title: 'Góp ý cho xã' },
  ] },
};

async function started(t: Test, screenshot: (() => Promise<Buffer>) | null = null, feedbackUrl?: string, display?: () => { on: boolean; driver: string }) {
  const board = new BoardServer({ log: silentLogger(), timezone: TZ, port: 0, contentPath: () => null, ...(feedbackUrl ? { feedbackUrl } : {}) });
  await board.start();
  t.teardown(() => board.stop());
  board.setSchedule(schedule);
  const proof: BoardProofRow[] = [];
  board.on('proof', (r: BoardProofRow) => proof.push(r));
  return { board, proof, h: boardHandlers({ board, screenshot, ...(display ? { display } : {}) }) };
}

t.test('show: from the playlist on screen first, or the one named; what comes next follows its end', async (t) => {
  const { board, h } = await started(t);
  t.equal(board.showing()?.source, 'market', 'an all-day playlist is on screen');
  const shown = (await h['board.show']({ item: 'price' })) as { key: string; untilMs: number; startMs: number };
  t.match(shown.key, /^operator\/market\/price@/, 'the same id in the playlist on screen wins');
  t.equal(shown.untilMs - shown.startMs, 3600_000, 'for its own duration');
  t.match(board.showing(), { source: 'operator', ticker: '' });
  t.match(await h['board.show']({ item: 'price', playlist: 'main' }), { key: /^operator\/main\/price@/, label: 'Giá mặc định' });
  const next = (await h['board.next']({ count: 2 })) as { showings: Array<{ startMs: number; source: string }> };
  t.equal(next.showings[0]!.startMs, board.showing()!.untilMs, 'the rotation resumes when the operator\'s item ends');
  t.equal(next.showings[0]!.source, 'market');
  t.equal(((await h['board.next']({ count: 10_000 })) as { showings: unknown[] }).showings.length, 100, 'at most 100');
  t.equal(((await h['board.next']({ count: 'lots' })) as { showings: unknown[] }).showings.length, 10, 'ten unless asked');
});

t.test('show refuses clearly: unknown ids, unknown playlists, uncached media, no id', async (t) => {
  const { board, h } = await started(t);
  const before = board.showing()!.key;
  await t.rejects(async () => h['board.show']({ item: 'ghost' }), { code: 'unknown-item', message: /no item "ghost" in the board schedule; items: price, pic, clock, feedback/ });
  await t.rejects(async () => h['board.show']({ item: 'price', playlist: 'nope' }), { code: 'unknown-playlist', message: /no playlist "nope".*playlists: market, main/ });
  await t.rejects(async () => h['board.show']({ item: 'pic' }), { code: 'not-playable', message: /item "pic" needs image cccccccccccc, which is not in the content cache/ });
  await t.rejects(async () => h['board.show']({ item: 'feedback' }), { code: 'not-playable', message: /item "feedback" has no URL to show and the station has no board\.feedbackUrl/ });
  await t.rejects(async () => h['board.show']({}), { code: 'bad-request' });
  t.equal(board.showing()!.key, before, 'nothing changed on screen');
});

t.test('a QR item takes the station\'s feedback URL, as in the rotation; a blanked page is said', async (t) => {
  const { board, h } = await started(t, null, 'https://gopy.example.vn/xa-muong-te', () => ({ on: false, driver: 'sim' }));
  t.match(await h['board.show']({ item: 'feedback' }), { kind: 'qr', label: 'Góp ý cho xã', blanked: false });
  t.match(board.showing()?.item, { kind: 'qr', url: 'https://gopy.example.vn/xa-muong-te' });
  board.setBlank(true);
  const status = await h['board.status']({});
  t.match(status, { blanked: true, display: { on: false, driver: 'sim' } });
  t.match(render('board-status', status, translator('en'), 'en', TZ), /^Screen: the board page is blanked .*\n(.*\n)*Screen: off \(sim\)$/m);
  const shown = await h['board.show']({ item: 'price' });
  t.match(shown, { blanked: true });
  t.match(render('board-show', shown, translator('vi'), 'vi', TZ), /\nLưu ý: trang bảng tin đang để đen/, 'shown, but the operator is told nobody sees it');
});

t.test('an emergency wins: show is refused while it holds, and one arriving cancels the operator\'s item', async (t) => {
  const { board, proof, h } = await started(t);
  board.setEmergency({ key: 'flood', title: 'Cảnh báo lũ quét' });
  await t.rejects(async () => h['board.show']({ item: 'clock' }), { code: 'emergency', message: /an emergency holds the board \("Cảnh báo lũ quét"\)/ });
  t.match(await h['board.status']({}), { emergency: true, showing: { source: 'emergency', untilMs: null } });
  const during = (await h['board.next']({ count: 1 })) as { emergency: boolean; showings: Array<{ source: string }> };
  t.match(during, { emergency: true, showings: [{ source: 'market' }] }, 'next tells what follows the emergency');
  board.setEmergency(null);

  await h['board.show']({ item: 'clock' });
  board.setEmergency({ key: 'fire', title: 'Cháy rừng' });
  t.equal(board.showing()?.source, 'emergency');
  t.match(proof.at(-1), { source: 'operator', itemId: 'clock', result: 'unconfirmed' }, 'the operator\'s showing ended (no page confirmed it)');
  board.setEmergency(null);
  t.equal(board.showing()?.source, 'market', 'after the emergency, the rotation, not the cancelled item');
});

t.test('a screenshot that fails is an operator error naming the cause', async (t) => {
  const { h } = await started(t, async () => { throw new Error('browser unreachable\nstack...'); });
  await t.rejects(async () => h['board.screenshot']({}), { code: 'kiosk', message: 'the kiosk browser gave no screenshot: browser unreachable' });
});

t.test('a screenshot of the real kiosk: a PNG of the whole panel, showing the board, saved by the CLI', async (t) => {
  const dir = tempDir('board-shot');
  const board = new BoardServer({ log: silentLogger(), timezone: TZ, port: 0, contentPath: () => null });
  await board.start();
  board.setSchedule({ defaultPlaylist: { id: 'd', items: [{ kind: 'text', id: 'hello', durationS: 3600, text: 'Bảng tin xã' }] } });
  const kiosk = await startKiosk({ socket: join(dir, 'devtools.sock'), profile: join(dir, 'profile'), url: board.url });
  const watch = new KioskWatch({
    devtoolsSocket: kiosk.socket, boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 5000,
    expectedKey: () => board.showing()?.key ?? null, restart: async () => undefined,
  });
  let control: Server | null = null;
  t.teardown(async () => {
    control?.close();
    await watch.close();
    await kiosk.kill();
    await board.stop();
    // Chromium's helpers may still be writing its profile for a moment after it exits.
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  // The page has drawn the showing the server pushed.
  for (let i = 0; i < 100 && (await watch.check().catch(() => 'down')) !== 'ok'; i++) await new Promise((r) => setTimeout(r, 100));

  const h = boardHandlers({ board, screenshot: () => watch.screenshot() });
  const shot = (await h['board.screenshot']({})) as { png: string; bytes: number; showingKey: string; takenMs: number };
  const png = Buffer.from(shot.png, 'base64');
  t.equal(png.length, shot.bytes);
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  // Headless Chromium keeps part of --window-size for its (invisible) window frame.
  t.ok(width === 1280 && height > 500 && height <= 720, `the whole page, ${width}x${height}`);
  writeFileSync(join(ARTIFACTS, 'kiosk-screenshot.png'), png);
  t.equal(shot.showingKey, board.showing()!.key);
  const gray = luminance(png);
  t.equal(gray.length, width * height, 'ffmpeg decodes it: a valid image');
  const share = (pred: (v: number) => boolean): number => gray.filter(pred).length / gray.length;
  // The board's dark blue with large white letters; a blank or failed page would be one flat colour.
  t.ok(share((v) => Math.abs(v - 33) < 12) > 0.3, `mostly the board background (${share((v) => Math.abs(v - 33) < 12)})`);
  const text = share((v) => v > 200);
  t.ok(text > 0.004 && text < 0.5, `white text drawn on it (${text} of the pixels)`);

  // The CLI end to end through a real control socket: the file lands where asked, under a timestamped name.
  const socket = join(dir, 'loa.sock');
  control = await startControlServer(socket, h, silentLogger());
  process.env.LOA_SOCKET = socket;
  t.teardown(() => { delete process.env.LOA_SOCKET; });
  let out = '';
  let err = '';
  const code = await main(['--config', join(dir, 'absent.json'), '--lang', 'en', 'board', 'screenshot', dir], {
    stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) },
  });
  t.equal(code, 0, err);
  const saved = /^Board screenshot saved: (.+)\n$/.exec(out)?.[1];
  t.match(saved, new RegExp(`^${dir}/board-\\d{8}-\\d{6}\\.png$`));
  t.same([...readFileSync(saved!).subarray(1, 4)], [...Buffer.from('PNG')]);
  t.same(readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp file left behind');
  const named = join(dir, 'panel.png');
  out = '';
  t.equal(await main(['--config', join(dir, 'absent.json'), '--json', 'board', 'screenshot', named], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } }), 0);
  t.match(JSON.parse(out), { path: named, bytes: Number, showingKey: board.showing()!.key });
  t.ok(readFileSync(named).length > 1000);
  err = '';
  const unwritable = join(dir, 'no-such-dir', 'x.png');
  t.equal(await main(['--config', join(dir, 'absent.json'), '--lang', 'en', 'board', 'screenshot', unwritable], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } }), 1);
  t.match(err.replace(/\n +/g, ' '), new RegExp(`^Cannot write the file ${unwritable}: ENOENT`), 'a file that cannot be written is named, with why');
});

/** 8-bit luminance of every pixel, decoded by ffmpeg (no PNG library in the project). */
function luminance(png: Buffer): Uint8Array {
  return new Uint8Array(execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'png_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { input: png, maxBuffer: 16 << 20 }));
}
