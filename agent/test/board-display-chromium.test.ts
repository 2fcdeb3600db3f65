/**
 * The screen switched off, as the panel shows it: real headless Chromium
 * (Debian's /usr/bin/chromium via playwright-core) on the board page, the
 * display controller driving the simulated screen, and the screenshot's
 * pixels decoded by ffmpeg. Screenshots go to artifacts/board/.
 */
import t from 'tap';
import { launchBrowser } from './chromium-fixture.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { DisplayController, type DisplayPowerEvent } from '../src/board/display-controller.js';
import { SimDisplay } from '../src/board/display.js';
import { BoardServer, type BoardProofRow } from '../src/board/server.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';
import { waitEvent } from './wait.js';

const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');
mkdirSync(ARTIFACTS, { recursive: true });
const TZ = 'Asia/Ho_Chi_Minh';
const W = 640;
const H = 360;

let offsetMs = Date.parse('2026-11-27T23:00:00+07:00') - Date.now();
const now = (): number => Date.now() + offsetMs;
const jump = (local: string): void => { offsetMs = Date.parse(`${local}+07:00`) - Date.now(); };

const proof: BoardProofRow[] = [];
const board = new BoardServer({ log: silentLogger(), timezone: TZ, port: 0, contentPath: () => null });
board.on('proof', (r: BoardProofRow) => proof.push(r));
const sim = new SimDisplay();
const display = new DisplayController({ driver: sim, board, timezone: TZ, windows: [{ from: '06:00', to: '22:00' }], log: silentLogger(), now });
const profile = tempDir('chromium-display');
let context: BrowserContext;
let page: Page;

t.before(async () => {
  await board.start();
  context = await launchBrowser(profile, { width: W, height: H });
  page = context.pages()[0] ?? (await context.newPage());
});

t.teardown(async () => {
  await display.stop();
  await context?.close();
  await board.stop();
  rmSync(profile, { recursive: true, force: true });
});

const notice = (id: string) => ({
  defaultPlaylist: { id: 'd', ticker: 'Chợ phiên sáng thứ Bảy họp bình thường', items: [{ kind: 'notice' as const, id, durationS: 3600, title: 'Lịch tiêm phòng', body: 'Thứ Hai, 8 giờ, tại trạm y tế xã' }] },
});

/** Shares of the screenshot's pixels that are black, and that are the emergency red (#b00000). */
async function screen(name: string): Promise<{ black: number; red: number }> {
  const png = await page.screenshot();
  writeFileSync(join(ARTIFACTS, name), png);
  const rgb = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { input: png, maxBuffer: 16 * 1024 * 1024 });
  if (rgb.length !== W * H * 3) throw new Error(`decoded ${rgb.length} bytes, expected ${W * H * 3}`);
  let black = 0;
  let red = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const [r, g, b] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
    if (r <= 4 && g <= 4 && b <= 4) black++;
    if (Math.abs(r - 0xb0) <= 8 && g <= 8 && b <= 8) red++;
  }
  return { black: black / (W * H), red: red / (W * H) };
}

const blankOnPage = (blank: boolean) => page.waitForFunction((b) => document.body.classList.contains('blank') === b, blank, { timeout: 5000, polling: 20 });
const shown = (prefix: string) => page.waitForFunction((p) => (document.body.dataset.key ?? '').startsWith(p), prefix, { timeout: 10_000, polling: 20 });

t.test('off by schedule: the whole panel is black, ticker and clock included; what shows behind it is not counted as seen', async (t) => {
  display.start();
  t.ok(board.blanked);
  board.setSchedule(notice('a'));
  await page.goto(board.url);
  await shown('d/a@');
  await blankOnPage(true);
  const off = await screen('display-off.png');
  t.equal(off.black, 1, `every pixel black (${(off.black * 100).toFixed(2)} %)`);
  // Give the page's acknowledgement time to arrive; it must not make the hidden showing "shown".
  await new Promise((r) => setTimeout(r, 300));
  board.setSchedule(notice('b'));
  t.match(proof.find((r) => r.itemId === 'a'), { result: 'unconfirmed', shownMs: null });
});

t.test('on again: the board shows, and the showing is confirmed once visible', async (t) => {
  await shown('d/b@');
  const before = Date.now();
  jump('2026-11-27T07:00:00');
  display.recheck();
  await blankOnPage(false);
  const on = await screen('display-on.png');
  t.ok(on.black < 0.2, `the board is drawn (${(on.black * 100).toFixed(1)} % black)`);
  t.same(sim.transitions.map((x) => x.on), [false, true]);
  const deadline = Date.now() + 5000;
  while (board.pages().showingConfirmedMs === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const confirmed = board.pages().showingConfirmedMs;
  t.ok(confirmed !== null && confirmed >= before, `confirmed when it became visible (${confirmed})`);
});

t.test('an emergency wakes the black screen and holds it; the screen goes black again when it ends', async (t) => {
  jump('2026-11-27T23:30:00');
  display.recheck();
  await blankOnPage(true);
  t.equal((await screen('display-off-again.png')).black, 1);

  board.setEmergency({ key: 'flood', title: 'Cảnh báo lũ quét', instructions: 'Di chuyển ngay lên chỗ cao.' });
  display.setEmergency(true);
  await shown('emergency/flood/');
  await blankOnPage(false);
  const alert = await screen('display-emergency.png');
  t.ok(alert.red > 0.5, `the emergency red fills the screen (${(alert.red * 100).toFixed(1)} %)`);
  t.equal(sim.isOn, true);

  board.setBlank(true);
  await new Promise((r) => setTimeout(r, 200));
  t.ok((await screen('display-emergency-held.png')).red > 0.5, 'a blank asked during the emergency does not hide it');

  const off = waitEvent<DisplayPowerEvent>(display, 'power', (e) => !e.on, 5000);
  board.setEmergency(null);
  display.setEmergency(false);
  await blankOnPage(true);
  t.equal((await screen('display-after-emergency.png')).black, 1);
  t.match(await off, { on: false, reason: 'schedule', ok: true });
  t.same(sim.transitions.map((x) => x.on), [false, true, false, true, false]);
});
