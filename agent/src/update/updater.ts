import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { UpdateConfig } from '../config/schema.js';
import type { Db } from '../store/database.js';
import { databasePath } from '../store/database.js';
import { Downloader } from '../sync/download.js';
import type { CommandOutcome } from '../sync/station-port.js';
import type { EventBody } from '../sync/protocol.js';
import type { UpdateLock } from '../playout/conductor.js';
import { sleep } from '../lib/backoff.js';
import { SOFTWARE_VERSION } from '../version.js';
import { openManifest, type ReleaseManifest } from './manifest.js';
import { offerRefusal, rollingBack, startupAction, trialVerdict, type UpdateMarker } from './trial.js';
import { linkedVersion, pointLink, pruneReleases, readMarker, releaseDir, unpackBundle, updateDir, writeMarker } from './releases.js';
import { backupDatabase, restoreDatabase, type RestoreOutcome } from './database-rollback.js';

/**
 * The station's updater: takes a release the province announced, fetches
 * its bundle (resumed, cut at the manifest's size, digest checked), checks
 * the release key's signature, unpacks it beside the running release,
 * waits for a gap (the conductor's update lock), backs up the database,
 * switches `current`, and restarts (exit 75: systemd's Restart=on-failure
 * starts the new release). The new release runs on trial and commits after
 * `commitAfterS` of health, or switches back and restarts by itself; a
 * release that cannot even start is switched back by the boot check.
 */

export interface UpdaterOptions {
  config: UpdateConfig;
  stateDir: string;
  db: Db;
  log: Logger;
  /** The version of this process's release (its package.json). */
  running?: string;
  event: (event: string, level: EventBody['level'], message: string, data: Record<string, unknown>) => void;
  lock: (gapMs: number, emergency: string | null) => Promise<UpdateLock | { refused: string }>;
  /** An active emergency or alert, or null. */
  emergency: () => string | null;
  /** The agent exits with 75 so systemd starts `current` (the daemon's onRestartRequested). */
  restart: () => void;
  /** Null: no province link on this station. */
  linkUp: () => boolean | null;
  conductorResponsive: () => Promise<boolean>;
  faults: () => number;
  /** Pinned CA for https bundle URLs. */
  ca?: Buffer;
  now?: () => number;
}

export interface UpdaterStatus {
  running: string;
  state: 'idle' | 'downloading' | 'waiting-gap' | 'switching' | 'trial';
  version?: string;
  waitingFor?: string;
  marker: UpdateMarker | null;
}

/**
 * Before the database is opened: an agent that is the release rolled back
 * to brings the database back to its own schema (the newer rows carried).
 */
export async function prepareUpdateAtStart(stateDir: string, log: Logger, running = SOFTWARE_VERSION): Promise<RestoreOutcome | null> {
  const marker = readMarker(stateDir);
  if (startupAction(marker, running).kind !== 'restore') return null;
  const m = marker!;
  const outcome = restoreDatabase(databasePath(stateDir), m.backup, m.schemaBefore, m.to);
  log.warn({ from: m.to, to: running, ...outcome }, outcome.restored ? 'rolled back: database restored to this release\'s schema, newer rows carried' : 'rolled back: the database schema had not changed');
  await writeMarker(stateDir, { ...m, state: 'rolled-back', reported: false, ...(outcome.carryError ? { reason: `${m.reason ?? ''}; rows since the switch not carried: ${outcome.carryError}` } : {}) });
  return outcome;
}

export class Updater {
  private readonly running: string;
  private readonly now: () => number;
  private state: UpdaterStatus['state'] = 'idle';
  private busyWith: string | null = null;
  private waitingFor: string | undefined;
  private readonly stop = new AbortController();
  private trialTimer: NodeJS.Timeout | undefined;
  private readonly startedPerf = performance.now();

  constructor(private readonly o: UpdaterOptions) {
    this.running = o.running ?? SOFTWARE_VERSION;
    this.now = o.now ?? Date.now;
  }

  status(): UpdaterStatus {
    return { running: this.running, state: this.state, ...(this.busyWith ? { version: this.busyWith } : {}), ...(this.waitingFor ? { waitingFor: this.waitingFor } : {}), marker: readMarker(this.o.stateDir) };
  }

