import { randomUUID } from 'node:crypto';
import type { Db } from '../store/database.js';
import type { OutboxKind } from './protocol.js';

/**
 * The durable outbox (table outbox): play log, events, health and command
 * answers wait here until the broker acknowledges them (QoS 1 PUBACK), then
 * are deleted. Delivery is at least once; every row has an id the province
 * uses to drop duplicates.
 *
 * `add` is synchronous so a caller can put it in the same SQLite
 * transaction as the fact it reports (a play-log row and its outbox row
 * commit together or not at all).
 *
 * Bound (a station offline for months): when the table exceeds maxRows or
 * maxBytes, the oldest rows are dropped in this order: health first (only
 * the latest matters), then events, then answers to commands, then proof
 * of display (`board.shown` events), then play log (both also stay in their
 * tables, play_log and board_proof, and can be sent again with the
 * upload-log command). Dropped counts are kept in `meta` and sent
 * as one `outbox.dropped` event, so the province knows exactly what it lost.
 */

export interface OutboxRow {
  seq: number;
  id: string;
  kind: OutboxKind;
  payload: string;
  createdMs: number;
}

export interface OutboxLimits {
  maxRows: number;
  maxBytes: number;
}

/** Bounds for a station without a sync section (its records still wait for a later province link). */
export const OUTBOX_DEFAULTS: OutboxLimits = { maxRows: 200_000, maxBytes: 64 * 1024 * 1024 };

/** Proof of display travels as an event but is dropped after every other event and answer. */
const PROOF_EVENT = "COALESCE(json_extract(payload, '$.body.event'), '') = 'board.shown'";
/** What is dropped first when the outbox is full; `name` is the key in the dropped counts. */
const DROP_ORDER: ReadonlyArray<{ name: string; where: string }> = [
  { name: 'health', where: "kind = 'health'" },
  { name: 'event', where: `kind = 'event' AND NOT (${PROOF_EVENT})` },
  { name: 'response', where: "kind = 'response'" },
  { name: 'proof', where: `kind = 'event' AND ${PROOF_EVENT}` },
  { name: 'play', where: "kind = 'play'" },
];
const DROPPED_KEY = 'sync.outbox_dropped';
const RECOUNT_EVERY = 10_000;

export class Outbox {
  // Statements and transactions are prepared once: this is the hot path of every report.
  private readonly insertStmt;
  private readonly countStmt;
  private readonly depthStmt;
  private readonly nextStmt;
  private readonly deleteStmt;
  private readonly addTx;
  private readonly healthTx;
  private listeners: Array<() => void> = [];
  /**
   * Rows and bytes, kept in memory so the bound costs nothing per insert
   * (a full outbox has 200,000 rows). Counted from the table at start and
   * again every RECOUNT_EVERY changes; this instance must be the only writer
   * (the daemon uses SyncClient.outbox).
   */
  private n = 0;
  private bytes = 0;
  private changes = 0;

