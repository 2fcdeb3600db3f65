/**
 * The board says what the speakers relay: while a live item with a display
 * text plays, the ticker band carries it ("Đang tiếp sóng VOV1") over the
 * rotation, and goes when the relay ends. Asserted on the pixels of real
 * headless Chromium's screenshots.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from './chromium-fixture.js';
import { tempDir } from './audio-fixture.js';
import { BoardServer, type BoardProofRow } from '../src/board/server.js';
import { silentLogger } from '../src/lib/logger.js';

const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');
mkdirSync(ARTIFACTS, { recursive: true });
const W = 1280;
const H = 720;
const CAPTION = 'Đang tiếp sóng VOV1';
/** #ticker's background (page.ts). */
const TICKER_RGB = [0x13, 0x31, 0x5c] as const;

const proof: BoardProofRow[] = [];
const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
board.on('proof', (r: BoardProofRow) => proof.push(r));
const profile = tempDir('chromium-live');
let context: BrowserContext;
let page: Page;

t.before(async () => {
  await board.start();
  // A notice with no ticker of its own: the band is hidden until a relay needs it.
  board.setSchedule({ defaultPlaylist: { id: 'd', items: [{ kind: 'notice', id: 'n', durationS: 3600, title: 'Lịch tiêm phòng', body: 'Thứ Hai, 8 giờ' }] } });
  context = await launchBrowser(profile, { width: W, height: H });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(board.url);
});

t.teardown(async () => {
  await context?.close();
  await board.stop();
  rmSync(profile, { recursive: true, force: true });
});

/** The ticker band (bottom 8 % of the screen, left of the corner clock): its share of ticker-blue pixels and of near-white (text) pixels. */
async function band(name: string): Promise<{ blue: number; white: number }> {
  const png = await page.screenshot();
  writeFileSync(join(ARTIFACTS, name), png);
  const rgb = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { input: png, maxBuffer: 16 * 1024 * 1024 });
  let blue = 0;
  let white = 0;
  let n = 0;
  for (let y = Math.ceil(H * 0.93); y < H; y++) {
    for (let x = 0; x < Math.floor(W * 0.85); x++) {
      const i = (y * W + x) * 3;
      const [r, g, b] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
      n++;
      if (Math.abs(r - TICKER_RGB[0]) <= 6 && Math.abs(g - TICKER_RGB[1]) <= 6 && Math.abs(b - TICKER_RGB[2]) <= 6) blue++;
      if (r > 200 && g > 200 && b > 200) white++;
    }
  }
  return { blue: blue / n, white: white / n };
}

/** Waits until the page has rendered a showing whose key starts with `prefix` ('' any) and has the live caption or not (null: either). */
const keyShown = (prefix: string, live: boolean | null, what: string) =>
  page
    .waitForFunction(([p, l]) => {
      const k = document.body.dataset.key ?? '';
      return k.startsWith(p) && (l === null || k.includes('|live:') === l);
    }, [prefix, live] as const, { timeout: 10_000, polling: 20 })
    .catch((err: Error) => {
      throw new Error(`the page did not show ${what}: ${err.message.split('\n')[0]}`);
    });

t.test('no relay: no ticker band', async (t) => {
  await keyShown('d/n@', false, 'the notice');
  const b = await band('live-before.png');
  t.ok(b.blue < 0.05, `the band is not drawn (${(b.blue * 100).toFixed(1)} % ticker blue)`);
});

t.test('a relay on air: the ticker says what it relays, in its own letters', async (t) => {
  board.setLiveCaption(CAPTION);
  await keyShown('d/n@', true, 'the live caption');
  t.equal(await page.evaluate(() => document.getElementById('ticker-text')!.textContent), CAPTION, 'the caption is the ticker\'s text');
  // The ticker scrolls in from the right edge: wait until its letters are on screen.
  let b = await band('live-on.png');
  for (let i = 0; i < 40 && b.white < 0.01; i++) {
    await new Promise((r) => setTimeout(r, 250));
    b = await band('live-on.png');
  }
  t.ok(b.blue > 0.5, `the band is drawn (${(b.blue * 100).toFixed(1)} % ticker blue)`);
  t.ok(b.white > 0.01, `with text in it (${(b.white * 100).toFixed(2)} % white)`);
  t.equal(board.showing()?.item.id, 'n', 'over the rotation, which goes on');
});

t.test('an emergency takes the screen without the caption; the relay\'s end takes the band away', async (t) => {
  board.setEmergency({ key: 'flood', title: 'Cảnh báo lũ quét' });
  await keyShown('emergency/', null, 'the emergency');
  t.equal(board.showing()?.ticker, '', 'no caption over an emergency');
  board.setEmergency(null);
  await keyShown('d/n@', true, 'the caption again after the emergency');
  board.setLiveCaption(null);
  await keyShown('d/n@', false, 'the notice without the caption');
  const b = await band('live-after.png');
  t.ok(b.blue < 0.05, `the band is gone (${(b.blue * 100).toFixed(1)} % ticker blue)`);
  t.ok(proof.some((r) => r.key.includes('|live:') && r.result !== 'failed'), 'the captioned showing has its proof-of-display row');
});
