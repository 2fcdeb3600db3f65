/**
 * A programme cut by a power cut resumes only within the grace window of
 * the last moment it was on air. Restarts that die again before any of it
 * is heard (relays still warming up) are not "on air": found by
 * `scripts/soak power`, where a programme chained resumes for 80 s past its
 * last sound and pushed three later programmes out.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { makeTestTone } from '../src/audio/tones.js';
import { killHard, loa, loaJson, simStationConfig, sleep, spawnDaemon, startDaemon, tonesHeard, until, type Daemon } from './daemon-fixture.js';

interface Row { result: string; reason?: string; content?: string }

t.test('restarts that die before the resumed programme is heard do not extend its grace window', async (t) => {
  const graceMs = 20_000; // far above a restart's start time (1-3 s on a loaded machine)
  const dir = mkdtempSync(join(tmpdir(), 'loa-resume-progress-'));
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  // A long amplifier warm-up: a restart killed as it begins the resumed session has sent nothing to the sink.
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'resume-progress', dir, sink, warmupMs: 5000, zoneLeadMs: 500 }, { schedule: { graceMs } })));
  let d: Daemon = await startDaemon(configPath);
  t.teardown(() => killHard(d));
  const tone = async (name: string, freq: number, seconds: number): Promise<string> =>
    (await loaJson<{ sha256: string }>(configPath, 'cache', 'import', await makeTestTone(join(dir, `${name}.wav`), 'ffmpeg', { durationMs: seconds * 1000, frequencyHz: freq }))).sha256;
  const [a, b] = [await tone('a', 440, 2), await tone('b', 660, 10)];
  const at = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 12 }).startOf('second');
  writeFileSync(join(dir, 'news.json'), JSON.stringify({ programmes: [{
    id: 'news', name: 'news', recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') }, items: [{ content: a }, { content: b }], zones: ['north'],
  }] }));
  t.equal((await loa('--config', configPath, 'schedule', 'import', join(dir, 'news.json'))).code, 0);
  const rows = async (): Promise<Row[]> => (await loaJson<{ rows: Row[] }>(configPath, 'log', '--limit', '50')).rows;

  await until('item a played', async () => ((await rows()).length >= 1 ? true : undefined), 60_000);
  await sleep(1000);
  await killHard(d); // b on air for a second: the last moment the programme was heard
  const cutMs = Date.now();
  rmSync(sink, { force: true });

  // Each restart resumes b and dies as soon as it says so, long before its relays are warm, until a few
  // seconds before the window from b's last sound closes. Were those restarts progress, the last of them
  // would keep b resumable at the next start.
  let restarts = 0;
  while (Date.now() < cutMs + graceMs - 4000) {
    d = spawnDaemon(configPath);
    await until('b resumed', async () => ((await loaJson<{ playing: { key: string } | null }>(configPath, 'status').catch(() => null))?.playing?.key.startsWith('occurrence:news') ? true : undefined), 150_000);
    await killHard(d);
    restarts++;
    t.same(tonesHeard(sink, [440, 660]), [], `restart ${restarts} died before the resumed programme was heard`);
    rmSync(sink, { force: true });
  }

  t.ok(restarts >= 3, `${restarts} restarts inside the window`);
  await sleep(Math.max(0, cutMs + graceMs + 1000 - Date.now()));
  d = await startDaemon(configPath);
  await sleep(10_000); // relays warm up (5.5 s) and b would be heard by now if it were resumed
  const log = await rows();
  t.same(log.filter((r) => r.content === b && r.result === 'played'), [], 'b not replayed');
  t.ok(log.some((r) => r.content === b && /grace window had passed/.test(r.reason ?? '')), 'b logged as not resumed: the grace window had passed');
  t.same(tonesHeard(sink, [440, 660]), [], 'nothing at the sink after the grace window of its last sound');
});

t.test('a supply failing every few seconds does not restart the cut item for ever: only its first return is progress', async (t) => {
  const graceMs = 20_000;
  const dir = mkdtempSync(join(tmpdir(), 'loa-resume-flicker-'));
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'resume-flicker', dir, sink }, { schedule: { graceMs } })));
  let d: Daemon = await startDaemon(configPath);
  t.teardown(() => killHard(d));
  const b = (await loaJson<{ sha256: string }>(configPath, 'cache', 'import', await makeTestTone(join(dir, 'b.wav'), 'ffmpeg', { durationMs: 10_000, frequencyHz: 660 }))).sha256;
  const at = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 6 }).startOf('second');
  writeFileSync(join(dir, 'news.json'), JSON.stringify({ programmes: [{
    id: 'news', name: 'news', recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') }, items: [{ content: b }], zones: ['north'],
  }] }));
  t.equal((await loa('--config', configPath, 'schedule', 'import', join(dir, 'news.json'))).code, 0);
  const heardB = (): number => (existsSync(sink) ? tonesHeard(sink, [660]).reduce((n, r) => n + r.durationS, 0) : 0);

  // The 10 s item is heard for about a second each time, then the power goes: every start restarts it from
  // its beginning. Its first return after the first cut opens the window; the later returns do not extend it.
  let firstReturnMs = 0;
  let returns = 0;
  for (let cuts = 0; ; cuts++) {
    await until('b heard', async () => (heardB() > 0.8 ? true : undefined), 60_000);
    if (cuts === 1) firstReturnMs = Date.now();
    if (cuts >= 1) returns++;
    await killHard(d);
    rmSync(sink, { force: true });
    if (firstReturnMs > 0 && Date.now() > firstReturnMs + graceMs - 6000) break;
    d = spawnDaemon(configPath);
  }
  t.ok(returns >= 3, `${returns} returns of b, each heard and cut`);
  await sleep(Math.max(0, firstReturnMs + graceMs + 1000 - Date.now()));
  d = await startDaemon(configPath);
  await sleep(4000);
  t.same(tonesHeard(sink, [660]), [], 'not restarted once the window from its first return has passed');
  const log = (await loaJson<{ rows: Row[] }>(configPath, 'log', '--limit', '50')).rows;
  t.same(log.filter((r) => r.result === 'played'), [], 'never played whole, and not claimed to');
  t.ok(log.some((r) => r.content === b && /grace window had passed/.test(r.reason ?? '')), 'logged as not resumed: the grace window had passed');
});
