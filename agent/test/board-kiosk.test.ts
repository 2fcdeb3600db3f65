/**
 * The kiosk watch against a real Chromium started the way the kiosk service
 * starts it (its own process, DevTools on a loopback port), not by the test
 * framework: crashes, hangs and stray pages are real.
 */
import t from 'tap';
import { HEADLESS_ARGS, freePort } from './chromium-fixture.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { KioskWatch } from '../src/board/kiosk-watch.js';
import { BoardServer } from '../src/board/server.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';


const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
let browser: ChildProcess | null = null;
let port = 0;
const profiles: string[] = [];
const starts: string[] = [];

async function launch(): Promise<void> {
  const profile = tempDir('kiosk');
  profiles.push(profile);
  browser = spawn('/usr/bin/chromium', [
    ...HEADLESS_ARGS,
    `--remote-debugging-port=${port}`, '--remote-debugging-address=127.0.0.1', `--user-data-dir=${profile}`, '--window-size=1280,720', board.url,
  ], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/json/version`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('chromium DevTools endpoint did not come up');
}
async function kill(): Promise<void> {
  const b = browser;
  browser = null;
  if (!b || b.exitCode !== null || b.signalCode !== null) return;
  const gone = new Promise((r) => b.once('exit', r));
  b.kill('SIGKILL');
  await gone;
}

let clock = 0;
const watch = () => new KioskWatch({
  cdpUrl: `http://127.0.0.1:${port}`, boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 3000, staleMs: 10_000,
  expectedKey: () => board.showing()?.key ?? null, now: () => clock,
  restart: async (reason) => { starts.push(reason); await kill(); await launch(); },
});

t.before(async () => {
  await board.start();
  board.setSchedule({ defaultPlaylist: { id: 'd', items: [{ kind: 'text', id: 'x', durationS: 3600, text: 'Bảng tin xã' }] } });
  port = await freePort();
  await launch();
});
t.teardown(async () => {
  await kill();
  await board.stop();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

/** Probes until the page has rendered (first paint after a (re)start takes a moment). */
async function settle(w: KioskWatch): Promise<string> {
  let last = '';
  for (let i = 0; i < 50 && last !== 'ok'; i++) {
    last = await w.check();
    if (last !== 'ok') await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

t.test('a healthy kiosk is ok; the screenshot is the panel, as PNG', async (t) => {
  const w = watch();
  t.teardown(() => w.close());
  t.equal(await settle(w), 'ok');
  const png = await w.screenshot();
  t.same([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  const cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  const size = await cdp.contexts()[0]!.pages()[0]!.evaluate(() => [innerWidth, innerHeight]);
  await cdp.close();
  t.same([png.readUInt32BE(16), png.readUInt32BE(20)], size, 'the whole page, as large as the window');
  await w.close();
  t.equal(browser?.exitCode, null, 'closing the watch leaves the kiosk browser running');
});

t.test('a page left on another address is put back; a page stuck on an old showing is reloaded after a grace', async (t) => {
  const w = watch();
  t.teardown(() => w.close());
  t.equal(await settle(w), 'ok');
  const cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  t.teardown(() => cdp.close());
  const page = cdp.contexts()[0]!.pages()[0]!;
  await page.goto('about:blank');
  t.equal(await w.check(), 'reloaded');
  t.equal(await settle(w), 'ok');

  // Freeze the page's idea of the current showing: it stops listening to the server.
  await page.evaluate(() => { document.body.dataset.key = 'old'; });
  t.equal(await w.check(), 'lagging', 'a moment of lag is tolerated');
  clock += 10_001;
  t.equal(await w.check(), 'reloaded');
  t.equal(await settle(w), 'ok');
  t.same(starts, [], 'no browser restart for a page problem');
});

t.test('a hung renderer and a crashed browser are restarted', async (t) => {
  const w = watch();
  t.teardown(() => w.close());
  t.equal(await settle(w), 'ok');
  const cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  const page = cdp.contexts()[0]!.pages()[0]!;
  // The loop starts after this call returns, so the probe below meets a renderer that never answers.
  await page.evaluate(() => { setTimeout(() => { for (;;); }, 0); });
  await new Promise((r) => setTimeout(r, 200));
  const restarts: unknown[] = [];
  w.on('restart', (r) => restarts.push(r));
  t.equal(await w.check(), 'restarted');
  t.match(starts, [/page did not answer within 3000 ms/]);
  await cdp.close().catch(() => undefined);
  t.equal(await settle(w), 'ok', 'the new browser shows the board');

  browser!.kill('SIGKILL');
  await new Promise((r) => browser!.once('exit', r));
  t.equal(await w.check(), 'restarted');
  t.equal(starts.length, 2, 'a dead browser is restarted (seen as gone or silent, whichever the socket tells first)');
  t.equal(await settle(w), 'ok');
  t.equal(restarts.length, 2);
});

t.test('no browser listening at all is a restart, with the reason', async (t) => {
  const reasons: string[] = [];
  const w = new KioskWatch({
    cdpUrl: `http://127.0.0.1:${await freePort()}`, boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 2000,
    expectedKey: () => null, restart: async (reason) => { reasons.push(reason); },
  });
  t.teardown(() => w.close());
  t.equal(await w.check(), 'restarted');
  t.match(reasons, [/^browser unreachable: /]);
  await t.rejects(w.screenshot(), 'no screenshot without a browser');
});
