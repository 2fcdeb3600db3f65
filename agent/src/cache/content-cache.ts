import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDirectory } from '../lib/atomic-file.js';
import type { Db } from '../store/database.js';
import { isStorageFailure } from '../store/write-behind.js';
import { measureLoudness, normalisationGain } from '../audio/loudness.js';
import { probeMedia, type MediaKind } from '../audio/probe.js';
import { ReasonError, rewrap } from '../lib/reason.js';

/**
 * The station's media, addressed by SHA-256 (table `content`): audio for
 * the speakers (loudness measured on import), images and H.264 videos for
 * the bulletin board.
 *
 * Invariants, which hold across a pulled plug at any instant:
 * - A file is visible under its final name `<dir>/<aa>/<sha256>` only when
 *   complete, hashed and fsynced (temp file `.tmp-*` in the same
 *   filesystem, fsync, rename, fsync the directory); the row is written
 *   after the rename, so a crash leaves at worst a file without a row,
 *   which `startupScan` re-indexes.
 * - Nothing is played unverified: `verifyBeforePlay` rehashes the file; a
 *   file whose hash is wrong is moved to `<dir>/quarantine/` and never
 *   played; missing and quarantined content is reported to the province
 *   (a `content.problem` event through the station's event log, in the
 *   outbox's envelope) and `onProblem` tells the sync client to fetch it
 *   again; a later import heals the row (`content.healed`).
 * - Eviction never removes content in the `needed` set (current or future
 *   schedule, pending requests); it deletes the row before the file, so a
 *   crash between the two cannot turn an eviction into a "missing" report.
 */

export type ContentState = 'ok' | 'quarantined' | 'missing';

export interface ContentRecord {
  sha256: string;
  kind: MediaKind;
  name: string;
  bytes: number;
  durationMs: number;
  format: string;
  /** null for silence (no measurable loudness). */
  loudnessLufs: number | null;
  truePeakDbtp: number | null;
  /** Normalisation gain applied at play, dB. */
  gainDb: number;
  importedMs: number;
  lastUsedMs: number | null;
  state: ContentState;
  problem: string | null;
}

/** What a play needs; structurally the playout's ResolvedContent. */
export interface PlayableContent {
  path: string;
  gainDb: number;
  durationMs: number;
  name: string;
}

/** Where problems go: the station's event log, which queues them in the outbox with the outbox's envelope. */
export interface ProblemLog {
  recordEvent(event: string, level: 'info' | 'error', message: string, data: Record<string, unknown>, nowMs: number): void;
}

export interface ContentCacheOptions {
  dir: string;
  db: Db;
  log: Logger;
  /** `content.problem` events are written here, in the same transaction as the row's new state. */
  events: ProblemLog;
  quotaBytes: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  targetLufs: number;
  truePeakDbtp: number;
  now?: () => number;
}

export interface StartupScanResult {
  /** Leftover temp files of interrupted imports, deleted. */
  removedTemps: number;
  /** Files that are not content (wrong names, stray files), deleted. */
  orphansRemoved: number;
  /** Good content files that had no row (database rebuilt), indexed again. */
  reindexed: string[];
  /** Found corrupt in this scan and quarantined. */
  quarantined: string[];
  /** Found missing in this scan. */
  missing: string[];
  /** Every sha256 the cache knows but cannot play: ask the province for these. */
  rerequest: string[];
}

export interface EvictResult {
  evicted: string[];
  /** Content bytes left in the cache. */
  bytes: number;
  /** > 0 when the needed content alone exceeds the quota (nothing needed was deleted). */
  overQuotaBytes: number;
}

const SHA_RE = /^[0-9a-f]{64}$/;
const QUARANTINE = 'quarantine';
/** Quarantined files are kept for inspection, but only the most recent few (an SD card is small). */
const QUARANTINE_KEEP = 5;

interface Row {
  sha256: string;
  kind: MediaKind;
  name: string;
  bytes: number;
  duration_ms: number;
  format: string;
  loudness_lufs: number | null;
  true_peak_dbtp: number | null;
  gain_db: number;
  imported_ms: number;
  last_used_ms: number | null;
  state: ContentState;
  problem: string | null;
}