  /** After the store and the province link exist: a trial is watched, an outcome not yet told is told. */
  async start(): Promise<void> {
    const marker = readMarker(this.o.stateDir);
    const action = startupAction(marker, this.running);
    if (action.kind === 'trial') {
      this.state = 'trial';
      this.o.log.info({ from: marker!.from, to: marker!.to, starts: marker!.starts }, 'new release on trial');
      this.watchTrial(marker!);
    } else if (action.kind === 'report') await this.report(marker!);
  }

  close(): void {
    this.stop.abort(new Error('agent stopping'));
    clearTimeout(this.trialTimer);
  }

  /** The province's `update` command: checked now, carried out in the background. */
  async offer(a: { manifest: string; url: string }): Promise<CommandOutcome> {
    if (!this.o.config.releaseKey) return { status: 'rejected', reason: 'no release key pinned on this station (update.releaseKey): updates refused' };
    const opened = openManifest(a.manifest, this.o.config.releaseKey);
    if (!opened.ok) return { status: 'rejected', reason: opened.reason };
    const m = opened.manifest;
    const refusal = offerRefusal({
      version: m.version,
      running: this.running,
      current: linkedVersion(this.o.config.root, 'current'),
      schemaNow: this.o.db.pragma('user_version', { simple: true }) as number,
      schema: m.schema,
      marker: readMarker(this.o.stateDir),
      busyWith: this.busyWith,
      bytes: m.bytes,
      maxBytes: this.o.config.maxBundleMb * 1_048_576,
    });
    if (refusal) return { status: 'rejected', reason: refusal };
    this.busyWith = m.version;
    void this.install(m, a.url)
      .catch((err: unknown) => {
        if (this.stop.signal.aborted) return;
        this.o.log.error({ version: m.version, err: (err as Error).message }, 'update failed; the running release stays');
        this.o.event('update.failed', 'error', `update to ${m.version} failed: ${(err as Error).message}`, { version: m.version, from: this.running, reason: (err as Error).message });
      })
      .finally(() => {
        if (this.state !== 'switching') {
          this.state = 'idle';
          this.busyWith = null;
          this.waitingFor = undefined;
        }
      });
    return { status: 'done', result: { version: m.version, from: this.running, state: 'downloading' } };
  }

  private async install(m: ReleaseManifest, url: string): Promise<void> {
    const signal = this.stop.signal;
    const dir = updateDir(this.o.stateDir);
    const bundle = join(dir, `loa-${m.version}.tar.${m.compression === 'zstd' ? 'zst' : 'gz'}`);
    this.state = 'downloading';
    this.o.event('update.downloading', 'info', `downloading ${m.version} (${m.bytes} bytes)`, { version: m.version, from: this.running, bytes: m.bytes });
    const downloader = new Downloader({ dir: join(dir, 'downloads'), parallel: 1, attempts: 5, log: this.o.log, backoff: { initialMs: 1000, maxMs: 30_000 }, ...(this.o.ca ? { ca: this.o.ca } : {}) });
    // The content downloader's resume, size cut and digest check; "importing" is moving the verified file into place.
    const failures = await downloader.fetchAll(
      [{ sha256: m.sha256, kind: 'audio', name: `loa-${m.version}`, bytes: m.bytes, url }],
      { has: () => false, import: async (src) => rename(src, bundle) },
      signal,
    );
    if (failures.length > 0) throw new Error(failures[0]!.error);
    try {
      await unpackBundle(bundle, m.compression, this.o.config.root, m.version);
    } finally {
      await rm(bundle, { force: true });
    }
    this.o.log.info({ version: m.version }, 'release unpacked; waiting for a gap to switch');
    this.state = 'waiting-gap';
    this.o.event('update.ready', 'info', `${m.version} unpacked; switching in the next gap`, { version: m.version, from: this.running });
    await this.switchInGap(m);
  }

