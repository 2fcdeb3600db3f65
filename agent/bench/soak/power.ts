/**
 * The power soak: the real daemon with a schedule of programmes, its state
 * folder on a disk that loses unsynced writes (SoakDisk), killed with
 * SIGKILL at random moments over many rounds (startup, migration, recovery,
 * schedule import, content import, play-log writes), some kills being power
 * cuts, some rounds under a full disk, a read-only remount or a clock jump
 * either way, some outages longer than the grace window. Then the schedule
 * is compared with the rows that survived and with what reached the sink
 * (judge.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { main } from '../../src/cli/main.js';
import { makeTestTone } from '../../src/audio/tones.js';
import { databasePath } from '../../src/store/database.js';
import { toneRunsHeard } from '../tones-heard.js';
import { SoakDisk } from './disk.js';
import { jumpableClock, setClockOffset } from './faketime.js';
import { generateProvinceKeys } from '../../src/sync/signing.js';
import { MosquittoBroker } from '../../../province/src/mosquitto.js';
import { Province } from '../../../province/src/province.js';
import { ContentServer } from '../../../province/src/content-server.js';
import type { TargetSpec } from '../../../province/src/target-builder.js';
import { AT_KILL_S, countsOf, judge, judgeDelivery, type DeliveryVerdict, type Fault, type HeardRun, type LoggedRow, type SoakItem, type SoakProgramme, type SoakRound, type Verdict } from './judge.js';

export interface RoundPlan {
  /** Kill this long after the spawn, or (`whilePlaying`) after a programme is first seen on air. */
  upMs: number;
  whilePlaying?: boolean;
  /** Power off for this long before the next start. */
  downMs: number;
  /** The kill is a power cut: unsynced writes are lost. */
  cut: boolean;
  fault: Fault;
  /** When the fault strikes, ms after the daemon answers. */
  faultAfterMs?: number;
  /** Import a new content file during the round (a write path to kill in). */
  importContent?: boolean;
  /** Send the schedule again during the round (a new target with sync, else `loa schedule import`): a write path to kill in. */
  importSchedule?: boolean;
}

export interface PowerSoakOptions {
  rounds: number;
  /** The daemon's entry: bin/loa-agent.js (built), or agent/test/daemon-child.ts under tap. */
  daemonEntry: string;
  graceMs?: number;
  programmeEveryMs?: number;
  seed?: number;
  plan?: (n: number, rand: () => number) => RoundPlan;
  progress?: (line: string) => void;
  /** Keep the folder (sinks, database) for a post-mortem. */
  keep?: boolean;
  /** Programmes before the tones repeat (1-8; fewer tones to make for a short run). */
  cycle?: number;
  /** The last round, power on, before the orderly stop (default: the grace window and 15 s). */
  settleMs?: number;
  /**
   * The province link too, on the project's Mosquitto: the schedule comes in
   * signed targets (the target apply killed in, not `loa schedule import`),
   * and every play-log row goes out through the outbox, judged by
   * judgeDelivery once the last round has drained it.
   */
  sync?: boolean;
}

export interface PowerSoakResult extends Omit<Verdict, 'problems'> {
  /** With `sync`: the province link's verdict. */
  delivery?: Omit<DeliveryVerdict, 'problems'>;
  rounds: number;
  cuts: number;
  kills: number;
  faults: Record<Exclude<Fault, 'none'>, number>;
  long_outages: number;
  start_failures: number;
  integrity: string;
  db_rebuilt: number;
  rows: number;
  duration_s: number;
  problems: string[];
  dir: string;
}

/** Short items (2 and 3 s) in pairs, and every fourth programme one 10 s item; each tone comes back only after 8 programmes. */
const SHORT_HZ = [350, 400, 455, 520, 590, 675, 770, 875, 1000, 1140, 1300, 1480, 1690, 1920, 2190, 2500];
const LONG_HZ = [2850, 3250];
const CYCLE = 8;
const DEFAULT_GRACE_MS = 20_000;