  constructor(
    private readonly db: Db,
    private readonly limits: OutboxLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.insertStmt = db.prepare('INSERT OR IGNORE INTO outbox (id, kind, payload, created_ms) VALUES (?, ?, ?, ?)');
    this.countStmt = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(length(payload)), 0) AS bytes FROM outbox');
    this.depthStmt = db.prepare('SELECT COUNT(*) AS n FROM outbox');
    this.nextStmt = db.prepare('SELECT seq, id, kind, payload, created_ms FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.deleteStmt = db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING length(payload) AS len');
    const deleteHealthReturning = db.prepare("DELETE FROM outbox WHERE kind = 'health' RETURNING length(payload) AS len");
    this.addTx = db.transaction((id: string, kind: OutboxKind, payload: string) => {
      if (this.insertStmt.run(id, kind, payload, this.now()).changes) this.counted(1, payload.length);
      this.enforce();
    });
    this.healthTx = db.transaction((id: string, payload: string) => {
      for (const r of deleteHealthReturning.all() as Array<{ len: number }>) this.counted(-1, -r.len);
      this.insertStmt.run(id, 'health', payload, this.now());
      this.counted(1, payload.length);
      this.enforce();
    });
    this.recount();
  }

  private recount(): void {
    const c = this.countStmt.get() as { n: number; bytes: number };
    this.n = c.n;
    this.bytes = c.bytes;
    this.changes = 0;
  }

  private counted(rows: number, bytes: number): void {
    this.n += rows;
    this.bytes += bytes;
    if (++this.changes >= RECOUNT_EVERY) this.recount();
  }

  /** Queues one message body; returns its id. An id already queued is not queued twice. */
  add(kind: OutboxKind, body: unknown, id: string = randomUUID()): string {
    this.addTx(id, kind, JSON.stringify(body));
    this.notify();
    return id;
  }

  /**
   * Health is coalesced: a new report replaces the one not yet sent, so a
   * long offline period leaves one health row, not thousands.
   */
  putHealth(body: unknown, id: string = randomUUID()): string {
    this.healthTx(id, JSON.stringify(body));
    this.notify();
    return id;
  }

  /** Oldest first, skipping rows already in flight. */
  next(limit: number, afterSeq = 0): OutboxRow[] {
    return (
      this.nextStmt.all(afterSeq, limit) as Array<{
        seq: number;
        id: string;
        kind: OutboxKind;
        payload: string;
        created_ms: number;
      }>
    ).map((r) => ({ seq: r.seq, id: r.id, kind: r.kind, payload: r.payload, createdMs: r.created_ms }));
  }

  /** After the broker's acknowledgement. */
  delete(seq: number): void {
    // Stepped to its end (all, not get): get() resets the statement after its row, and a commit the disk refuses then fails silently.
    const gone = (this.deleteStmt.all(seq) as Array<{ len: number }>)[0];
    if (gone) this.counted(-1, -gone.len);
  }

  /**
   * Counted in the table, not taken from the running count: a transaction
   * the disk refused (full, read-only) after its add was counted would
   * leave that count high for good, and the soaks and the operator wait
   * for 0. Read by status and health only.
   */
  depth(): number {
    this.n = (this.depthStmt.get() as { n: number }).n;
    return this.n;
  }

  dropped(): Record<string, number> {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(DROPPED_KEY) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as Record<string, number>) : {};
  }

  /** Called when the drop report has been queued, so counts are reported once. */
  takeDropped(): Record<string, number> {
    return this.db.transaction(() => {
      const d = this.dropped();
      this.db.prepare('DELETE FROM meta WHERE key = ?').run(DROPPED_KEY);
      return d;
    })();
  }

  /** Notified after every add: the client drains at once when online. */
  onAdded(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  // After the caller's transaction, never inside it: a rolled-back row must not be published.
  private notify(): void {
    queueMicrotask(() => {
      for (const l of this.listeners) l();
    });
  }

  private enforce(): void {
    if (this.n <= this.limits.maxRows && this.bytes <= this.limits.maxBytes) return;
    let { n, bytes } = this.countStmt.get() as { n: number; bytes: number };
    const dropped = this.dropped();
    for (const { name, where } of DROP_ORDER) {
      while (n > this.limits.maxRows || bytes > this.limits.maxBytes) {
        // Drop in chunks of ~1 % so a full outbox is not trimmed one row per insert.
        const chunk = Math.max(1, Math.ceil(this.limits.maxRows / 100), n - this.limits.maxRows);
        const gone = this.db
          .prepare(`DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE ${where} ORDER BY seq LIMIT ?) RETURNING length(payload) AS len`)
          .all(chunk) as Array<{ len: number }>;
        if (gone.length === 0) break;
        dropped[name] = (dropped[name] ?? 0) + gone.length;
        n -= gone.length;
        bytes -= gone.reduce((s, g) => s + g.len, 0);
      }
    }
    this.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(DROPPED_KEY, JSON.stringify(dropped));
    this.n = n;
    this.bytes = bytes;
  }
}
