/**
 * The offline soak: a month without the province, in a short real time.
 * The real daemon with sync configured and its broker (the project's
 * Mosquitto) down, a daily schedule of six short programmes in the first
 * half-minute after 06:00, and its wall clock moved a day at a time by
 * libfaketime (offset read from a file; timers keep real time): after each
 * day's last programme the clock jumps to LEAD_MS before the next day's
 * first, the agent notices the jump (it looks every second) and
 * plays that day. Then the broker comes up and the outbox backlog goes to
 * the province. Judged (judgeOffline, pure): each programme of each day
 * played once (one `played` row, heard whole once in that day's stretch of
 * the sink) and on time (its row started within LATE_MS of its slot); the
 * backlog delivered whole (every id queued at the end of the month reaches
 * the province, the outbox empties, every play-log row is there); the
 * agent's RSS per day flat; the database and its WAL bounded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { main } from '../../src/cli/main.js';
import { makeTestTone } from '../../src/audio/tones.js';
import { databasePath } from '../../src/store/database.js';
import { generateProvinceKeys } from '../../src/sync/signing.js';
import { MosquittoBroker } from '../../../province/src/mosquitto.js';
import { Province } from '../../../province/src/province.js';
import { toneRunsIn, tonesIn } from '../tones-heard.js';
import { jumpableClock, setClockOffset } from './faketime.js';

/** One day's schedule: seconds after 06:00:00 local, one item each (its own tone). */
export const OFFLINE_DAY: ReadonlyArray<{ id: string; atS: number; freq: number; seconds: number }> = [
  { id: 'p1', atS: 0, freq: 400, seconds: 2 },
  { id: 'p2', atS: 3, freq: 520, seconds: 3 },
  { id: 'p3', atS: 7, freq: 675, seconds: 2 },
  { id: 'p4', atS: 10, freq: 875, seconds: 10 },
  // 3 s after the long item: a busy machine stretches 10 s of audio by up to 2 s (sink underruns).
  { id: 'p5', atS: 23, freq: 1140, seconds: 2 },
  { id: 'p6', atS: 26, freq: 1480, seconds: 2 },
];
const DAY_TIME = '06:00:00';
const TIMEZONE = 'Asia/Ho_Chi_Minh';
/**
 * The jump lands this long before the day's first programme: the agent
 * looks for a clock step every second, libfaketime re-reads its file at most
 * once a second, then preroll and relay warm-up take about 0.9 s.
 */
export const LEAD_MS = 4000;
/** After the jump, the day before's stretch of the sink is complete (the sink writes silence up to 2 s after the last audio). */
const SAMPLE_AFTER_MS = 2500;
/** A programme whose row started later than this after its slot is late (the playout benches measure precision). */
export const LATE_MS = 1000;
/**
 * Heard whole: the day's stretch of the sink holds at least this share of
 * the item's length in its tone (the 50 ms windows that straddle an underrun
 * misread the pitch and are lost to the sum); twice: 1.6 × its length.
 */
const WHOLE_SHARE = 0.85;
const TWICE_SHARE = 1.6;
/** The agent's RSS may grow this much from the first day's sample to the last: more is a leak. */
export const RSS_GROWTH_MB = 16;
/** Database plus WAL at most this large at any day's end. */
export const DB_BOUND_MB = 32;

export interface OfflineRow {
  id: string;
  programmeId: string | null;
  scheduledMs: number | null;
  startedMs: number | null;
  result: string;
}

export interface DaySample {
  day: number;
  /** Local date (YYYY-MM-DD) on the agent's clock. */
  date: string;
  rssMb: number;
  dbMb: number;
  walMb: number;
  /** Tones heard in that day's stretch of the sink, in order (runs under 0.3 s left out). */
  heard: Array<{ freq: number; durationS: number }>;
  /** Seconds of each programme's tone in that stretch, every run counted. */
  toneS: Record<number, number>;
}