/** Mulberry32: a reproducible stream of [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The long soak's rounds: kills at any moment from the first instruction on, power cuts half the time, a fault or a long outage now and then. */
export function randomPlan(graceMs: number): (n: number, rand: () => number) => RoundPlan {
  return (n, rand) => {
    const r = rand();
    const upMs = r < 0.25 ? 50 + rand() * 1450 : r < 0.7 ? 1500 + rand() * 4500 : 6000 + rand() * 10_000;
    const faults: Fault[] = ['full-disk', 'read-only', 'clock-forward', 'clock-back'];
    const fault: Fault = n % 25 === 0 ? faults[(n / 25) % faults.length]! : 'none';
    return {
      upMs: fault === 'none' ? upMs : 8000 + rand() * 6000,
      // Long outages on rounds of their own: a fault round (every 25th) adds its own excuses.
      downMs: n % 100 === 60 ? graceMs + 12_000 : 100 + rand() * 1400,
      cut: rand() < 0.5,
      fault,
      faultAfterMs: 1000 + rand() * 3000,
      importContent: rand() < 0.15,
      importSchedule: rand() < 0.15,
    };
  };
}

async function loa(configPath: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--config', configPath, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ProvinceLink {
  stationSync: Record<string, unknown>;
  province: Province;
  content: ContentServer;
  close(): Promise<void>;
}

/** The project's Mosquitto on a free port (TLS, passwords, ACL), its content server and the province, for a soak with sync. */
async function startProvinceLink(dir: string): Promise<ProvinceLink> {
  const keys = generateProvinceKeys();
  const user = { username: 'province', password: 'pw-province' };
  const broker = await MosquittoBroker.create({ dir: join(dir, 'mosquitto'), province: user, stations: [{ id: 'soak', groups: [], password: 'pw-soak' }] });
  const content = new ContentServer();
  const province = new Province({ url: broker.url, ...user, ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  const close = async (): Promise<void> => {
    await province.close().catch(() => undefined);
    await content.close().catch(() => undefined);
    await broker.stop();
  };
  try {
    await content.listen();
    await province.connect();
  } catch (err) {
    await close();
    throw err;
  }
  const passwordFile = join(dir, 'station.password');
  writeFileSync(passwordFile, 'pw-soak\n', { mode: 0o600 });
  return {
    // Reconnect fast: a round lasts seconds, and each start waits its backoff before the first connect.
    stationSync: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile, tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 1000, connectTimeoutMs: 3000 } },
    province,
    content,
    close,
  };
}

/**
 * The verdict on a soak's folder (kept with --keep): its schedule and rounds
 * (rounds.json), the copy of the database after the last round (final.db)
 * and each round's sink (rounds/N.raw). `scripts/soak power --judge DIR`
 * reads a kept run again with the judge of today.
 */
export function judgeFolder(dir: string): { verdict: Verdict; integrity: string; rows: number; delivery?: DeliveryVerdict } {
  const saved = JSON.parse(readFileSync(join(dir, 'rounds.json'), 'utf8')) as { graceMs?: number; programmes: SoakProgramme[]; rounds: SoakRound[] };
  const { programmes, rounds } = saved;
  const graceMs = saved.graceMs ?? DEFAULT_GRACE_MS;
  // The last round is the orderly one (power on, then SIGTERM): its hearings are never cut by a kill.
  const planned = rounds.length - 1;
  const db = new Database(join(dir, 'final.db'));
  const integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? 'none';
  const rows = db.prepare("SELECT programme_id AS programmeId, content, result, reason, started_ms AS startedMs FROM play_log WHERE source = 'schedule'").all() as LoggedRow[];
  const stationIds = (db.prepare('SELECT id FROM play_log').all() as Array<{ id: string }>).map((r) => r.id);
  const queuedIds = (db.prepare("SELECT id FROM outbox WHERE kind = 'play'").all() as Array<{ id: string }>).map((r) => r.id);
  db.close();
  const provinceFile = join(dir, 'province.json');
  const delivery = existsSync(provinceFile) ? judgeDelivery(stationIds, JSON.parse(readFileSync(provinceFile, 'utf8')) as string[], queuedIds) : undefined;
  const heard: HeardRun[] = [];
  const freqs = [...SHORT_HZ, ...LONG_HZ];
  for (const r of rounds) {
    const file = join(dir, 'rounds', `${r.n}.raw`);
    if (!existsSync(file)) continue;
    const fileS = statSync(file).size / 192_000;
    for (const run of toneRunsHeard(file, freqs)) heard.push({ round: r.n, freq: run.freq, durationS: run.durationS, atKill: r.n <= planned && fileS - run.endS < AT_KILL_S });
  }
  const verdict = judge({ programmes, rounds, rows, heard, graceMs, endMs: rounds.at(-1)!.killMs });
  return { verdict, integrity, rows: rows.length, ...(delivery ? { delivery } : {}) };
}

