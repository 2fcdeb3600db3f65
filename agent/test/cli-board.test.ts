/**
 * `loa board ...` against a running agent with a board, its player page open
 * in real headless Chromium: what shows, what comes next, one item put on
 * screen by field staff and the rotation after it, and the refusals.
 */
import t from 'tap';
import { HEADLESS_ARGS } from './chromium-fixture.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { main } from '../src/cli/main.js';
import type { BoardProofRow } from '../src/board/server.js';
import type { BoardNow } from '../src/board/playlist.js';
import { startStation, type Station } from './station-fixture.js';
import { waitEvent } from './wait.js';

async function loa(configPath: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--config', configPath, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}
const json = async <T>(configPath: string, ...args: string[]): Promise<T> => {
  const r = await loa(configPath, '--json', ...args);
  if (r.code !== 0) throw new Error(`loa ${args.join(' ')}: ${r.out}${r.err}`);
  return JSON.parse(r.out) as T;
};
/** The CLI reads the same file the daemon was started from. */
const configFile = (s: Station): string => {
  const path = join(s.dir, 'config.json');
  writeFileSync(path, JSON.stringify(s.config));
  return path;
};

interface Status {
  emergency: boolean;
  showing: { itemId: string; kind: string; source: string; sinceMs: number; untilMs: number | null };
  pages: { connected: number; lastAckMs: number | null; showingConfirmedMs: number | null };
  kiosk: unknown;
}
interface Next { emergency: boolean; showings: Array<{ itemId: string; kind: string; source: string; label: string; startMs: number; endMs: number }> }

// Playwright gives the browser a fresh profile of its own.
let browser: Browser;
t.before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: HEADLESS_ARGS,
  });
});
t.teardown(async () => {
  await browser?.close();
});

