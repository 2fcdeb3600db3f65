/**
 * The board end to end in real headless Chromium (Debian's /usr/bin/chromium
 * driven by playwright-core): what the page draws, not just what the DOM holds.
 * Screenshots are kept under artifacts/board/ for a human to look at.
 */
import t from 'tap';
import { launchBrowser } from './chromium-fixture.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { BoardServer, type BoardProofRow } from '../src/board/server.js';
import type { BoardScheduleInput } from '../src/board/playlist.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';
import { waitEvent } from './wait.js';

const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');
mkdirSync(ARTIFACTS, { recursive: true });
const dir = tempDir('board');

// A real PNG from ffmpeg, and a "cached" file that is not an image at all.
const png = join(dir, 'green.png');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=green:s=320x240', '-frames:v', '1', png]);
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const mp4 = join(dir, 'clip.mp4');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=320x240:d=2:r=25', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', mp4]);
const corrupt = join(dir, 'corrupt.png');
writeFileSync(corrupt, 'not a png');
const files = new Map([[sha(png), png], [sha(corrupt), corrupt], [sha(mp4), mp4]]);
const MP4_ID = sha(mp4);
const PNG_ID = sha(png);
const CORRUPT_ID = sha(corrupt);

const VIETNAMESE = 'Thông báo khẩn cấp: lũ quét ở Mường Tè';
// Every Vietnamese letter with every tone, lower and upper case.
const ALPHABET = (() => {
  const bases = 'aăâeêioôơuưy';
  const tones = ['', '\u0300', '\u0301', '\u0309', '\u0303', '\u0323'];
  const lower = [...bases].flatMap((b) => tones.map((m) => (b + m).normalize('NFC'))).join('') + 'đ';
  return lower + lower.toUpperCase();
})();

const proof: BoardProofRow[] = [];
const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: (s) => files.get(s) ?? null });
board.on('proof', (r: BoardProofRow) => proof.push(r));

const profile = tempDir('chromium');
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;

t.before(async () => {
  await board.start();
  context = await launchBrowser(profile, { width: 1280, height: 720 });
  page = context.pages()[0] ?? (await context.newPage());
  cdp = await context.newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
});

t.teardown(async () => {
  await context?.close();
  await board.stop();
  for (const d of [dir, profile]) rmSync(d, { recursive: true, force: true });
});

const only = (items: BoardScheduleInput['defaultPlaylist']['items'], ticker = ''): BoardScheduleInput => ({ defaultPlaylist: { id: 'd', items, ticker } });
/** Waits until the page has rendered a showing whose key starts with `prefix`; returns the key. */
const shown = async (prefix: string, timeout = 10_000): Promise<string> => {
  await page.waitForFunction((p) => (document.body.dataset.key ?? '').startsWith(p), prefix, { timeout, polling: 20 });
  return page.evaluate(() => document.body.dataset.key!);
};

/** The fonts Chromium used to draw the text nodes under `selector` (DevTools' own answer, not the CSS). */
async function platformFonts(selector: string): Promise<Array<{ familyName: string; isCustomFont: boolean; glyphCount: number }>> {
  const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
  return (await cdp.send('CSS.getPlatformFontsForNode', { nodeId })).fonts;
}

/**
 * Characters of `text` that the board font draws as its "missing glyph" box:
 * each is drawn on a canvas and compared pixel for pixel with a code point
 * no font has (U+0378), which can only come out as the box.
 */
async function tofu(text: string): Promise<string[]> {
  return page.evaluate(async (chars) => {
    await document.fonts.load('700 64px LoaBoard', chars.join(''));
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 96;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    const draw = (c: string): string => {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, 96, 96);
      ctx.fillStyle = '#fff';
      ctx.font = '700 64px LoaBoard';
      ctx.fillText(c, 8, 72);
      return Array.from(ctx.getImageData(0, 0, 96, 96).data).join(',');
    };
    const box = draw('\u0378');
    if (!/[1-9]/.test(box) || draw('A') === box) throw new Error('the reference box is blank or indistinguishable');
    return [...new Set(chars)].filter((c) => c.trim() !== '' && draw(c) === box);
  }, [...text]);
}

