/**
 * The kiosk watch against a real Chromium started the way the kiosk service
 * starts it (its own process behind the DevTools relay, the pipe carried
 * over a socket-activated Unix socket), not by the test framework: crashes,
 * hangs and stray pages are real.
 */
import t from 'tap';
import { startKiosk, type Kiosk } from './chromium-fixture.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DevtoolsClient } from '../src/board/devtools.js';
import { KioskWatch } from '../src/board/kiosk-watch.js';
import { BoardServer } from '../src/board/server.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './audio-fixture.js';

const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
const dir = tempDir('kiosk');
const socket = join(dir, 'devtools.sock');
let kiosk: Kiosk | null = null;
let profiles = 0;
const starts: string[] = [];

async function launch(): Promise<void> {
  kiosk = await startKiosk({ socket, profile: join(dir, `profile-${profiles++}`), url: board.url });
}
async function kill(): Promise<void> {
  await kiosk?.kill();
  kiosk = null;
}

let clock = 0;
const watch = () => new KioskWatch({
  devtoolsSocket: socket, boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 3000, staleMs: 10_000,
  expectedKey: () => board.showing()?.key ?? null, now: () => clock,
  restart: async (reason) => { starts.push(reason); await kill(); await launch(); },
});

/** Another DevTools client on the same socket, on the board's tab (a technician's tool, or this test). */
async function drive(t: { teardown(f: () => unknown): void }): Promise<(method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>> {
  const c = await DevtoolsClient.connect(socket, 3000);
  t.teardown(() => c.close());
  const { targetInfos } = await c.send('Target.getTargets', {}, { timeoutMs: 3000 });
  const page = (targetInfos as Array<{ targetId: string; type: string }>).find((i) => i.type === 'page')!;
  const { sessionId } = await c.send('Target.attachToTarget', { targetId: page.targetId, flatten: true }, { timeoutMs: 3000 });
  return (method, params = {}) => c.send(method, params, { sessionId: String(sessionId), timeoutMs: 3000 });
}
const evaluate = async (send: Awaited<ReturnType<typeof drive>>, expression: string): Promise<unknown> =>
  ((await send('Runtime.evaluate', { expression, returnByValue: true })).result as { value: unknown }).value;

t.before(async () => {
  await board.start();
  board.setSchedule({ defaultPlaylist: { id: 'd', items: [{ kind: 'text', id: 'x', durationS: 3600, text: 'Bảng tin xã' }] } });
  await launch();
});
t.teardown(async () => {
  await kill();
  await board.stop();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
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
  const send = await drive(t);
  const size = await evaluate(send, '[innerWidth, innerHeight]');
  t.same([png.readUInt32BE(16), png.readUInt32BE(20)], size, 'the whole page, as large as the window');
  await w.close();
  t.equal(kiosk?.child.exitCode, null, 'closing the watch leaves the kiosk browser running');
  t.equal(await settle(w), 'ok', 'and the watch reconnects');
});

t.test('a page left on another address is put back; a page stuck on an old showing is reloaded after a grace', async (t) => {
  const w = watch();
  t.teardown(() => w.close());
  t.equal(await settle(w), 'ok');
  const send = await drive(t);
  await send('Page.navigate', { url: 'about:blank' });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await w.check(), 'reloaded');
  t.equal(await settle(w), 'ok');

  // Freeze the page's idea of the current showing: it stops listening to the server.
  await evaluate(send, "document.body.dataset.key = 'old'");
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
  const send = await drive(t);
  // The loop starts after this call returns, so the probe below meets a renderer that never answers.
  await evaluate(send, 'setTimeout(() => { for (;;); }, 0)');
  await new Promise((r) => setTimeout(r, 200));
  const restarts: unknown[] = [];
  w.on('restart', (r) => restarts.push(r));
  t.equal(await w.check(), 'restarted');
  t.match(starts, [/page did not answer within 3000 ms/]);
  t.equal(await settle(w), 'ok', 'the new browser shows the board');

  await kiosk!.kill();
  t.equal(await w.check(), 'restarted');
  t.equal(starts.length, 2, 'a dead browser is restarted (seen as gone or silent, whichever the socket tells first)');
  t.equal(await settle(w), 'ok');
  t.equal(restarts.length, 2);
});

t.test('no browser behind the socket at all is a restart, with the reason', async (t) => {
  const reasons: string[] = [];
  const w = new KioskWatch({
    devtoolsSocket: join(dir, 'nobody.sock'), boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 2000,
    expectedKey: () => null, restart: async (reason) => { reasons.push(reason); },
  });
  t.teardown(() => w.close());
  t.equal(await w.check(), 'restarted');
  t.match(reasons, [/^browser unreachable: DevTools socket .*nobody\.sock: connect ENOENT/]);
  await t.rejects(w.screenshot(), 'no screenshot without a browser');
});
