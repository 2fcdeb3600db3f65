import Database from 'better-sqlite3';
import { normaliseCode, newToken, tokenDigest } from '../../agent/src/provision/code.js';
import type { ProvisionZone } from '../../agent/src/provision/protocol.js';

/**
 * The province's record of enrolments, stations and tokens (SQLite, WAL), so
 * that `scripts/province approve CODE` can run in another process than the
 * enrolment service: the service reads the decision when the station next
 * asks. Tokens are kept as SHA-256 digests, passwords as Mosquitto hashes.
 */

export interface Approval {
  station?: string;
  groups?: string[];
  zones?: ProvisionZone[];
  name?: string;
}

export interface PendingEnrolment {
  code: string;
  stationKey: string;
  hostname: string;
  createdMs: number;
  seenMs: number;
}

export interface EnrolmentRow extends PendingEnrolment {
  status: 'pending' | 'approved' | 'rejected' | 'replaced';
  stationId: string | null;
  groups: string[];
  zones: ProvisionZone[] | null;
  name: string | null;
  csr: string | null;
}

export interface StationRow {
  id: string;
  stationKey: string;
  groups: string[];
  passwordLine: string | null;
}

export type TokenCheck = { ok: true; approval: Approval } | { ok: false; reason: 'bad-token' | 'expired-token' | 'used-token' };

/** A pending enrolment not heard from for this long is forgotten (the station, still asking, would renew it). */
export const PENDING_TTL_MS = 3_600_000;

export class EnrolmentStore {
  readonly db: Database.Database;