export async function runPowerSoak(o: PowerSoakOptions): Promise<PowerSoakResult> {
  const t0 = Date.now();
  const graceMs = o.graceMs ?? DEFAULT_GRACE_MS;
  const everyMs = o.programmeEveryMs ?? 20_000;
  const rand = seededRandom(o.seed ?? 1);
  const plan = o.plan ?? randomPlan(graceMs);
  const say = o.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'loa-soak-power-'));
  const disk = new SoakDisk(dir);
  await disk.start();
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  const clockFile = join(dir, 'faketime');
  mkdirSync(join(dir, 'rounds'));
  const timezone = 'Asia/Ho_Chi_Minh';
  const link = o.sync ? await startProvinceLink(dir).catch(async (err: unknown) => {
    await disk.stop();
    throw err;
  }) : null;
  writeFileSync(configPath, JSON.stringify({
    ...(link ? { sync: link.stationSync } : {}),
    station: { id: 'soak', locale: 'en', timezone },
    paths: { state: disk.mount, socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }], zoneLeadMs: 50, tailMs: 100 },
    audio: { sink: { kind: 'file', path: sink }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    schedule: { graceMs },
    log: { level: 'error' },
  }));

  let child: ChildProcess | null = null;
  let childErr = '';
  const spawnDaemon = (env: Record<string, string> = {}): ChildProcess => {
    childErr = '';
    const c = fork(o.daemonEntry, ['--config', configPath], { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ...env } });
    c.stderr!.on('data', (d: Buffer) => (childErr = (childErr + d.toString()).slice(-4000)));
    return c;
  };
  const exited = (c: ChildProcess): Promise<number | string> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode ?? c.signalCode!) : new Promise((r) => c.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  const killGroup = async (c: ChildProcess, signal: NodeJS.Signals): Promise<number | string> => {
    try {
      process.kill(-c.pid!, signal); // the daemon and its ffmpeg: the whole box loses power
    } catch {
      // already gone
    }
    return exited(c);
  };
  type Status = { playing: { key: string } | null; outbox: number; sync: { applied?: { version: number } } | null };
  const status = async (): Promise<Status | null> => {
    const r = await loa(configPath, '--json', 'status');
    return r.code === 0 ? (JSON.parse(r.out) as Status) : null;
  };

  try {
    // Setup, not judged: content and the first hour of schedule, stopped cleanly.
    child = spawnDaemon();
    for (let deadline = Date.now() + 90_000; !(await status()); await sleep(100)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${childErr}`);
    }
    const tones = new Map<number, string>();
    const targetContent: TargetSpec['content'] = [];
    const cycle = Math.min(CYCLE, o.cycle ?? CYCLE);
    const used = (f: number): boolean => (SHORT_HZ.includes(f) ? SHORT_HZ.indexOf(f) < cycle * 2 : LONG_HZ.indexOf(f) * 4 + 3 < cycle);
    for (const [freq, seconds] of [...SHORT_HZ.map((f, i) => [f, i % 2 === 0 ? 2 : 3] as const), ...LONG_HZ.map((f) => [f, 10] as const)].filter(([f]) => used(f))) {
      const file = await makeTestTone(join(dir, `tone-${freq}.wav`), 'ffmpeg', { durationMs: seconds * 1000, frequencyHz: freq });
      const r = await loa(configPath, '--json', 'cache', 'import', file);
      if (r.code !== 0) throw new Error(`cache import: ${r.err}`);
      tones.set(freq, (JSON.parse(r.out) as { sha256: string }).sha256);
      // With sync, the targets name the same files (in the cache already: nothing to download).
      if (link) targetContent.push(link.content.add(file));
    }
    const extras: string[] = [];
    for (let i = 0; i < (o.cycle === undefined ? 12 : 0); i++) extras.push(await makeTestTone(join(dir, `extra-${i}.wav`), 'ffmpeg', { durationMs: 400 + i * 10, frequencyHz: 5000 }));
    const item = (freq: number): SoakItem => ({ content: tones.get(freq)!, freq, durationMs: SHORT_HZ.includes(freq) ? (SHORT_HZ.indexOf(freq) % 2 === 0 ? 2000 : 3000) : 10_000 });
    const programmes: SoakProgramme[] = [];
    const firstAt = Math.ceil((Date.now() + 8000) / 1000) * 1000;
    const extendTo = (untilMs: number): void => {
      while ((programmes.at(-1)?.atMs ?? 0) < untilMs) {
        const i = programmes.length;
        const slot = i % cycle;
        const items = slot % 4 === 3 ? [item(LONG_HZ[(slot - 3) / 4]!)] : [item(SHORT_HZ[slot * 2]!), item(SHORT_HZ[slot * 2 + 1]!)];
        programmes.push({ id: `p${i}`, atMs: firstAt + i * everyMs, items });
      }
    };
    let importedTo = 0;
    const importSchedule = async (): Promise<void> => {
      extendTo(Date.now() + 300_000);
      const doc = {
        programmes: programmes.map((p) => {
          const at = DateTime.fromMillis(p.atMs).setZone(timezone);
          return { id: p.id, name: p.id, recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') }, items: p.items.map((it) => ({ content: it.content })), zones: ['north'] };
        }),
      };
      if (link) {
        // Retained: the station applies it at its next connection, whenever that is.
        lastTarget = await link.province.publishTarget({ station: 'soak', programmes: doc.programmes as TargetSpec['programmes'], content: targetContent });
        importedTo = programmes.at(-1)!.atMs;
        return;
      }
      const file = join(dir, 'schedule.json');
      writeFileSync(file, JSON.stringify(doc));
      if ((await loa(configPath, 'schedule', 'import', file)).code === 0) importedTo = programmes.at(-1)!.atMs;
    };
    let lastTarget = 0;
    await importSchedule();
    for (let deadline = Date.now() + 60_000; link && (await status())?.sync?.applied?.version !== lastTarget; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`target ${lastTarget} not applied at setup: ${childErr}`);
    }
    if (importedTo === 0) throw new Error('schedule import failed at setup');
    await killGroup(child, 'SIGTERM');
    child = null;

    const rounds: SoakRound[] = [];
    let extra = 0;
    const runRound = async (n: number, p: RoundPlan, final = false): Promise<SoakRound> => {
      const clocked = p.fault === 'clock-forward' || p.fault === 'clock-back';
      if (clocked) setClockOffset(clockFile, '+0');
      const spawnMs = Date.now();
      const c = spawnDaemon(clocked ? jumpableClock(clockFile) : {});
      child = c;
      const round: SoakRound = { n, spawnMs, readyMs: null, killMs: 0, cut: p.cut && !final, fault: p.fault, exit: 0, playing: [], sinkMs: 0 };
      const done = exited(c);
      let dead = false;
      void done.then(() => (dead = true));
      // The last round settles for upMs from its answer, however long the start took.
      let killAt = p.whilePlaying || final ? Infinity : spawnMs + p.upMs;
      let faulted = false;
      let imported = !p.importContent;
      let scheduled = !p.importSchedule;
      while (!dead && Date.now() < killAt) {
        const s = await status().catch(() => null);
        const now = Date.now();
        if (s) {
          if (round.readyMs === null && final) killAt = now + p.upMs;
          round.readyMs ??= now;
          round.playing.push({ atMs: now, key: s.playing?.key ?? null });
          if (p.whilePlaying && killAt === Infinity && s.playing?.key.startsWith('occurrence:')) killAt = now + p.upMs;
          if (!faulted && p.fault !== 'none' && now >= round.readyMs + (p.faultAfterMs ?? 0)) {
            faulted = true;
            try {
              if (p.fault === 'full-disk') disk.fill();
              else if (p.fault === 'read-only') disk.readOnly(true);
              else setClockOffset(clockFile, p.fault === 'clock-forward' ? '+40' : '-40');
            } catch (err) {
              say(`round ${n}: ${p.fault} could not be set up: ${(err as Error).message}`);
            }
          }
          if (importedTo < now + 120_000 || !scheduled) {
            scheduled = true;
            await importSchedule();
          }
          if (!imported) {
            imported = true;
            if (extras.length > 0) void loa(configPath, 'cache', 'import', extras[extra++ % extras.length]!);
          }
        }
        if (killAt === Infinity && now > spawnMs + 180_000) killAt = now; // never on air, or never up: give up on this round
        await sleep(200);
      }
      // With sync, the power stays on until the outbox has gone to the province (the backlog of every round),
      // and the orderly stop comes between items: one cut by the stop is written as it ends, too late to be sent.
      const settled = (s: Status | null): boolean => s !== null && s.outbox === 0 && s.playing === null;
      for (let deadline = Date.now() + 60_000; final && link && !dead && !settled(await status()) && Date.now() < deadline; ) await sleep(200);
      round.killMs = Date.now();
      round.exit = final ? await killGroup(c, 'SIGTERM') : await killGroup(c, 'SIGKILL');
      child = null;
      if (!final && round.exit !== 'SIGKILL') say(`round ${n}: the daemon ended by itself (${round.exit}): ${childErr.trim().split('\n').at(-1) ?? ''}`);
      if (round.cut) await disk.cut();
      disk.heal();
      if (existsSync(sink)) {
        round.sinkMs = statSync(sink).size / 192;
        renameSync(sink, join(dir, 'rounds', `${n}.raw`));
      }
      return round;
    };

    for (let n = 1; n <= o.rounds; n++) {
      const p = plan(n, rand);
      const round = await runRound(n, p);
      rounds.push(round);
      if (n % 10 === 0 || n === o.rounds) say(`round ${n}/${o.rounds}: ${disk.cuts} cuts, ${Math.round((Date.now() - t0) / 1000)} s`);
      await sleep(p.downMs);
    }
    // Power stays on: every resume and every due programme is decided, then an orderly stop.
    const finalRound = await runRound(o.rounds + 1, { upMs: o.settleMs ?? graceMs + 15_000, downMs: 0, cut: false, fault: 'none' }, true);
    rounds.push(finalRound);
    await disk.stop(true);

    const dbFile = databasePath(disk.backing);
    const copy = join(dir, 'final.db');
    for (const suffix of ['', '-wal']) if (existsSync(dbFile + suffix)) copyFileSync(dbFile + suffix, copy + suffix);
    const dbRebuilt = readdirSync(disk.backing).filter((f) => /^loa\.db\.corrupt-\d+$/.test(f)).length;
    disk.release();
    writeFileSync(join(dir, 'rounds.json'), JSON.stringify({ graceMs, programmes, rounds }));
    if (link) {
      await sleep(2000); // the last PUBACKed rows on their way from the broker to the province
      writeFileSync(join(dir, 'province.json'), JSON.stringify([...link.province.received.values()].filter((m) => m.kind === 'play').map((m) => m.id)));
    }
    const { verdict, integrity, rows, delivery } = judgeFolder(dir);
    const count = (f: Fault): number => rounds.filter((r) => r.fault === f).length;
    return {
      rounds: o.rounds,
      ...verdict,
      problems: [...verdict.problems, ...(delivery?.problems ?? [])],
      cuts: disk.cuts,
      kills: rounds.filter((r) => r.exit === 'SIGKILL').length,
      faults: { 'full-disk': count('full-disk'), 'read-only': count('read-only'), 'clock-forward': count('clock-forward'), 'clock-back': count('clock-back') },
      long_outages: rounds.filter((r, i) => (rounds[i + 1]?.spawnMs ?? r.killMs) - r.killMs > graceMs).length,
      start_failures: rounds.filter((r) => r.readyMs === null && r.exit !== 'SIGKILL').length,
      integrity,
      db_rebuilt: dbRebuilt,
      rows,
      ...(delivery ? { delivery: countsOf(delivery) } : {}),
      duration_s: Math.round((Date.now() - t0) / 1000),
      dir,
    };
  } finally {
    if (child) await killGroup(child, 'SIGKILL');
    await link?.close();
    await disk.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