t.test('a Vietnamese notice renders in the bundled font, every diacritic drawn (no tofu)', async (t) => {
  board.setSchedule(only([{
    kind: 'notice', id: 'flood', durationS: 3600, title: VIETNAMESE,
    body: `${ALPHABET.normalize('NFD')}\nĐề nghị bà con không qua suối, ngầm tràn.`, issuer: 'UBND huyện Mường Tè', date: '2026-11-27',
  }], 'Chợ phiên sáng thứ Bảy họp bình thường'));
  await page.goto(board.url);
  await shown('d/flood@');
  t.equal(await page.textContent('.title'), VIETNAMESE);

  for (const sel of ['.title', '.body', '.issuer', '#ticker-text']) {
    const fonts = await platformFonts(sel);
    t.ok(fonts.length > 0 && fonts.every((f) => f.isCustomFont && f.familyName === 'Noto Sans'),
      `${sel} drawn only with the served Noto Sans: ${JSON.stringify(fonts)}`);
  }
  t.same(await tofu(VIETNAMESE + ALPHABET + 'Đđ'), [], 'no Vietnamese letter is drawn as the missing-glyph box');
  await page.screenshot({ path: join(ARTIFACTS, 'notice-vietnamese.png') });
  // The same checks do catch a missing glyph: Noto Sans has no Han characters. They come out as
  // the box, or, where the system has a CJK font, drawn by that font, which DevTools names.
  const han = await tofu('Thông 漢字');
  if (han.length > 0) t.same(han, ['漢', '字'], 'Han characters come out as the box');
  else {
    board.setSchedule(only([{ kind: 'text', id: 'han', durationS: 3600, text: 'Thông 漢字' }]));
    await shown('d/han@');
    const fonts = await platformFonts('.body');
    t.ok(fonts.some((f) => f.familyName !== 'Noto Sans'), `Han characters come from a fallback font: ${JSON.stringify(fonts)}`);
  }
});

t.test('HTML and script inside content is shown as text, never executed', async (t) => {
  const title = '<img src=x onerror="window.__pwned=1">Họp dân';
  const body = '<script>window.__pwned=2</script><b>đậm</b>';
  board.setSchedule(only([{ kind: 'notice', id: 'xss', durationS: 3600, title, body, issuer: '<iframe src="/now">' }]));
  await shown('d/xss@');
  t.equal(await page.textContent('.title'), title);
  t.equal(await page.textContent('.body'), body);
  t.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  t.equal(await page.locator('#stage img, #stage script, #stage iframe, #stage b').count(), 0, 'no element was created from content');
  const res = await fetch(board.url);
  t.match(res.headers.get('content-security-policy'), /script-src 'sha256-[^']+'/, 'only the page\'s own script may run');
});

t.test('enormous text shrinks to fit and never breaks the layout', async (t) => {
  const words = 'Nhân dân xã Mường Tè chú ý mưa lớn kéo dài có nguy cơ sạt lở đất '.repeat(300).slice(0, 19_000);
  board.setSchedule(only([{ kind: 'notice', id: 'huge', durationS: 3600, title: 'Ư'.repeat(300), body: words + 'x'.repeat(1000), issuer: 'UBND' }]));
  await shown('d/huge@');
  const layout = await page.evaluate(() => {
    const r = (s: string) => document.querySelector(s)!.getBoundingClientRect();
    return {
      scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
      w: innerWidth, h: innerHeight, title: r('.title'), body: r('.body'), clock: r('#corner-clock'),
      fontPx: parseFloat(getComputedStyle(document.querySelector('.body')!).fontSize),
    };
  });
  t.ok(layout.scrollW <= layout.w && layout.scrollH <= layout.h, `page does not scroll: ${JSON.stringify(layout)}`);
  for (const box of [layout.title, layout.body]) t.ok(box.right <= layout.w && box.bottom <= layout.h && box.height > 0, 'block inside the screen');
  t.ok(layout.body.bottom <= layout.clock.top + 1, 'the body does not run over the clock');
  t.ok(layout.fontPx >= 12, `body type stays readable-sized (${layout.fontPx}px)`);
  await page.screenshot({ path: join(ARTIFACTS, 'enormous-text.png') });
});

