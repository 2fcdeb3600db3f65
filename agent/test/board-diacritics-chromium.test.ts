/**
 * The screen shows every diacritic: in real headless Chromium, at 1920×1080
 * and 1280×720, each layout's text is compared pixel for pixel with the
 * same page where nothing may clip (every overflow visible, every height
 * free), and every line's ink must stay inside its own line box (a mark
 * above a capital never reaches the line above, a dot below never the line
 * below). Screenshots are kept under artifacts/board/ for a human to look at.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from './chromium-fixture.js';
import { BoardServer } from '../src/board/server.js';
import type { BoardEmergencyInput, BoardScheduleInput } from '../src/board/playlist.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';

const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');
mkdirSync(ARTIFACTS, { recursive: true });

const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
const profile = tempDir('chromium-marks');
let context: BrowserContext;
let page: Page;

t.before(async () => {
  await board.start();
  context = await launchBrowser(profile, { width: 1920, height: 1080 });
  page = context.pages()[0] ?? (await context.newPage());
});
t.teardown(async () => {
  await context?.close();
  await board.stop();
  rmSync(profile, { recursive: true, force: true });
});

interface Image { width: number; height: number; rgb: Buffer }
/** A screenshot, decoded by ffmpeg into RGB rows. */
async function screenshot(name: string): Promise<Image> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  const { width, height } = page.viewportSize()!;
  const rgb = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  return { width, height, rgb };
}
const px = (img: Image, x: number, y: number): [number, number, number] => {
  const o = (y * img.width + x) * 3;
  return [img.rgb[o]!, img.rgb[o + 1]!, img.rgb[o + 2]!];
};
const differs = (a: [number, number, number], b: [number, number, number], by = 48): boolean => Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) > by;

interface LineBox { block: string; top: number; bottom: number; left: number; right: number }
interface Layout { lines: LineBox[]; stage: { top: number; bottom: number }; cut: number }
/** Every line box of the text blocks on screen: a text fragment's rect widened by the half-leading. */
function layout(selectors: string[]): Promise<Layout> {
  return page.evaluate((sels) => {
    const lines: LineBox[] = [];
    for (const sel of sels) {
      for (const block of Array.from(document.querySelectorAll<HTMLElement>(sel))) {
        const lh = parseFloat(getComputedStyle(block).lineHeight);
        const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
        const range = document.createRange();
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          range.selectNodeContents(n);
          const b = block.getBoundingClientRect();
          for (const r of Array.from(range.getClientRects())) {
            const g = (lh - r.height) / 2;
            lines.push({ block: sel, top: r.top - g, bottom: r.bottom + g, left: b.left, right: b.right });
          }
        }
      }
    }
    const s = document.getElementById('stage')!.getBoundingClientRect();
    return { lines, stage: { top: s.top, bottom: s.bottom }, cut: document.querySelectorAll('.more').length };
  }, selectors);
}

/** Lays the same showing out with nothing allowed to clip, and screenshots it. */
async function unclipped(name: string): Promise<Image> {
  await page.addStyleTag({ content: '#stage, #stage * { overflow: visible !important; max-height: none !important; } .cut { height: auto !important; }' });
  return screenshot(`${name}-unclipped`);
}

async function show(setup: () => void, keyPrefix: string): Promise<void> {
  await page.goto(board.url);
  setup();
  await page.waitForFunction((p) => (document.body.dataset.key ?? '').startsWith(p), keyPrefix, { timeout: 10_000, polling: 20 });
}

/**
 * The checks: (1) the stage's pixels equal the unclipped rendering's (no
 * mark, no line lost to a box edge); (2) no line's ink touches the edge of
 * its line box (marks and dots never collide with the neighbour line).
 */