  /** Polls the conductor's lock until a gap; then backup, marker, symlinks, restart, in that order. */
  private async switchInGap(m: ReleaseManifest): Promise<void> {
    const pollMs = this.o.config.checkEveryS * 1000;
    for (;;) {
      this.stop.signal.throwIfAborted();
      const lock = await this.o.lock(this.o.config.gapS * 1000, this.o.emergency());
      if ('refused' in lock) {
        if (lock.refused !== this.waitingFor) this.o.log.info({ version: m.version, why: lock.refused }, 'update waits for a gap');
        this.waitingFor = lock.refused;
        await sleep(pollMs, this.stop.signal);
        continue;
      }
      try {
        const from = this.running;
        const backup = join(updateDir(this.o.stateDir), `loa-before-${m.version}.db`);
        await backupDatabase(this.o.db, backup);
        if (lock.revoked.aborted) {
          this.waitingFor = String((lock.revoked.reason as Error)?.message ?? 'a session started');
          continue;
        }
        const playLogSeq = (this.o.db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM play_log').get() as { s: number }).s;
        const previous = readMarker(this.o.stateDir);
        const marker: UpdateMarker = {
          state: 'trial', from, to: m.version, switchedMs: this.now(), starts: 0, backup,
          schemaBefore: this.o.db.pragma('user_version', { simple: true }) as number, playLogSeq,
          failed: previous?.failed ?? [],
        };
        this.state = 'switching';
        await writeMarker(this.o.stateDir, marker);
        // The release switched away from is the one whose boot check guards the next starts.
        if (existsSync(releaseDir(this.o.config.root, from))) await pointLink(this.o.config.root, 'previous', from);
        await pointLink(this.o.config.root, 'current', m.version);
        this.o.log.warn({ from, to: m.version }, 'switched to the new release: restarting');
        this.o.event('update.switching', 'info', `switching from ${from} to ${m.version}: restarting`, { version: m.version, from });
        this.o.restart();
        return;
      } finally {
        lock.release();
      }
    }
  }

  private watchTrial(marker: UpdateMarker): void {
    const pollMs = this.o.config.checkEveryS * 1000;
    const turn = async (): Promise<void> => {
      const missedOrFailed = (this.o.db.prepare("SELECT COUNT(*) AS n FROM play_log WHERE seq > ? AND result IN ('missed', 'failed')").get(marker.playLogSeq) as { n: number }).n;
      const verdict = trialVerdict({
        runningMs: performance.now() - this.startedPerf,
        sinceSwitchMs: this.now() - marker.switchedMs,
        commitAfterMs: this.o.config.commitAfterS * 1000,
        trialMaxMs: this.o.config.trialMaxS * 1000,
        linkUp: this.o.linkUp(),
        missedOrFailed,
        conductorResponsive: await this.o.conductorResponsive(),
        faults: this.o.faults(),
      });
      if (this.stop.signal.aborted) return;
      if (verdict.kind === 'wait') {
        this.trialTimer = setTimeout(() => void turn().catch((err: unknown) => this.o.log.error({ err }, 'trial check failed')), pollMs);
        return;
      }
      const current = readMarker(this.o.stateDir) ?? marker;
      if (verdict.kind === 'commit') {
        const committed: UpdateMarker = { ...current, state: 'committed', reported: false };
        await writeMarker(this.o.stateDir, committed);
        if (committed.backup) await rm(committed.backup, { force: true });
        const kept = [this.running, linkedVersion(this.o.config.root, 'previous')];
        const removed = await pruneReleases(this.o.config.root, kept);
        this.state = 'idle';
        this.o.log.info({ from: marker.from, to: marker.to, removed }, 'new release committed');
        await this.report(committed);
        return;
      }
      const back = rollingBack(current, verdict.reason);
      await writeMarker(this.o.stateDir, back);
      await pointLink(this.o.config.root, 'current', marker.from);
      this.o.log.error({ from: marker.to, to: marker.from, reason: verdict.reason }, 'new release unhealthy: switched back, restarting');
      this.o.event('update.rolling-back', 'error', `${marker.to} unhealthy (${verdict.reason}): switching back to ${marker.from}`, { version: marker.to, from: marker.from, reason: verdict.reason });
      this.o.restart();
    };
    this.trialTimer = setTimeout(() => void turn().catch((err: unknown) => this.o.log.error({ err }, 'trial check failed')), pollMs);
  }

  /** The outcome, to the province through the outbox (durable: it goes out whenever the link is up). */
  private async report(marker: UpdateMarker): Promise<void> {
    if (marker.state === 'committed') {
      this.o.event('update.committed', 'info', `${marker.to} committed (was ${marker.from})`, { version: marker.to, from: marker.from, starts: marker.starts });
    } else {
      this.o.event('update.rolled-back', 'error', `${marker.to} rolled back to ${marker.from}: ${marker.reason ?? 'unknown reason'}`, { version: marker.to, from: marker.from, reason: marker.reason ?? null });
    }
    await writeMarker(this.o.stateDir, { ...marker, reported: true });
  }
}