t.test('images: a cached image is shown; a corrupt one is reported failed, leaves no broken icon', async (t) => {
  board.setSchedule(only([{ kind: 'image', id: 'pic', durationS: 3600, content: PNG_ID, caption: 'Ảnh minh hoạ' }]));
  await shown('d/pic@');
  await page.waitForFunction(() => (document.querySelector('#stage img') as HTMLImageElement | null)?.naturalWidth === 320);
  t.pass('the PNG loaded from the cache');
  await page.screenshot({ path: join(ARTIFACTS, 'image.png') });

  board.setSchedule(only([{ kind: 'image', id: 'bad', durationS: 3600, content: CORRUPT_ID }]));
  await shown('d/bad@');
  await page.waitForSelector('#stage .big-time');
  t.equal(await page.locator('#stage img').count(), 0);
  board.setSchedule(only([{ kind: 'clock', id: 'after', durationS: 3600 }]));
  const row = proof.find((r) => r.itemId === 'bad');
  t.equal(row?.result, 'failed');
  t.match(row?.problem, /did not load/);
  t.equal(proof.find((r) => r.itemId === 'pic')?.result, 'interrupted', 'replaced by a new schedule before its slot ended');

  const missing = await fetch(new URL(`/media/${'0'.repeat(64)}`, board.url));
  t.equal(missing.status, 404);
});

t.test('a QR code to the feedback channel is drawn so that a phone can read it', async (t) => {
  const url = 'https://gopy.laichau.gov.vn/phan-anh?xa=Mường Tè';
  board.setSchedule(only([{ kind: 'qr', id: 'qr', durationS: 3600, url, title: 'Góp ý, phản ánh của người dân', caption: 'Quét mã bằng điện thoại' }]));
  await shown('d/qr@');
  const shot = join(ARTIFACTS, 'qr.png');
  await page.screenshot({ path: shot });
  // zbarimg is an independent decoder: it reads the pixels, as a citizen's phone would.
  const decoded = execFileSync('zbarimg', ['--quiet', '--raw', shot], { encoding: 'utf8' }).trim();
  t.equal(decoded, new URL(url).href, 'the code on screen decodes to the feedback URL');
  t.equal(await page.locator('.qr-url').textContent(), url, 'the address is also written out, readable, for those without a phone camera');
});

t.test('an H.264 video plays muted and loops; a broken one falls back to the clock and is reported', async (t) => {
  board.setSchedule(only([{ kind: 'video', id: 'clip', durationS: 3600, content: MP4_ID }]));
  await shown('d/clip@');
  await page.waitForFunction(() => {
    const v = document.querySelector('#stage video') as HTMLVideoElement | null;
    return v !== null && v.currentTime > 0.3 && !v.paused && v.muted && v.loop;
  }, undefined, { timeout: 10_000, polling: 50 });
  t.pass('decoding and playing, muted');
  await page.screenshot({ path: join(ARTIFACTS, 'video.png') });

  board.setSchedule(only([{ kind: 'video', id: 'badclip', durationS: 3600, content: CORRUPT_ID }]));
  await shown('d/badclip@');
  await page.waitForSelector('#stage .big-time');
  t.equal(await page.locator('#stage video').count(), 0);
  board.setSchedule(only([{ kind: 'clock', id: 'after-video', durationS: 3600 }]));
  t.match(proof.find((r) => r.itemId === 'clip'), { result: 'interrupted', shownMs: Number });
  t.match(proof.find((r) => r.itemId === 'badclip'), { result: 'failed', problem: /video .* did not load/ });
});