async function checkWhole(t: Test, name: string, selectors: string[]): Promise<void> {
  const shot = await screenshot(name);
  const l = await layout(selectors);
  t.ok(l.lines.length > 0, `${name}: text on screen`);
  t.equal(l.cut, 0, `${name}: nothing needed cutting`);
  const top = Math.max(0, Math.floor(l.stage.top));
  // The page's own colour, from the stage's padding corner (navy, or red for an emergency).
  const background = px(shot, 2, top + 2);
  const bottom = Math.min(shot.height, Math.ceil(l.stage.bottom));
  // The line boxes' edges, one pixel row either side, inside the block's width.
  let touching: string[] = [];
  for (const line of l.lines) {
    for (const edge of [line.top, line.bottom]) {
      for (const y of [Math.floor(edge) - 1, Math.floor(edge), Math.floor(edge) + 1]) {
        if (y < top || y >= bottom) continue;
        for (let x = Math.max(0, Math.floor(line.left)); x < Math.min(shot.width, Math.ceil(line.right)); x++) {
          if (differs(px(shot, x, y), background)) {
            touching.push(`${line.block} y=${y} x=${x}`);
            break;
          }
        }
      }
    }
  }
  touching = [...new Set(touching)];
  t.same(touching.slice(0, 5), [], `${name}: every line's ink stays inside its line box (${l.lines.length} lines)`);
  const ref = await unclipped(name);
  let diff = 0;
  let firstDiff = '';
  for (let y = top; y < bottom; y++) {
    for (let x = 0; x < shot.width; x++) {
      if (differs(px(shot, x, y), px(ref, x, y), 32)) {
        if (diff++ === 0) firstDiff = `x=${x} y=${y}`;
      }
    }
  }
  t.equal(diff, 0, `${name}: the board draws exactly what an unclipped rendering draws${diff ? ` (first difference at ${firstDiff})` : ''}`);
}

const VIEWPORTS = [{ width: 1920, height: 1080 }, { width: 1280, height: 720 }];
const only = (items: BoardScheduleInput['defaultPlaylist']['items']): BoardScheduleInput => ({ defaultPlaylist: { id: 'd', items } });
const emergency = (e: BoardEmergencyInput) => () => {
  board.setSchedule(only([{ kind: 'clock', id: 'clock', durationS: 3600 }]));
  board.setEmergency(e);
};
const STACKED = 'ẨN ẪNG ẶC ỖNG ẤP ỂU ỄNH ỆT Ổ ỠI';
const DOTS_BELOW = 'nặng ộp ợt ậm ệt ịt ọc ụt ựa ỵ';

const CASES: Array<{ name: string; setup: () => void; key: string; selectors: string[] }> = [
  { name: 'emergency-fallback-title', setup: emergency({ key: 'e1', title: '' }), key: 'emergency/e1/', selectors: ['.title'] },
  {
    name: 'emergency-long-title',
    setup: emergency({
      key: 'e2', title: 'Cảnh báo khẩn cấp: lũ quét và sạt lở đất tại bản Nậm Ẩn, Huổi Ẫng và Pá Ặc',
      text: `Mưa rất to kéo dài. ${DOTS_BELOW}. ${STACKED}.`, instructions: 'Di chuyển ngay lên vùng cao; không qua ngầm, tràn, suối Nậm Na.',
    }),
    key: 'emergency/e2/', selectors: ['.title', '.alert-text', '.instructions'],
  },
  {
    name: 'notice-stacked-marks',
    setup: () => { board.setEmergency(null); board.setSchedule(only([{ kind: 'notice', id: 'n', durationS: 3600, issuer: 'UBND XÃ MƯỜNG TÈ', title: `${STACKED} ${STACKED}`, body: `${DOTS_BELOW}\n${STACKED}\n${DOTS_BELOW} ${STACKED}`.repeat(3) }])); },
    key: 'd/n@', selectors: ['.issuer', '.title', '.body'],
  },
  {
    name: 'text-stacked-marks',
    setup: () => { board.setEmergency(null); board.setSchedule(only([{ kind: 'text', id: 'x', durationS: 3600, text: `${STACKED}\n${DOTS_BELOW}\n${STACKED.toLowerCase()}` }])); },
    key: 'd/x@', selectors: ['.body'],
  },
  {
    name: 'qr-long-url',
    setup: () => {
      board.setEmergency(null);
      board.setSchedule(only([{
        kind: 'qr', id: 'q', durationS: 3600,
        url: 'https://dichvucong.laichau.gov.vn/phan-anh-kien-nghi/gui-phan-anh?xa=muong-te&huyen=muong-te&linh-vuc=dat-dai-moi-truong&nguon=bang-tin-dien-tu&ma=2026-11-27-ABCDEF0123456789',
        title: 'Góp ý, phản ánh, kiến nghị của người dân về thủ tục hành chính và đất đai của xã Mường Tè',
        caption: 'Quét mã bằng điện thoại (Zalo hoặc máy ảnh) để gửi ý kiến; cán bộ xã trả lời trong 5 ngày làm việc',
      }]));
    },
    key: 'd/q@', selectors: ['.title', '.caption', '.qr-url'],
  },
];