  constructor(path: string, private readonly now: () => number = Date.now) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS enrolment (
        station_key TEXT PRIMARY KEY, code TEXT NOT NULL, status TEXT NOT NULL, station_id TEXT, groups TEXT NOT NULL DEFAULT '[]',
        zones TEXT, name TEXT, hostname TEXT NOT NULL DEFAULT '', csr TEXT, created_ms INTEGER NOT NULL, seen_ms INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS enrolment_code ON enrolment(code);
      CREATE TABLE IF NOT EXISTS station (id TEXT PRIMARY KEY, station_key TEXT NOT NULL UNIQUE, groups TEXT NOT NULL, password_line TEXT);
      CREATE TABLE IF NOT EXISTS token (digest TEXT PRIMARY KEY, approval TEXT NOT NULL, expires_ms INTEGER NOT NULL, used_by TEXT, used_ms INTEGER);`);
  }

  close(): void {
    this.db.close();
  }

  enrolment(stationKey: string): EnrolmentRow | undefined {
    const r = this.db.prepare('SELECT * FROM enrolment WHERE station_key = ?').get(stationKey) as Record<string, unknown> | undefined;
    return r ? toRow(r) : undefined;
  }

  /** Records (or renews) the station's request; a decision already taken stays. */
  seen(p: { stationKey: string; code: string; hostname: string; csr?: string }): EnrolmentRow {
    const t = this.now();
    const old = this.enrolment(p.stationKey);
    const expired = old?.status === 'pending' && t - old.seenMs > PENDING_TTL_MS;
    if (!old || expired) {
      this.db.prepare("INSERT OR REPLACE INTO enrolment (station_key, code, status, hostname, csr, created_ms, seen_ms) VALUES (?, ?, 'pending', ?, ?, ?, ?)").run(p.stationKey, p.code, p.hostname, p.csr ?? null, t, t);
    } else {
      this.db.prepare('UPDATE enrolment SET seen_ms = ?, hostname = ?, csr = coalesce(?, csr) WHERE station_key = ?').run(t, p.hostname, p.csr ?? null, p.stationKey);
    }
    return this.enrolment(p.stationKey)!;
  }

  pending(): PendingEnrolment[] {
    const rows = this.db.prepare("SELECT * FROM enrolment WHERE status = 'pending' AND seen_ms >= ? ORDER BY created_ms").all(this.now() - PENDING_TTL_MS) as Array<Record<string, unknown>>;
    return rows.map(toRow).map(({ code, stationKey, hostname, createdMs, seenMs }) => ({ code, stationKey, hostname, createdMs, seenMs }));
  }

  /** The station id a code becomes when the operator gives none: "st-" and the code. */
  static defaultStationId(code: string): string {
    return `st-${code.replace('-', '').toLowerCase()}`;
  }

  /**
   * The operator's approval of the code read out to them. A station id that
   * already belongs to another key is handed over to this one (a reflashed
   * controller): the old key is marked replaced and can get nothing more.
   */
  approveCode(typed: string, a: Approval = {}): EnrolmentRow {
    const code = normaliseCode(typed);
    if (!code) throw new Error(`"${typed}" is not an enrolment code (8 letters and digits, like 4K7Q-M2XA)`);
    const row = this.pending().find((p) => p.code === code);
    if (!row) {
      const waiting = this.pending().map((p) => p.code);
      throw new Error(`no station waits with code ${code}${waiting.length ? ` (waiting: ${waiting.join(', ')})` : ' (none waits now)'}`);
    }
    return this.approveKey(row.stationKey, a, code);
  }

  approveKey(stationKey: string, a: Approval, code: string): EnrolmentRow {
    const id = a.station ?? this.stationOfKey(stationKey)?.id ?? EnrolmentStore.defaultStationId(code);
    const groups = a.groups ?? this.station(id)?.groups ?? [];
    this.db.transaction(() => {
      const holder = this.station(id);
      if (holder && holder.stationKey !== stationKey) this.db.prepare("UPDATE enrolment SET status = 'replaced' WHERE station_key = ?").run(holder.stationKey);
      // A key holds one station: enrolling it again under another id moves it.
      this.db.prepare('DELETE FROM station WHERE station_key = ? AND id != ?').run(stationKey, id);
      this.db.prepare('INSERT INTO station (id, station_key, groups, password_line) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET station_key = excluded.station_key, groups = excluded.groups')
        .run(id, stationKey, JSON.stringify(groups), holder?.passwordLine ?? null);
      this.db.prepare("UPDATE enrolment SET status = 'approved', station_id = ?, groups = ?, zones = ?, name = ? WHERE station_key = ?")
        .run(id, JSON.stringify(groups), a.zones ? JSON.stringify(a.zones) : null, a.name ?? null, stationKey);
    })();
    return this.enrolment(stationKey)!;
  }

  reject(typed: string): void {
    const code = normaliseCode(typed);
    const n = code ? this.db.prepare("UPDATE enrolment SET status = 'rejected' WHERE code = ? AND status = 'pending'").run(code).changes : 0;
    if (n === 0) throw new Error(`no station waits with code ${typed}`);
  }

  station(id: string): StationRow | undefined {
    const r = this.db.prepare('SELECT * FROM station WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toStation(r) : undefined;
  }

  stationOfKey(stationKey: string): StationRow | undefined {
    const r = this.db.prepare('SELECT * FROM station WHERE station_key = ?').get(stationKey) as Record<string, unknown> | undefined;
    return r ? toStation(r) : undefined;
  }

  stations(): StationRow[] {
    return (this.db.prepare('SELECT * FROM station ORDER BY id').all() as Array<Record<string, unknown>>).map(toStation);
  }

  setPasswordLine(id: string, line: string): void {
    this.db.prepare('UPDATE station SET password_line = ? WHERE id = ?').run(line, id);
  }

  /** A one-time token for a station to enrol without anyone reading a code out. */
  newToken(a: Approval, ttlMs: number): { token: string; expiresMs: number } {
    const token = newToken();
    const expiresMs = this.now() + ttlMs;
    this.db.prepare('INSERT INTO token (digest, approval, expires_ms) VALUES (?, ?, ?)').run(tokenDigest(token), JSON.stringify(a), expiresMs);
    return { token, expiresMs };
  }

  /** Spends a token for this key (the same key may present it again, as a lost answer makes it do). */
  useToken(typed: string, stationKey: string): TokenCheck {
    const r = this.db.prepare('SELECT * FROM token WHERE digest = ?').get(tokenDigest(typed)) as { approval: string; expires_ms: number; used_by: string | null } | undefined;
    if (!r) return { ok: false, reason: 'bad-token' };
    if (r.used_by !== null && r.used_by !== stationKey) return { ok: false, reason: 'used-token' };
    if (r.used_by === null && this.now() > r.expires_ms) return { ok: false, reason: 'expired-token' };
    this.db.prepare('UPDATE token SET used_by = ?, used_ms = coalesce(used_ms, ?) WHERE digest = ?').run(stationKey, this.now(), tokenDigest(typed));
    return { ok: true, approval: JSON.parse(r.approval) as Approval };
  }
}

function toRow(r: Record<string, unknown>): EnrolmentRow {
  return {
    stationKey: String(r.station_key), code: String(r.code), status: r.status as EnrolmentRow['status'], stationId: (r.station_id as string | null) ?? null,
    groups: JSON.parse(String(r.groups)) as string[], zones: r.zones ? (JSON.parse(String(r.zones)) as ProvisionZone[]) : null, name: (r.name as string | null) ?? null,
    hostname: String(r.hostname), csr: (r.csr as string | null) ?? null, createdMs: Number(r.created_ms), seenMs: Number(r.seen_ms),
  };
}

function toStation(r: Record<string, unknown>): StationRow {
  return { id: String(r.id), stationKey: String(r.station_key), groups: JSON.parse(String(r.groups)) as string[], passwordLine: (r.password_line as string | null) ?? null };
}