t.test('status, next and show against the running agent', async (t) => {
  const s = await startStation({ board: { port: 0 } });
  t.teardown(() => s.stop());
  const cfg = configFile(s);
  const board = s.agent.board!.server;
  // What the province would send: a two-item rotation, and a playlist kept for operators (no dayparts: never scheduled).
  board.setSchedule({
    playlists: [{ id: 'spare', items: [{ kind: 'notice', id: 'meeting', durationS: 2, title: 'Họp dân tối thứ Sáu', body: 'Tại nhà văn hoá thôn 3', issuer: 'UBND xã' }] }],
    defaultPlaylist: { id: 'main', items: [{ kind: 'text', id: 'a', durationS: 3, text: 'Một' }, { kind: 'text', id: 'b', durationS: 3, text: 'Hai' }] },
  });

  const alone = await loa(cfg, 'board', 'status');
  t.equal(alone.code, 0, alone.err);
  t.match(alone.out, /Board: text "[ab]" \(main\) — (Một|Hai)\n/, 'English by the station locale');
  t.match(alone.out, /NO page connected/, 'no player page yet: said plainly');
  t.match(alone.out, /Kiosk browser: not supervised/);
  t.match((await loa(cfg, '--lang', 'vi', 'board')).out, /Bảng tin: chữ "[ab]" \(main\)/, '`loa board` is status, in Vietnamese on request');

  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  t.teardown(() => page.close());
  await page.goto(board.url);
  await page.waitForFunction(() => (document.body.dataset.key ?? '').startsWith('main/'));
  let status = await json<Status>(cfg, 'board', 'status');
  for (let i = 0; i < 50 && status.pages.showingConfirmedMs === null; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = await json<Status>(cfg, 'board', 'status');
  }
  t.match(status, { emergency: false, showing: { source: 'main', kind: 'text' }, pages: { connected: 1, lastAckMs: Number, showingConfirmedMs: Number }, kiosk: null });
  t.match((await loa(cfg, 'board', 'status')).out, /Player page: 1 connected, last answered \d\d:\d\d:\d\d/);

  // Status first: should the rotation turn in between, the list only starts later.
  const nowShowing = (await json<Status>(cfg, 'board', 'status')).showing;
  const next = await json<Next>(cfg, 'board', 'next', '--limit', '4');
  t.equal(next.showings.length, 4);
  t.same(next.showings.map((x) => x.source), ['main', 'main', 'main', 'main']);
  t.ok(next.showings.every((x, i) => i === 0 || (x.itemId !== next.showings[i - 1]!.itemId && x.startMs === next.showings[i - 1]!.endMs)), 'back to back, alternating');
  t.ok(next.showings[0]!.startMs >= nowShowing.untilMs!, 'the list starts after the showing on screen');
  t.ok(next.showings.every((x) => x.endMs - x.startMs === 3000), 'each for its duration');
  const table = (await loa(cfg, 'board', 'next', '--limit', '2')).out.split('\n').filter(Boolean);
  t.match(table[0], /^Start\s+End\s+Kind\s+Playlist\s+Item\s+Content$/, 'a header row');
  t.match(table[1], /^\d\d:\d\d:\d\d {2}\d\d:\d\d:\d\d {2}text\s+main\s+[ab]\s+(Một|Hai)$/);
  t.equal(table.length, 3);

  // Field staff put the meeting notice on screen; it stays its 2 s, then the rotation takes over again.
  const proof: BoardProofRow[] = [];
  board.on('proof', (r: BoardProofRow) => proof.push(r));
  let operatorShown = false;
  // The first non-operator showing after the operator's (the rotation may turn before the command lands).
  const resumed = waitEvent<BoardNow>(board, 'show', (n) => (operatorShown ||= n.source === 'operator') && n.source !== 'operator', 10_000);
  const shown = await loa(cfg, 'board', 'show', 'meeting');
  t.equal(shown.code, 0, shown.err);
  t.match(shown.out, /^Showing notice "meeting" until \d\d:\d\d:\d\d; then the board returns to its rotation\.$/m);
  const during = await json<Status>(cfg, 'board', 'status');
  t.match(during.showing, { itemId: 'meeting', kind: 'notice', source: 'operator' });
  t.equal(during.showing.untilMs! - during.showing.sinceMs, 2000);
  await page.waitForFunction(() => document.querySelector('.title')?.textContent === 'Họp dân tối thứ Sáu', undefined, { timeout: 5000 });
  t.pass('the page draws the chosen notice');
  const back = await resumed;
  t.equal(back.source, 'main', 'the rotation resumes');
  t.ok(Date.now() >= during.showing.untilMs! - 50, 'not before the item had its time');
  await page.waitForFunction(() => (document.body.dataset.key ?? '').startsWith('main/'), undefined, { timeout: 5000 });
  t.match(proof.find((r) => r.itemId === 'meeting'), { source: 'operator', kind: 'notice', result: 'completed', shownMs: Number }, 'a proof row from the operator');

  const unknown = await loa(cfg, 'board', 'show', 'nope');
  t.equal(unknown.code, 1);
  t.match(unknown.err, /No item "nope"\. Items: .*meeting/, 'the unknown id is named, with the ones that exist');
  const wrongList = await loa(cfg, '--json', 'board', 'show', 'a', '--playlist', 'spare');
  t.match(JSON.parse(wrongList.out), { error: { code: 'unknown-item', message: /No item "a"\. Items: meeting/, params: { item: 'a', known: 'meeting' } } });
  t.equal((await loa(cfg, 'board', 'show')).code, 2, 'show without an item is a usage error');
  t.equal((await loa(cfg, 'board', 'sideways')).code, 2);

  board.setEmergency({ key: 'flood', title: 'Cảnh báo lũ quét' });
  t.teardown(() => board.setEmergency(null));
  const refused = await loa(cfg, '--lang', 'vi', 'board', 'show', 'meeting');
  t.equal(refused.code, 1);
  t.match(refused.err, /Bảng tin đang hiện thông báo khẩn cấp: không hiện mục khác được/, 'refused during an emergency, in Vietnamese');
  t.match(await json<Status>(cfg, 'board', 'status'), { emergency: true, showing: { source: 'emergency', untilMs: null } });
  t.match((await loa(cfg, 'board', 'status')).out, /Board: an EMERGENCY holds the screen: emergency "flood" \(emergency\) — Cảnh\s+báo\s+lũ\s+quét\n {2,4}since .*until the emergency ends/);
  const after = await loa(cfg, 'board', 'next', '--limit', '2');
  t.match(after.out, /^Emergency on screen; when it ends the board shows:\nStart/);

  const noKiosk = await loa(cfg, 'board', 'screenshot', join(s.dir, 'shot.png'));
  t.equal(noKiosk.code, 1);
  t.match(noKiosk.err, /No kiosk browser is configured \(board\.kiosk\)/);
  t.match(JSON.parse((await loa(cfg, '--json', 'board', 'screenshot')).out), { error: { code: 'no-kiosk' } });
});

t.test('a station without a board says so', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const cfg = configFile(s);
  for (const sub of ['status', 'next', 'screenshot']) {
    const r = await loa(cfg, 'board', sub);
    t.equal(r.code, 1, sub);
    t.match(r.err, /This station has no bulletin board \(no "board" section in its configuration\)/, sub);
  }
  t.match((await loa(cfg, '--lang', 'vi', 'board', 'show', 'x')).err, /Đài này không có bảng tin điện tử/);
});