for (const vp of VIEWPORTS) {
  for (const c of CASES) {
    t.test(`${c.name} at ${vp.width}×${vp.height}: every mark drawn, nothing clipped`, async (t) => {
      await page.setViewportSize(vp);
      await show(c.setup, c.key);
      await checkWhole(t, `${c.name}-${vp.width}`, c.selectors);
      if (c.name === 'emergency-fallback-title') t.equal(await page.textContent('.title'), 'Thông báo khẩn cấp', 'a blank title falls back to the default');
      if (c.name === 'qr-long-url') {
        const decoded = execFileSync('zbarimg', ['--quiet', '--raw', join(ARTIFACTS, `${c.name}-${vp.width}.png`)], { encoding: 'utf8' }).trim();
        t.match(decoded, /^https:\/\/dichvucong\.laichau\.gov\.vn\//, 'the code still decodes');
      }
    });
  }
}

t.test('text too long even at the smallest type is cut between lines, marked, and reported', async (t) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  const body = `${DOTS_BELOW} ${STACKED}. `.repeat(400);
  await show(() => board.setSchedule(only([{ kind: 'notice', id: 'long', durationS: 3600, title: 'Thông báo', body }])), 'd/long@');
  await page.waitForFunction(() => document.querySelector('.more') !== null, undefined, { timeout: 5000 });
  const shot = await screenshot('notice-cut-1280');
  const box = await page.evaluate(() => {
    const b = document.querySelector('.body')!.getBoundingClientRect();
    const m = document.querySelector('.more')!.getBoundingClientRect();
    const s = document.getElementById('stage')!.getBoundingClientRect();
    return { bottom: b.bottom, left: b.left, right: b.right, more: { top: m.top, bottom: m.bottom, left: m.left, right: m.right }, stageBottom: s.bottom, fontPx: parseFloat(getComputedStyle(document.querySelector('.body')!).fontSize) };
  });
  t.ok(box.more.bottom <= box.stageBottom, 'the "…" is on screen');
  t.ok(box.fontPx >= 12, `the type stopped at its floor (${box.fontPx}px)`);
  const bg: [number, number, number] = [0x0b, 0x25, 0x45];
  let moreInk = 0;
  for (let y = Math.ceil(box.more.top); y < Math.floor(box.more.bottom); y++) {
    for (let x = Math.ceil(box.more.left); x < Math.floor(box.more.right); x++) if (differs(px(shot, x, y), bg)) moreInk++;
  }
  t.ok(moreInk > 20, `the "…" is drawn (${moreInk} pixels)`);
  // The cut falls between two lines: the last row of the body has no ink.
  const y = Math.floor(box.bottom) - 1;
  let edgeInk = 0;
  for (let x = Math.ceil(box.left); x < Math.floor(box.right); x++) if (differs(px(shot, x, y), bg)) edgeInk++;
  t.equal(edgeInk, 0, `no glyph is cut through (row ${y} of a body ending at ${box.bottom})`);
  await t.resolves(async () => {
    for (let i = 0; i < 100 && board.pages().showingTruncated.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  });
  t.same(board.pages().showingTruncated, ['body'], 'the page told the agent what it had to cut');
});

t.test('emoji render in colour', async (t) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await show(() => board.setSchedule(only([{ kind: 'text', id: 'emoji', durationS: 3600, text: '⚠️🔥 Cháy rừng' }])), 'd/emoji@');
  const shot = await screenshot('emoji-1280');
  const r = await page.evaluate(() => {
    const b = document.querySelector('.body')!.getBoundingClientRect();
    return { top: b.top, bottom: b.bottom, left: b.left, right: b.right };
  });
  // The background is navy and the text white: their blends all have blue ≥ red. Emoji yellow and orange do not.
  let warm = 0;
  for (let y = Math.ceil(r.top); y < Math.floor(r.bottom); y++) {
    for (let x = Math.ceil(r.left); x < Math.floor(r.right); x++) {
      const [red, , blue] = px(shot, x, y);
      if (red - blue > 100) warm++;
    }
  }
  t.ok(warm > 500, `colour emoji pixels on screen (${warm})`);
});