t.test('a playlist rotates on time; every showing leaves a proof row', async (t) => {
  const from = proof.length;
  board.setSchedule(only([{ kind: 'text', id: 'a', durationS: 1, text: 'Một' }, { kind: 'text', id: 'b', durationS: 1, text: 'Hai' }]));
  const seen: Array<{ key: string; atMs: number }> = [];
  const deadline = Date.now() + 15_000;
  while (seen.length < 4 && Date.now() < deadline) {
    const last = seen.at(-1)?.key ?? 'd/after';
    await page.waitForFunction((k) => document.body.dataset.key !== k && (document.body.dataset.key ?? '').startsWith('d/'), last, { timeout: 5_000, polling: 20 });
    seen.push({ key: await page.evaluate(() => document.body.dataset.key!), atMs: Date.now() });
  }
  const ids = seen.map((s) => s.key.split('/')[1]!.split('@')[0]);
  t.equal(seen.length, 4);
  t.ok(ids.every((id, i) => i === 0 || id !== ids[i - 1]), `items alternate: ${ids.join(' ')}`);
  // Slot starts are wall-clock seconds: each change lands about one second after the previous.
  const gaps = seen.slice(2).map((s, i) => s.atMs - seen[i + 1]!.atMs);
  t.ok(gaps.every((g) => g > 400 && g < 2500), `one item per second, loosely: ${gaps.join(', ')} ms`);
  const rows = proof.slice(from).filter((r) => r.source === 'd' && r.kind === 'text');
  t.ok(rows.length >= 2, 'rows for the items that ended');
  t.ok(rows.slice(1).every((r) => r.result === 'completed' && r.shownMs !== null && r.endedMs - r.shownMs! < 1500), JSON.stringify(rows));
});

t.test('an emergency takes the screen at once and gives it back when it ends', async (t) => {
  board.setSchedule(only([{ kind: 'clock', id: 'clock', durationS: 3600 }]));
  await shown('d/clock@');
  const start = Date.now();
  const alert = { key: 'req-7', title: 'Cảnh báo lũ quét', text: 'Mưa lớn ở thượng nguồn sông Đà.', instructions: 'Di chuyển ngay lên chỗ cao.' };
  board.setEmergency(alert);
  const key = await shown('emergency/req-7/');
  const takeoverMs = Date.now() - start;
  t.ok(takeoverMs < 2000, `on screen ${takeoverMs} ms after the call`);
  t.ok(await page.evaluate(() => document.body.classList.contains('emergency')));
  t.equal(await page.textContent('.instructions'), 'Di chuyển ngay lên chỗ cao.');
  t.ok((await platformFonts('.title')).every((f) => f.isCustomFont), 'emergency type in the board font too');
  await page.screenshot({ path: join(ARTIFACTS, 'emergency.png') });
  const shows: unknown[] = [];
  const onShow = (s: unknown): number => shows.push(s);
  board.on('show', onShow);
  board.setEmergency({ ...alert });
  t.same(shows, [], 'the same emergency again changes nothing');
  board.setEmergency({ ...alert, instructions: 'Lên đồi Pú Ma ngay.' });
  await shown('emergency/req-7/');
  await page.waitForFunction(() => document.querySelector('.instructions')?.textContent === 'Lên đồi Pú Ma ngay.', undefined, { timeout: 5_000 });
  t.not(board.showing()?.key, key, 'a corrected wording replaces the text on screen');
  board.off('show', onShow);

  const ended = waitEvent<BoardProofRow>(board, 'proof', (r) => r.source === 'emergency', 5_000);
  board.setEmergency(null);
  await shown('d/clock@');
  t.notOk(await page.evaluate(() => document.body.classList.contains('emergency')));
  const row = await ended;
  t.equal(row.result, 'completed');
  t.ok(row.shownMs !== null && row.shownMs >= start, 'the page confirmed the emergency on screen');
  t.equal(proof.find((r) => r.itemId === 'clock' && r.source === 'd')?.result, 'interrupted', 'the item it cut is logged as interrupted');
});

t.test('offline: the agent going away leaves the last item on screen; the page reconnects by itself', async (t) => {
  board.setSchedule(only([{ kind: 'notice', id: 'stay', durationS: 3600, title: 'Lịch tiêm phòng', body: 'Thứ Hai, 8 giờ' }]));
  const key = await shown('d/stay@');
  const port = Number(new URL(board.url).port);
  await board.stop();
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await page.evaluate(() => document.body.dataset.key), key);
  t.equal(await page.textContent('.title'), 'Lịch tiêm phòng', 'still on screen, not blank');

  const again = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port, contentPath: () => null });
  t.teardown(() => again.stop());
  await again.start();
  again.setSchedule(only([{ kind: 'text', id: 'back', durationS: 3600, text: 'Đã kết nối lại' }]));
  await shown('d/back@', 15_000);
  t.pass('the page picked up the restarted agent without a reload');
});