export interface OfflineVerdict {
  programmes: number;
  played: number;
  late: number;
  lost: number;
  doubled: number;
  problems: string[];
  maxLateMs: number;
}

/**
 * PURE  Each (day, programme): its `played` rows (scheduled at that day's
 * slot) and its whole hearings in that day's stretch of the sink. Played:
 * exactly one of each. Lost: no played row or never heard whole. Doubled:
 * more than one of either. Late: played, its row started more than LATE_MS
 * after the slot.
 */
export function judgeOffline(o: { days: DaySample[]; rows: OfflineRow[]; slotMs: (date: string, atS: number) => number }): OfflineVerdict {
  const problems: string[] = [];
  let played = 0;
  let late = 0;
  let lost = 0;
  let doubled = 0;
  let maxLateMs = 0;
  for (const d of o.days) {
    for (const p of OFFLINE_DAY) {
      const slot = o.slotMs(d.date, p.atS);
      const rows = o.rows.filter((r) => r.programmeId === p.id && r.scheduledMs === slot && r.result === 'played');
      const toneS = d.toneS[p.freq] ?? 0;
      const whole = toneS >= p.seconds * TWICE_SHARE ? 2 : toneS >= p.seconds * WHOLE_SHARE ? 1 : 0;
      const what = `day ${d.day} (${d.date}) ${p.id}`;
      if (rows.length > 1 || whole > 1) {
        doubled++;
        problems.push(`${what}: ${rows.length} played rows, ${toneS} s of its ${p.seconds} s tone heard`);
        continue;
      }
      if (rows.length === 0 || whole === 0) {
        lost++;
        const other = o.rows.filter((r) => r.programmeId === p.id && r.scheduledMs === slot).map((r) => r.result);
        problems.push(`${what}: ${rows.length ? 'played row' : `no played row${other.length ? ` (${other.join(', ')})` : ''}`}, ${toneS} s of its ${p.seconds} s tone heard`);
        continue;
      }
      played++;
      const lateMs = rows[0]!.startedMs === null ? Infinity : rows[0]!.startedMs - slot;
      maxLateMs = Math.max(maxLateMs, lateMs);
      if (lateMs > LATE_MS) {
        late++;
        problems.push(`${what}: started ${lateMs} ms after its slot`);
      }
    }
  }
  return { programmes: o.days.length * OFFLINE_DAY.length, played, late, lost, doubled, problems, maxLateMs };
}

export interface OfflineSoakOptions {
  days: number;
  /** The daemon's entry: bin/loa-agent.js (built), or agent/test/daemon-child.ts under tap. */
  daemonEntry: string;
  progress?: (line: string) => void;
  /** Keep the folder (sink, database, broker) for a post-mortem. */
  keep?: boolean;
}