export class ContentCache {
  private readonly dir: string;
  private readonly db: Db;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: ContentCacheOptions) {
    this.dir = opts.dir;
    this.db = opts.db;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** Called after a file was found missing or corrupt (committed): the sync client fetches it again. */
  onProblem: (sha256: string) => void = () => undefined;

  pathFor(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  get(sha256: string): ContentRecord | null {
    const row = this.db.prepare('SELECT * FROM content WHERE sha256 = ?').get(sha256) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  /** Present and playable as far as the index knows (`verifyBeforePlay` checks the bytes). */
  has(sha256: string): boolean {
    return this.get(sha256)?.state === 'ok';
  }

  list(): ContentRecord[] {
    return (this.db.prepare('SELECT * FROM content ORDER BY name, sha256').all() as Row[]).map(toRecord);
  }

  stats(): { items: number; bytes: number; quotaBytes: number } {
    const r = this.db.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM content WHERE state = 'ok'").get() as { n: number; b: number };
    return { items: r.n, bytes: r.b, quotaBytes: this.opts.quotaBytes };
  }

  /**
   * Copies a file into the cache: hashed while copied, fsynced, probed,
   * loudness measured (audio), renamed into place, indexed. Importing
   * content that is already cached returns its record. With
   * `expectedSha256` (a download), content that hashes differently is
   * refused; with `kind`, content of another kind is. With `move`, the
   * source is the agent's own temporary file (a download, an upload, a
   * recording): renamed into the cache rather than copied where the file
   * system allows, so its bytes are written to the SD card once.
   */
  async import(srcPath: string, name?: string, expectedSha256?: string, kind?: MediaKind, opts: { move?: boolean } = {}): Promise<ContentRecord> {
    const label = name ?? basename(srcPath);
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.tmp-import-${randomBytes(6).toString('hex')}`);
    try {
      const { sha256, bytes } = (opts.move && (await movedHashed(srcPath, tmp))) || (await copyHashed(srcPath, tmp));
      if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
        throw new ReasonError('hash-mismatch', `SHA-256 is ${sha256}, expected ${expectedSha256}`);
      }
      const existing = this.get(sha256);
      if (existing?.state === 'ok' && existsSync(this.pathFor(sha256))) {
        await unlink(tmp);
        if (kind && existing.kind !== kind) throw new ReasonError('wrong-kind', `it is already cached as ${existing.kind}, not ${kind}`, { is: existing.kind, expected: kind });
        return existing;
      }
      const facts = await this.examine(tmp, kind, label);
      await this.place(tmp, sha256);
      const record: ContentRecord = {
        sha256,
        name: label,
        bytes,
        ...facts,
        importedMs: this.now(),
        lastUsedMs: existing?.lastUsedMs ?? null,
        state: 'ok',
        problem: null,
      };
      this.db.transaction(() => {
        this.upsert(record);
        if (existing && existing.state !== 'ok') {
          this.opts.events.recordEvent('content.healed', 'info', `content ${label} (${sha256}) was ${existing.state} and is good again`, { sha256, name: label, was: existing.state }, this.now());
        }
      })();
      if (existing && existing.state !== 'ok') this.log.info({ content: sha256, name: label, was: existing.state }, 'content healed');
      this.log.info({ content: sha256, kind: record.kind, name: label, bytes, durationMs: record.durationMs, lufs: record.loudnessLufs, gainDb: record.gainDb }, 'content imported');
      return record;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw rewrap(err, `cannot import ${srcPath}: ${(err as Error).message}`);
    }
  }

  /**
   * Rehashes a cached file. A file whose hash is wrong is quarantined; a
   * missing one is marked; both are reported once (on the transition).
   */
  async verify(sha256: string): Promise<'ok' | 'missing' | 'corrupt'> {
    const record = this.get(sha256);
    const path = this.pathFor(sha256);
    if (!existsSync(path)) {
      // Only indexed, playable content becomes "missing"; a quarantined row stays quarantined.
      if (record?.state === 'ok') this.markProblem(sha256, record.name, 'missing', 'the file is missing from the cache');
      return 'missing';
    }
    const actual = await hashFile(path);
    if (actual !== sha256) {
      await this.quarantine(sha256, record?.name ?? sha256, `hash mismatch: the file now hashes to ${actual}`);
      return 'corrupt';
    }
    return 'ok';
  }

  /**
   * Content checked byte for byte just before it plays (a rehash: about
   * 15 ms for a 5-minute 128 kb/s MP3 here; a Pi 4 is several times slower).
   */
  async verifyBeforePlay(sha256: string): Promise<PlayableContent | { problem: string }> {
    const record = this.get(sha256);
    if (!record) return { problem: `content ${sha256} is not in the cache` };
    if (record.state !== 'ok') return { problem: `content ${record.name} (${sha256}) is ${record.state}: ${record.problem ?? ''}; waiting for the province to send it again` };
    if (record.kind !== 'audio') return { problem: `content ${record.name} (${sha256}) is ${record.kind === 'image' ? 'an image' : 'a video'} for the board, not audio` };
    const result = await this.verify(sha256);
    if (result !== 'ok') return { problem: `content ${record.name} (${sha256}) is ${result}; not played, asked again from the province` };
    return { path: this.pathFor(sha256), gainDb: record.gainDb, durationMs: record.durationMs, name: record.name };
  }

  /** Marks content as just played, for least-recently-used eviction: a hint, skipped while the disk refuses writes. */
  touch(sha256: string): void {
    try {
      this.db.prepare('UPDATE content SET last_used_ms = ? WHERE sha256 = ?').run(this.now(), sha256);
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
    }
  }

  /**
   * Brings the cache under its quota, least recently used first, never
   * touching `needed`. Problem rows (missing, quarantined) that nothing
   * needs any more are forgotten, so they are no longer asked for.
   */
  async evict(needed: ReadonlySet<string>): Promise<EvictResult> {
    const forgotten = this.db
      .prepare("DELETE FROM content WHERE state != 'ok' AND sha256 NOT IN (SELECT value FROM json_each(?)) RETURNING sha256")
      .all(JSON.stringify([...needed])) as Array<{ sha256: string }>;
    if (forgotten.length > 0) this.log.info({ count: forgotten.length }, 'forgot unplayable content no schedule needs');
    const rows = this.db
      .prepare("SELECT sha256, bytes FROM content WHERE state = 'ok' ORDER BY coalesce(last_used_ms, imported_ms), sha256")
      .all() as Array<{ sha256: string; bytes: number }>;
    let bytes = rows.reduce((n, r) => n + r.bytes, 0);
    const evicted: string[] = [];
    for (const r of rows) {
      if (bytes <= this.opts.quotaBytes) break;
      if (needed.has(r.sha256)) continue;
      this.db.prepare('DELETE FROM content WHERE sha256 = ?').run(r.sha256);
      await unlink(this.pathFor(r.sha256)).catch(() => undefined);
      bytes -= r.bytes;
      evicted.push(r.sha256);
    }
    const overQuotaBytes = Math.max(0, bytes - this.opts.quotaBytes);
    if (evicted.length > 0) this.log.info({ evicted: evicted.length, bytes, quotaBytes: this.opts.quotaBytes }, 'cache evicted least recently used content');
    if (overQuotaBytes > 0) {
      this.log.warn({ bytes, quotaBytes: this.opts.quotaBytes, overQuotaBytes }, 'content the schedule needs exceeds the cache quota: nothing needed was deleted; raise cache.quotaMb');
    }
    return { evicted, bytes, overQuotaBytes };
  }

  /**
   * Run once at start, before anything plays: deletes leftover temp files
   * and stray files, re-indexes good content without a row (the database
   * may have been rebuilt), rehashes every indexed file, quarantines the
   * corrupt and marks the missing. Returns what to ask the province for.
   */
  async startupScan(): Promise<StartupScanResult> {
    await mkdir(this.dir, { recursive: true });
    const result: StartupScanResult = { removedTemps: 0, orphansRemoved: 0, reindexed: [], quarantined: [], missing: [], rerequest: [] };
    const rows = new Map((this.db.prepare('SELECT * FROM content').all() as Row[]).map((r) => [r.sha256, r]));
    const onDisk = new Set<string>();

    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      const path = join(this.dir, entry.name);
      if (entry.name.startsWith('.tmp-')) {
        await unlink(path);
        result.removedTemps++;
      } else if (entry.isDirectory() && /^[0-9a-f]{2}$/.test(entry.name)) {
        for (const inner of await readdir(path, { withFileTypes: true })) {
          const file = join(path, inner.name);
          if (inner.isFile() && SHA_RE.test(inner.name) && inner.name.startsWith(entry.name)) {
            onDisk.add(inner.name);
          } else if (inner.name.startsWith('.tmp-')) {
            await unlink(file);
            result.removedTemps++;
          } else {
            await unlink(file).catch(() => undefined);
            result.orphansRemoved++;
          }
        }
      } else if (!(entry.isDirectory() && entry.name === QUARANTINE)) {
        if (entry.isFile()) {
          await unlink(path);
          result.orphansRemoved++;
        }
      }
    }

    for (const sha of onDisk) {
      const row = rows.get(sha);
      const status = await this.verify(sha);
      if (status === 'corrupt') {
        result.quarantined.push(sha);
      } else if (!row || row.state !== 'ok') {
        // A good file without a usable row: the database was rebuilt, or the
        // crash came between rename and insert. Index it again.
        await this.reindex(sha, row).then(
          () => result.reindexed.push(sha),
          async (err: Error) => {
            await this.quarantine(sha, row?.name ?? sha, err.message);
            result.quarantined.push(sha);
          },
        );
      }
    }
    for (const [sha, row] of rows) {
      if (row.state === 'ok' && !onDisk.has(sha)) {
        this.markProblem(sha, row.name, 'missing', 'the file is missing from the cache');
        result.missing.push(sha);
      }
    }
    result.rerequest = (this.db.prepare("SELECT sha256 FROM content WHERE state != 'ok' ORDER BY sha256").all() as Array<{ sha256: string }>).map((r) => r.sha256);
    this.log.info(
      { removedTemps: result.removedTemps, orphansRemoved: result.orphansRemoved, reindexed: result.reindexed.length, quarantined: result.quarantined.length, missing: result.missing.length, rerequest: result.rerequest.length },
      'content cache scanned',
    );
    return result;
  }

  /** What a file is: kind, format, duration and, for audio, loudness and its normalisation gain. */
  private async examine(path: string, kind: MediaKind | undefined, label: string): Promise<Pick<ContentRecord, 'kind' | 'durationMs' | 'format' | 'loudnessLufs' | 'truePeakDbtp' | 'gainDb'>> {
    const probe = await probeMedia(path, kind, this.opts.ffprobePath).catch((err: Error) => {
      throw rewrap(err, `not usable ${kind ?? 'media'}: ${err.message.replace(path, label)}`);
    });
    if (probe.kind !== 'audio') return { kind: probe.kind, durationMs: probe.durationMs, format: probe.format, loudnessLufs: null, truePeakDbtp: null, gainDb: 0 };
    const loudness = await measureLoudness(path, this.opts.ffmpegPath).catch((err: Error) => {
      throw new ReasonError('does-not-decode', `does not decode: ${err.message.replace(path, label)}`);
    });
    return {
      kind: 'audio',
      durationMs: probe.durationMs,
      format: probe.format,
      loudnessLufs: Number.isFinite(loudness.integratedLufs) ? loudness.integratedLufs : null,
      truePeakDbtp: Number.isFinite(loudness.truePeakDbtp) ? loudness.truePeakDbtp : null,
      gainDb: normalisationGain(loudness, { targetLufs: this.opts.targetLufs, truePeakDbtp: this.opts.truePeakDbtp }),
    };
  }

  private async reindex(sha256: string, row?: Row): Promise<void> {
    const path = this.pathFor(sha256);
    // The file says what it is: a problem row's kind may be the column default, not the truth.
    const facts = await this.examine(path, undefined, row?.name ?? sha256);
    const { size } = await stat(path);
    this.upsert({
      sha256,
      name: row?.name ?? sha256,
      bytes: size,
      ...facts,
      importedMs: this.now(),
      lastUsedMs: null,
      state: 'ok',
      problem: null,
    });
    this.log.warn({ content: sha256 }, 'content file without an index row: re-indexed');
  }

  /** Moves a fully written temp file to its content path, durably. */
  private async place(tmp: string, sha256: string): Promise<void> {
    const sub = join(this.dir, sha256.slice(0, 2));
    await mkdir(sub, { recursive: true });
    await fsyncDirectory(this.dir);
    await rename(tmp, this.pathFor(sha256));
    await fsyncDirectory(sub);
    await fsyncDirectory(this.dir);
  }

  private async quarantine(sha256: string, name: string, reason: string): Promise<void> {
    const qdir = join(this.dir, QUARANTINE);
    await mkdir(qdir, { recursive: true });
    await rename(this.pathFor(sha256), join(qdir, `${sha256}-${this.now()}`)).catch(() => undefined);
    await fsyncDirectory(qdir);
    this.markProblem(sha256, name, 'quarantined', reason);
    await this.pruneQuarantine(qdir);
  }

  private async pruneQuarantine(qdir: string): Promise<void> {
    const files = await Promise.all((await readdir(qdir)).map(async (f) => ({ f, mtime: (await stat(join(qdir, f))).mtimeMs })));
    files.sort((a, b) => b.mtime - a.mtime);
    for (const { f } of files.slice(QUARANTINE_KEEP)) await unlink(join(qdir, f)).catch(() => undefined);
  }

  /** Row state and outbox report in one transaction; reported once per transition. */
  private markProblem(sha256: string, name: string, state: 'missing' | 'quarantined', reason: string): void {
    const before = this.get(sha256);
    if (before?.state === state) return;
    this.db.transaction(() => {
      if (before) {
        this.db.prepare('UPDATE content SET state = ?, problem = ? WHERE sha256 = ?').run(state, reason, sha256);
      } else {
        this.db
          .prepare("INSERT INTO content (sha256, name, bytes, duration_ms, format, imported_ms, state, problem) VALUES (?, ?, 0, 0, '', ?, ?, ?)")
          .run(sha256, name, this.now(), state, reason);
      }
      this.opts.events.recordEvent('content.problem', 'error', `content ${name} (${sha256}) is ${state}: ${reason}`.slice(0, 1000), { sha256, name, state, reason }, this.now());
    })();
    this.log.warn({ content: sha256, name, state, reason }, `content ${state}: will not play; fetching it again`);
    this.onProblem(sha256);
  }

  private upsert(r: ContentRecord): void {
    this.db
      .prepare(
        `INSERT INTO content (sha256, kind, name, bytes, duration_ms, format, loudness_lufs, true_peak_dbtp, gain_db, imported_ms, last_used_ms, state, problem)
         VALUES (@sha256, @kind, @name, @bytes, @durationMs, @format, @loudnessLufs, @truePeakDbtp, @gainDb, @importedMs, @lastUsedMs, @state, @problem)
         ON CONFLICT(sha256) DO UPDATE SET kind = excluded.kind, name = excluded.name, bytes = excluded.bytes, duration_ms = excluded.duration_ms,
           format = excluded.format, loudness_lufs = excluded.loudness_lufs, true_peak_dbtp = excluded.true_peak_dbtp,
           gain_db = excluded.gain_db, imported_ms = excluded.imported_ms, state = 'ok', problem = NULL`,
      )
      .run(r);
  }
}

function toRecord(r: Row): ContentRecord {
  return {
    sha256: r.sha256,
    kind: r.kind,
    name: r.name,
    bytes: r.bytes,
    durationMs: r.duration_ms,
    format: r.format,
    loudnessLufs: r.loudness_lufs,
    truePeakDbtp: r.true_peak_dbtp,
    gainDb: r.gain_db,
    importedMs: r.imported_ms,
    lastUsedMs: r.last_used_ms,
    state: r.state,
    problem: r.problem,
  };
}

/** Renames src to dst, then hashes and fsyncs it; null where it cannot be renamed (another file system). */
async function movedHashed(src: string, dst: string): Promise<{ sha256: string; bytes: number } | null> {
  try {
    await rename(src, dst);
  } catch {
    return null;
  }
  const file = await open(dst, 'r+');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
  return { sha256: await hashFile(dst), bytes: (await stat(dst)).size };
}

/** Copies src to a new file at dst, hashing on the way, and fsyncs it. */
async function copyHashed(src: string, dst: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const out = await open(dst, 'wx', 0o644);
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: 256 * 1024 })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      await out.write(buf);
      bytes += buf.length;
    }
    await out.sync();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw e.code === 'ENOENT' && e.path === src ? new ReasonError('no-such-file', 'no such file') : new ReasonError('unreadable', e.message, { detail: e.code ?? e.message });
  } finally {
    await out.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
