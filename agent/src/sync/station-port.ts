import type { MediaKind } from '../audio/probe.js';
import type { BoardSchedule } from '../board/playlist.js';
import type { Db } from '../store/database.js';
import { replaceSchedule } from '../store/station-store.js';
import type { CommandAction, Command } from './protocol.js';
import type { ContentEntry, StationSettings, ValidatedTarget, ZoneSetting } from './target.js';

/**
 * What the sync client needs from the rest of the station. The daemon
 * implements it over the scheduler, relays and cache; the fleet bench and the
 * sync tests implement it over simulated hardware (SimulatedStation).
 */
export interface StationPort {
  /** Zone names of this station's relay profile, and what it can do (for the birth message). */
  describe(): { zones: string[]; capabilities: string[]; software: string };

  contentCache: ContentStore;

  /**
   * Called after a target has been committed (activateTarget below): the
   * scheduler re-plans from the programme table and applies zones/settings.
   */
  onTargetActivated(target: ValidatedTarget): void;

  /**
   * Carries out play, stop, volume, relay-test and reboot (the sync client
   * handles resync and upload-log itself). Resolves when done; a rejection
   * names the reason (unknown content, zone, busy with an emergency...).
   */
  runCommand(cmd: StationCommand): Promise<CommandOutcome>;

  snapshot(): StationSnapshot;
}

export type PortAction = Exclude<CommandAction, { action: 'resync' } | { action: 'upload-log' } | { action: 'clock-reset' }>;

export interface StationCommand {
  /** Correlation id from the province; also the request id for play. */
  id: string;
  issuedMs: number;
  /** Province time after which it must not start (issuedMs + ttlMs). */
  expiresMs: number;
  via: Command['to'];
  action: PortAction;
}

export interface CommandOutcome {
  status: 'done' | 'rejected';
  reason?: string;
  result?: unknown;
}

export interface ContentStore {
  has(sha256: string): boolean;
  /** Takes a downloaded file over (it may be moved, not copied); throws when it is not usable media of that kind or the hash differs. */
  import(srcPath: string, name: string, expectedSha256: string, kind: MediaKind): Promise<unknown>;
}

export interface StationSnapshot {
  playing: Array<{ source: string; id: string; content?: string; priority: number; zones: string[]; startedMs: number }>;
  faults: string[];
  clock: { trusted: boolean; reason: string };
  cache?: { items: number; mb: number };
  diskFreeMb?: number;
}

export interface AppliedTarget {
  version: number;
  issuedMs: number;
  appliedMs: number;
  zones: ZoneSetting[];
  settings: StationSettings;
  /** null (or absent, before the board existed): the built-in clock. */
  board?: BoardSchedule | null;
  /** The content manifest, kept so the cache is healed against it at start (absent in targets applied by older versions). */
  content?: ContentEntry[];
}

const APPLIED_KEY = 'sync.applied';

/**
 * Commits a target in one SQLite transaction: the programme table replaced
 * by the target's programmes and the applied version, zones and settings
 * recorded in `meta`. A power cut leaves either the old target or the new
 * one in force, never a mix.
 */
export function activateTarget(db: Db, target: ValidatedTarget, nowMs: number, clockTrusted = true): AppliedTarget {
  const applied: AppliedTarget = {
    version: target.version,
    issuedMs: target.issuedMs,
    appliedMs: nowMs,
    zones: target.zones,
    settings: target.settings,
    board: target.board,
    content: target.content,
  };
  db.transaction(() => {
    // Dated by trusted time only: an untrusted clock gives way to the province's signature.
    replaceSchedule(db, { programmes: target.programmes }, clockTrusted ? nowMs : target.issuedMs);
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(
      APPLIED_KEY,
      JSON.stringify(applied),
    );
  })();
  return applied;
}

/** The target in force (zones and settings for the daemon), or undefined before the first one. */
export function readAppliedTarget(db: Db): AppliedTarget | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(APPLIED_KEY) as { value: string } | undefined;
  return row ? (JSON.parse(row.value) as AppliedTarget) : undefined;
}
