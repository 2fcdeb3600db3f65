/**
 * The clock cannot poison the schedule: the real daemon under libfaketime
 * with its wall clock five years behind, then five years ahead, importing a
 * daily schedule; then the right time. No false "missed" rows, the schedule
 * plays (at the sink), and the clock ahead is never saved as last seen.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { makeTestTone } from '../src/audio/tones.js';
import { databasePath } from '../src/store/database.js';
import { fakeClock, killHard, loa, loaJson, sleep, startDaemon, stopDaemon, tonesHeard, until, type Daemon } from './daemon-fixture.js';

const FIVE_YEARS_DAYS = 1826;
const ZONE = 'Asia/Ho_Chi_Minh';

interface Row { result: string; programmeId?: string; content?: string }
type TestLike = Pick<typeof t, 'ok' | 'same' | 'equal'>;
interface Clock { trusted: boolean; reason: string; nowMs: number }

function station(): { dir: string; configPath: string; sink: string; configure(trustWithoutSync: boolean): void } {
  const dir = mkdtempSync(join(tmpdir(), 'loa-clock-'));
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  return {
    dir,
    configPath,
    sink,
    configure(trustWithoutSync) {
      writeFileSync(configPath, JSON.stringify({
        station: { id: 'clock-test', locale: 'en' },
        paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
        relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }], zoneLeadMs: 50, tailMs: 100 },
        audio: { sink: { kind: 'file', path: sink }, chime: { enabled: false } },
        // trustWithoutSync stands for NTP here: this machine has no time service to say it is synchronised.
        clock: { trustWithoutSync },
        log: { level: 'warn' },
      }));
    },
  };
}

/** A daily programme at the real time of day `at` (the same time of day under the shifted clocks: whole days). */
async function importDaily(s: { dir: string; configPath: string }, sha: string, at: DateTime): Promise<void> {
  const file = join(s.dir, 'daily.json');
  writeFileSync(file, JSON.stringify({ programmes: [{ id: 'daily', name: 'Daily news', recurrence: { kind: 'daily', time: at.toFormat('HH:mm:ss') }, items: [{ content: sha }], zones: ['north'] }] }));
  const r = await loa('--config', s.configPath, 'schedule', 'import', file);
  if (r.code !== 0) throw new Error(r.err);
}

async function importTone(s: { dir: string; configPath: string }): Promise<string> {
  const file = await makeTestTone(join(s.dir, 'news.wav'), 'ffmpeg', { durationMs: 10_000, frequencyHz: 660 });
  return (await loaJson<{ sha256: string }>(s.configPath, 'cache', 'import', file)).sha256;
}

const clockOf = async (configPath: string): Promise<Clock> => (await loaJson<{ clock: Clock }>(configPath, 'status')).clock;
const rows = async (configPath: string): Promise<Row[]> => (await loaJson<{ rows: Row[] }>(configPath, 'log', '--limit', '200')).rows;

function lastSeen(dir: string): number | null {
  const db = new Database(databasePath(join(dir, 'state')), { readonly: true });
  try {
    const r = db.prepare("SELECT value FROM meta WHERE key = 'clock.last_seen_ms'").get() as { value: string } | undefined;
    return r ? Number(r.value) : null;
  } finally {
    db.close();
  }
}

/** At the right time: the daily programme plays once at `at`, and nothing is reported missed. */
async function playsAtTheRightTime(t: TestLike, s: ReturnType<typeof station>, at: DateTime, sha: string): Promise<void> {
  t.ok(Date.now() < at.toMillis() - 2000, 'the station was up before the programme was due (a machine too slow fails here)');
  await until('the daily programme played', async () => ((await rows(s.configPath)).some((x) => x.result === 'played') ? true : undefined), at.toMillis() - Date.now() + 40_000);
  await sleep(1000);
  const all = await rows(s.configPath);
  t.same(all.map((r) => [r.programmeId, r.content, r.result]), [['daily', sha, 'played']], 'one row, played: no false missed rows for the days before');
  const heard = tonesHeard(s.sink, [660]);
  t.same(heard.map((r) => r.freq), [660], `the programme's tone at the sink, once: ${JSON.stringify(heard)}`);
  // That it played is this test's point; that every last sample arrives is point 1's (audio) proof.
  t.ok(heard[0]!.durationS > 7, `${heard[0]?.durationS} s of 10 at the sink`);
}

t.test('a schedule imported under a clock five years behind, then the right time', async (t) => {
  const s = station();
  s.configure(false);
  let d: Daemon = await startDaemon(s.configPath, fakeClock(-FIVE_YEARS_DAYS));
  t.teardown(() => killHard(d));
  const wrong = await clockOf(s.configPath);
  t.ok(wrong.nowMs < Date.now() - 4 * 365 * 86_400_000, 'the daemon sees a clock years behind');
  t.same({ trusted: wrong.trusted, reason: wrong.reason }, { trusted: false, reason: 'before-release' });
  const sha = await importTone(s);
  const at = DateTime.now().setZone(ZONE).plus({ seconds: 45 }).startOf('second');
  await importDaily(s, sha, at);
  await stopDaemon(d);

  s.configure(true); // the right time, as NTP would set it
  d = await startDaemon(s.configPath);
  t.same((await clockOf(s.configPath)).trusted, true);
  await playsAtTheRightTime(t, s, at, sha);
});

t.test('one boot with the clock five years ahead, then the right time without NTP', async (t) => {
  const s = station();
  s.configure(true);
  let d: Daemon = await startDaemon(s.configPath);
  t.teardown(() => killHard(d));
  const sha = await importTone(s);
  await stopDaemon(d);
  const seen = lastSeen(s.dir);
  t.ok(seen !== null && Math.abs(seen - Date.now()) < 120_000, 'a trusted run left the last time seen');

  s.configure(false);
  d = await startDaemon(s.configPath, fakeClock(FIVE_YEARS_DAYS));
  const ahead = await clockOf(s.configPath);
  t.ok(ahead.nowMs > Date.now() + 4 * 365 * 86_400_000, 'the daemon sees a clock years ahead');
  t.same({ trusted: ahead.trusted, reason: ahead.reason }, { trusted: false, reason: 'ahead-of-evidence' });
  const at = DateTime.now().setZone(ZONE).plus({ seconds: 45 }).startOf('second');
  await importDaily(s, sha, at);
  await stopDaemon(d);
  t.equal(lastSeen(s.dir), seen, 'the clock ahead was not saved as the last time seen');

  d = await startDaemon(s.configPath);
  t.same(await clockOf(s.configPath).then((c) => ({ trusted: c.trusted, reason: c.reason })), { trusted: true, reason: 'after-last-seen' }, 'the right time is believed again');
  await playsAtTheRightTime(t, s, at, sha);
});