export interface OfflineSoakResult extends Omit<OfflineVerdict, 'problems'> {
  days: number;
  /** Outbox rows waiting when the broker came up, and how many of them reached the province. */
  backlog: number;
  delivered: number;
  /** Play-log rows of the month, and how many the province holds. */
  playRows: number;
  playDelivered: number;
  /** Redeliveries the province dropped by id (at least once is the protocol; shown, not judged). */
  redelivered: number;
  deliverS: number;
  rssFirstMb: number;
  rssLastMb: number;
  rssMaxMb: number;
  /** Database plus WAL, the largest at any day's end. */
  dbMb: number;
  durationS: number;
  problems: string[];
  dir: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

async function loa(configPath: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--config', configPath, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** A read of the daemon's database through a connection of its own (WAL: the writer is not blocked), closed at once. */
function readDb<T>(path: string, f: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return f(db);
  } finally {
    db.close();
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
}

function slice(path: string, from: number, to: number): Buffer {
  const buf = Buffer.alloc(Math.max(0, to - from));
  if (buf.length === 0) return buf;
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  return buf;
}

export async function runOfflineSoak(o: OfflineSoakOptions): Promise<OfflineSoakResult> {
  const t0 = Date.now();
  const progress = o.progress ?? (() => undefined);
  const say = (line: string): void => progress(`+${Math.round((Date.now() - t0) / 1000)} s ${line}`);
  const dir = mkdtempSync(join(tmpdir(), 'loa-soak-offline-'));
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  const clockFile = join(dir, 'faketime');
  const stateDir = join(dir, 'state');
  const dbPath = databasePath(stateDir);
  const keys = generateProvinceKeys();
  const provinceUser = { username: 'province', password: 'pw-province' };
  let child: ChildProcess | null = null;
  let broker: MosquittoBroker | null = null;
  let province: Province | null = null;
  try {
    // The broker exists (its certificate, the station's password, the province's persistent
    // session, which keeps what stations send while the province is away), then goes down.
    broker = await MosquittoBroker.create({ dir: join(dir, 'mosquitto'), province: provinceUser, stations: [{ id: 'soak', groups: [], password: 'pw-soak' }] });
    const ca = readFileSync(broker.certs.caFile);
    const newProvince = (): Province => new Province({ url: broker!.url, ...provinceUser, ca, privateKey: keys.privateKey });
    province = newProvince();
    await province.connect();
    await province.close();
    province = null;
    await broker.stop();
    const passwordFile = join(dir, 'soak.password');
    writeFileSync(passwordFile, 'pw-soak\n', { mode: 0o600 });
    writeFileSync(configPath, JSON.stringify({
      station: { id: 'soak', locale: 'en', timezone: TIMEZONE },
      paths: { state: stateDir, socket: join(dir, 'loa.sock') },
      relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }], zoneLeadMs: 50, tailMs: 100 },
      audio: { sink: { kind: 'file', path: sink }, chime: { enabled: false } },
      clock: { trustWithoutSync: true },
      log: { level: process.env.LOA_SOAK_LOG ?? 'warn' },
      // Backoff capped low so the month's end is not spent waiting for the next attempt (120 s by default).
      sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile, tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 1000, maxMs: 2000, connectTimeoutMs: 5000 } },
    }));

    // The agent's clock: the noon before the first day while it is set up.
    const day0 = DateTime.now().setZone(TIMEZONE).plus({ days: 1 }).startOf('day');
    const slotMs = (date: string, atS: number): number => DateTime.fromISO(`${date}T${DAY_TIME}`, { zone: TIMEZONE }).plus({ seconds: atS }).toMillis();
    /** Sets the agent's wall clock to `fakeMs` now (libfaketime takes fractional offsets). */
    const setClock = (fakeMs: number): void => setClockOffset(clockFile, `+${((fakeMs - Date.now()) / 1000).toFixed(3)}`);
    setClock(day0.plus({ hours: 12 }).toMillis());
    say('broker made and stopped; starting the daemon');
    let childErr = '';
    child = fork(o.daemonEntry, ['--config', configPath], { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ...jumpableClock(clockFile) } });
    const daemonLog = openSync(join(dir, 'daemon.log'), 'a');
    child.stderr!.on('data', (d: Buffer) => {
      childErr = (childErr + d.toString()).slice(-8000);
      writeSync(daemonLog, d);
    });
    child.once('exit', () => closeSync(daemonLog));
    const pid = child.pid!;
    for (let deadline = Date.now() + 90_000; (await loa(configPath, '--json', 'status')).code !== 0; await sleep(200)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${childErr}`);
    }
    say('daemon answers');
    // Tones made side by side (setup is not what is measured); the agent imports one at a time.
    const files = await Promise.all(OFFLINE_DAY.map((p) => makeTestTone(join(dir, `${p.id}.wav`), 'ffmpeg', { durationMs: p.seconds * 1000, frequencyHz: p.freq })));
    const imports: string[] = [];
    for (const file of files) {
      const r = await loa(configPath, '--json', 'cache', 'import', file);
      if (r.code !== 0) throw new Error(`cache import of ${file}: ${r.out}${r.err}`);
      imports.push((JSON.parse(r.out) as { sha256: string }).sha256);
    }
    const doc = {
      programmes: OFFLINE_DAY.map((p, i) => ({
        id: p.id,
        name: p.id,
        recurrence: { kind: 'daily', time: DateTime.fromISO(`2000-01-01T${DAY_TIME}`).plus({ seconds: p.atS }).toFormat('HH:mm:ss') },
        items: [{ content: imports[i] }],
        zones: ['north'],
      })),
    };
    const scheduleFile = join(dir, 'schedule.json');
    writeFileSync(scheduleFile, JSON.stringify(doc));
    const imported = await loa(configPath, 'schedule', 'import', scheduleFile);
    if (imported.code !== 0) throw new Error(`schedule import: ${imported.err}`);

    say('set up: broker down, six programmes a day imported');
    const samples: DaySample[] = [];
    const lastS = Math.max(...OFFLINE_DAY.map((p) => p.atS + p.seconds));
    let sinkFrom = 0;
    const freqs = OFFLINE_DAY.map((p) => p.freq);
    const sinkSize = (): number => (existsSync(sink) ? statSync(sink).size : 0);
    /** The day just played: its stretch of the sink, RSS, database. */
    const sampleDay = (day: number, date: string): void => {
      const sinkTo = sinkSize();
      const pcm = slice(sink, sinkFrom, sinkTo);
      sinkFrom = sinkTo;
      const heard = toneRunsIn(pcm, freqs).map(({ freq, durationS }) => ({ freq, durationS }));
      const toneS: Record<number, number> = {};
      for (const r of tonesIn(pcm)) {
        const f = freqs.find((x) => Math.abs(x - r.freq) <= x * 0.05);
        if (f !== undefined) toneS[f] = Math.round(((toneS[f] ?? 0) + r.durationS) * 100) / 100;
      }
      const walPath = `${dbPath}-wal`;
      const sample: DaySample = { day, date, rssMb: rssMb(pid), dbMb: mb(statSync(dbPath).size), walMb: existsSync(walPath) ? mb(statSync(walPath).size) : 0, heard, toneS };
      samples.push(sample);
      say(`day ${day}/${o.days} (${date}): heard ${heard.map((h) => `${h.freq} Hz ${h.durationS} s`).join(', ') || 'nothing'}; rss ${sample.rssMb} MB, db ${sample.dbMb} MB + wal ${sample.walMb} MB`);
    };
    let previous: { day: number; date: string } | null = null;
    for (let day = 1; day <= o.days; day++) {
      const date = day0.plus({ days: day }).toISODate()!;
      setClock(slotMs(date, 0) - LEAD_MS);
      // Inside the lead, before this day's first programme: the day before is judged.
      if (previous) {
        await sleep(SAMPLE_AFTER_MS);
        sampleDay(previous.day, previous.date);
      }
      // The day's rows (any result), or the day's end and 15 s more.
      const deadline = Date.now() + LEAD_MS + lastS * 1000 + 15_000;
      const dayRows = (): number =>
        readDb(dbPath, (db) => (db.prepare("SELECT COUNT(*) AS n FROM play_log WHERE source = 'schedule' AND scheduled_ms >= ? AND scheduled_ms <= ?").get(slotMs(date, 0), slotMs(date, lastS)) as { n: number }).n);
      while (dayRows() < OFFLINE_DAY.length && Date.now() < deadline) await sleep(250);
      if (child.exitCode !== null) throw new Error(`daemon died on day ${day}: ${childErr}`);
      previous = { day, date };
    }
    if (previous) {
      await sleep(SAMPLE_AFTER_MS);
      sampleDay(previous.day, previous.date);
    }

    // The month's end: what waits in the outbox, then the broker comes up.
    const backlog = readDb(dbPath, (db) => db.prepare('SELECT id, kind FROM outbox ORDER BY seq').all() as Array<{ id: string; kind: string }>);
    const playIds = readDb(dbPath, (db) => (db.prepare('SELECT id FROM play_log').all() as Array<{ id: string }>).map((r) => r.id));
    say(`outbox backlog: ${backlog.length} rows (${Object.entries(backlog.reduce<Record<string, number>>((c, r) => ({ ...c, [r.kind]: (c[r.kind] ?? 0) + 1 }), {})).map(([k, n]) => `${n} ${k}`).join(', ')}); play log ${playIds.length} rows`);
    const upMs = Date.now();
    await broker.start();
    province = newProvince();
    await province.connect();
    const outboxDepth = (): number => readDb(dbPath, (db) => (db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n);
    const delivered = (): number => backlog.filter((r) => province!.received.has(r.id)).length;
    for (const deadline = Date.now() + 180_000; Date.now() < deadline && !(delivered() === backlog.length && outboxDepth() === 0); ) await sleep(250);
    const deliverS = Math.round((Date.now() - upMs) / 100) / 10;
    say(`broker up: ${delivered()} of ${backlog.length} backlog rows at the province after ${deliverS} s, outbox ${outboxDepth()}`);
    await sleep(1000); // a late redelivery would show here
    const rows = readDb(dbPath, (db) =>
      db.prepare("SELECT id, programme_id AS programmeId, scheduled_ms AS scheduledMs, started_ms AS startedMs, result FROM play_log WHERE source = 'schedule'").all() as OfflineRow[],
    );
    const verdict = judgeOffline({ days: samples, rows, slotMs });
    const problems = [...verdict.problems];
    const got = delivered();
    if (got < backlog.length) problems.push(`${backlog.length - got} of ${backlog.length} backlog rows never reached the province (outbox depth ${outboxDepth()})`);
    const playDelivered = playIds.filter((id) => province!.received.get(id)?.kind === 'play').length;
    if (playDelivered < playIds.length) problems.push(`${playIds.length - playDelivered} play-log rows missing at the province`);
    const rssFirstMb = samples[0]?.rssMb ?? NaN;
    const rssLastMb = samples.at(-1)?.rssMb ?? NaN;
    if (!(rssLastMb - rssFirstMb <= RSS_GROWTH_MB)) problems.push(`RSS grew from ${rssFirstMb} to ${rssLastMb} MB (more than ${RSS_GROWTH_MB} MB)`);
    const dbMb = Math.max(...samples.map((s) => Math.round((s.dbMb + s.walMb) * 10) / 10));
    if (!(dbMb <= DB_BOUND_MB)) problems.push(`database and WAL reached ${dbMb} MB (bound ${DB_BOUND_MB} MB)`);
    const { problems: _p, ...counts } = verdict;
    return {
      days: o.days,
      ...counts,
      backlog: backlog.length,
      delivered: got,
      playRows: playIds.length,
      playDelivered,
      redelivered: province.duplicates,
      deliverS,
      rssFirstMb,
      rssLastMb,
      rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
      dbMb,
      durationS: Math.round((Date.now() - t0) / 1000),
      problems,
      dir,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await province?.close().catch(() => undefined);
    await broker?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** The soak's last line: the counters the brief names, with the backlog to read `delivered` against. */
export function offlineLine(r: OfflineSoakResult): Record<string, unknown> {
  return {
    soak: 'offline',
    days: r.days,
    programmes: r.programmes,
    played: r.played,
    late: r.late,
    lost: r.lost,
    doubled: r.doubled,
    backlog: r.backlog,
    delivered: r.delivered,
    rss_first_mb: r.rssFirstMb,
    rss_last_mb: r.rssLastMb,
    db_mb: r.dbMb,
  };
}

/** Held: every programme played once and on time, the backlog delivered whole, RSS flat, the database bounded. */
export function offlineHeld(r: OfflineSoakResult): boolean {
  return r.problems.length === 0 && r.played === r.programmes && r.delivered === r.backlog && r.playDelivered === r.playRows;
}
