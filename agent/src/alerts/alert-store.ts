import type { Db } from '../store/database.js';
import type { AlertOrigin, CapAlert } from './alert.js';
import type { AlertRegistry, Effects, KnownAlert, Overtaken, RegistryState } from './lifecycle.js';

/**
 * The alert registry in SQLite (tables `alert`, `alert_overtaken`): every
 * alert message the station has received, whatever brought it, with its
 * lifecycle state (alerts/lifecycle.ts) and what the station did with it
 * (which request plays it, when it last played). It survives restarts: a
 * power cut mid-alert resumes from here, and a Cancel that arrived before
 * its original keeps that original silent.
 */

export interface StoredAlert extends KnownAlert {
  origin: AlertOrigin;
  /** The station request that plays it now or played it last. */
  requestId?: string;
  /** When its last play ended (repeats count from here). */
  lastPlayMs?: number;
  plays: number;
  /** No more plays: played out, expired, or ended by the lifecycle. */
  finished: boolean;
  receivedMs: number;
}

interface Row {
  key: string;
  doc: string;
  origin: string;
  registry: string;
  ended_by: string | null;
  request_id: string | null;
  last_play_ms: number | null;
  plays: number;
  finished: number;
  received_ms: number;
}

export class AlertStore {
  constructor(private readonly db: Db) {}

  /** The registry as the lifecycle functions take it. */
  registry(): AlertRegistry {
    const alerts = (this.db.prepare('SELECT * FROM alert').all() as Row[]).map(recordOf);
    const overtaken = (this.db.prepare('SELECT key, by_key, kind, sent_ms, status FROM alert_overtaken').all() as Array<{ key: string; by_key: string; kind: Overtaken['kind']; sent_ms: number; status: Overtaken['status'] }>)
      .map((o) => ({ key: o.key, by: o.by_key, kind: o.kind, sentMs: o.sent_ms, status: o.status }));
    return { alerts, overtaken };
  }

  /** A message's effects (applyAlertMessage), in one transaction: a power cut keeps all of them or none. */
  apply(fx: Effects, incoming: { origin: AlertOrigin; raw?: string }, nowMs: number): void {
    this.db.transaction(() => {
      const end = this.db.prepare('UPDATE alert SET registry = ?, ended_by = ?, updated_ms = ? WHERE key = ?');
      for (const r of fx.replace) end.run('superseded', r.by, nowMs, r.old);
      for (const k of fx.withdraw) end.run('cancelled', fx.add?.key ?? k, nowMs, k);
      if (fx.add) this.insert(fx.add, incoming.origin, incoming.raw, nowMs);
      const forget = this.db.prepare('DELETE FROM alert_overtaken WHERE key = ?');
      for (const k of fx.forget) forget.run(k);
      const remember = this.db.prepare('INSERT INTO alert_overtaken (key, by_key, kind, sent_ms, status) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET by_key = excluded.by_key, kind = excluded.kind, sent_ms = excluded.sent_ms, status = excluded.status');
      for (const o of fx.remember) if (!fx.forget.includes(o.key)) remember.run(o.key, o.by, o.kind, o.sentMs, o.status);
    })();
  }

  /** A station emergency (button, CLI, a province play command) made an alert of its own. */
  addOwn(known: KnownAlert, origin: AlertOrigin, requestId: string, nowMs: number): void {
    this.db.transaction(() => {
      this.insert(known, origin, undefined, nowMs);
      this.db.prepare('UPDATE alert SET request_id = ? WHERE key = ?').run(requestId, known.key);
    })();
  }

  private insert(a: KnownAlert, origin: AlertOrigin, raw: string | undefined, nowMs: number): void {
    const c = a.alert;
    this.db
      .prepare(
        `INSERT INTO alert (key, identifier, sender, sent_ms, status, msg_type, refs, origin, doc, raw, registry, ended_by, received_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
      )
      .run(a.key, c.identifier, c.sender, c.sentMs, c.status, c.msgType, JSON.stringify(c.references), origin, JSON.stringify(c), raw ?? null, a.state, a.endedBy ?? null, nowMs, nowMs);
  }

  get(key: string): StoredAlert | null {
    const row = this.db.prepare('SELECT * FROM alert WHERE key = ?').get(key) as Row | undefined;
    return row ? recordOf(row) : null;
  }

  byRequest(requestId: string): StoredAlert | null {
    const row = this.db.prepare('SELECT * FROM alert WHERE request_id = ? LIMIT 1').get(requestId) as Row | undefined;
    return row ? recordOf(row) : null;
  }

  /** Alerts not yet finished: live ones that may play or show, and ended ones whose plays are still to stop. */
  open(): StoredAlert[] {
    return (this.db.prepare('SELECT * FROM alert WHERE finished = 0 ORDER BY received_ms').all() as Row[]).map(recordOf);
  }

  recent(limit: number): StoredAlert[] {
    return (this.db.prepare('SELECT * FROM alert ORDER BY received_ms DESC LIMIT ?').all(limit) as Row[]).map(recordOf);
  }

  /** A play of it was submitted as `requestId`. */
  playing(key: string, requestId: string, nowMs: number): void {
    this.db.prepare('UPDATE alert SET request_id = ?, plays = plays + 1, updated_ms = ? WHERE key = ?').run(requestId, nowMs, key);
  }

  /** Its play ended at `atMs` (a repeat counts from here). */
  playEnded(key: string, atMs: number): void {
    this.db.prepare('UPDATE alert SET last_play_ms = ?, updated_ms = ? WHERE key = ?').run(atMs, atMs, key);
  }

  finish(key: string, nowMs: number): void {
    this.db.prepare('UPDATE alert SET finished = 1, updated_ms = ? WHERE key = ?').run(nowMs, key);
  }

  /** A station emergency ended by its request (stopped, cancelled, failed): the lifecycle's cancelled. */
  end(key: string, state: RegistryState, nowMs: number): void {
    this.db.prepare('UPDATE alert SET registry = ?, finished = 1, updated_ms = ? WHERE key = ?').run(state, nowMs, key);
  }
}

function recordOf(r: Row): StoredAlert {
  return {
    key: r.key,
    alert: JSON.parse(r.doc) as CapAlert,
    state: r.registry as RegistryState,
    ...(r.ended_by !== null ? { endedBy: r.ended_by } : {}),
    origin: r.origin as AlertOrigin,
    ...(r.request_id !== null ? { requestId: r.request_id } : {}),
    ...(r.last_play_ms !== null ? { lastPlayMs: r.last_play_ms } : {}),
    plays: r.plays,
    finished: r.finished === 1,
    receivedMs: r.received_ms,
  };
}
