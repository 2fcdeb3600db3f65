import t from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { makeTestTone } from '../src/audio/tones.js';
import { launchBrowser } from './chromium-fixture.js';
import { until } from './sync-fixture.js';
import { startProvince } from './province-fixture.js';
import { simStationConfig } from './daemon-fixture.js';

/** Runs `loa ARGS` in-process against the daemon; returns exit code and output. */
async function loa(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--config', configPath, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** Like `until`, for probes that ask the daemon (async). */
async function eventually<T>(probe: () => Promise<T | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => false as const);
    if (v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await loa('--json', ...args);
  if (r.code !== 0) throw new Error(`loa ${args.join(' ')}: ${r.err || r.out}`);
  return JSON.parse(r.out) as T;
}

function startDaemon(): Promise<ChildProcess> {
  const child = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 90_000; // a loaded 2-core machine compiles the TypeScript slowly
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null) return reject(new Error(`daemon exited ${child.exitCode}: ${stderr}`));
      if ((await loa('status', '--json')).code === 0) return resolve(child);
      if (Date.now() > deadline) return reject(new Error(`daemon not ready: ${stderr}`));
      setTimeout(() => void poll(), 100);
    };
    void poll();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'loa-proof-daemon-'));
const configPath = join(dir, 'config.json');

interface BoardStatus { url: string; emergency: boolean; showing: { key: string } | null; pages: { showingConfirmedMs: number | null } }
interface ShowingRow { id: string; key: string; source: string; result: string; shownMs: number | null; endedMs: number }

t.test('proof of display survives kill -9, shows in loa board log and is sent again by upload-log', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'proof-daemon', locale: 'vi', dir, sink: join(dir, 'out.raw') }, {
    board: { port: 0, display: { driver: 'sim' } },
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  })));

  let daemon = await startDaemon();
  t.teardown(() => { daemon.kill('SIGKILL'); });
  const browser = await launchBrowser(join(dir, 'profile'), { width: 640, height: 360 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto((await json<BoardStatus>('board', 'status')).url);
  // The built-in clock is a new showing every minute: not within seconds of one, or the emergency cuts the next.
  const second = new Date().getSeconds();
  if (second >= 45) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
  const before = await eventually(async () => {
    const s = await json<BoardStatus>('board', 'status');
    return s.pages.showingConfirmedMs !== null && s;
  }, 20_000, 'the page to confirm the board\'s showing');

  // An emergency cuts the showing; the agent dies while the emergency is on screen.
  const alert = await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 8000, frequencyHz: 1500 });
  t.equal((await loa('play', alert, '--class', 'emergency', '--label', 'Lũ quét')).code, 0);
  await eventually(async () => {
    const s = await json<BoardStatus>('board', 'status');
    return s.emergency && s.pages.showingConfirmedMs !== null;
  }, 20_000, 'the emergency confirmed on screen');
  daemon.kill('SIGKILL');
  await new Promise((r) => daemon.once('exit', r));

  daemon = await startDaemon();
  const rows = (await json<{ rows: ShowingRow[] }>('board', 'log')).rows;
  const cut = rows.find((r) => r.key === before.showing!.key);
  t.ok(cut, `the showing cut by the emergency was written before the crash (${JSON.stringify(rows)})`);
  t.equal(cut!.result, 'interrupted');
  t.ok(cut!.shownMs !== null && cut!.shownMs <= cut!.endedMs, 'confirmed on screen by the page, then ended');
  t.match((await loa('board', 'log')).out, /bị cắt/, 'in Vietnamese by the station locale');
  t.match((await loa('--lang', 'en', 'board', 'log')).out, /interrupted/);

  // The province lost what it had received; upload-log sends the showing again under its own id.
  await eventually(async () => (await json<{ sync: { connected: boolean } }>('status')).sync.connected, 20_000, 'the station back online');
  await until(() => province.received.has(cut!.id), 20_000, 'the showing at the province as first sent');
  province.received.clear();
  const cmd = await province.send({ station: 'proof-daemon' }, { action: 'upload-log', sinceMs: 0, maxRows: 1000 });
  const answer = await province.waitResponse(cmd.id);
  t.equal(answer.status, 'done');
  t.ok((answer.result as { showings: number }).showings >= rows.length, 'every stored showing re-sent');
  const again = await until(() => province.received.get(cut!.id), 20_000, 'the showing sent again');
  t.match(again.body, { event: 'board.shown', data: { id: cut!.id, key: cut!.key, result: 'interrupted' } });
});
