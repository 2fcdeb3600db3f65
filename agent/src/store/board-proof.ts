import { randomUUID } from 'node:crypto';
import type { Db } from './database.js';
import type { Outbox } from '../sync/outbox.js';
import { outboxMessage } from '../sync/protocol.js';
import type { BoardProofRow } from '../board/server.js';

/**
 * Proof of display in SQLite (table board_proof), like the play log: each
 * showing is written when it ends, with its outbox copy in the same
 * transaction. The outbox copy is the `board.shown` event the province
 * already reads; its id is the row's id, so `upload-log` sending it again is
 * recognised as the same showing.
 */
export interface StoredBoardProof extends BoardProofRow {
  seq: number;
  id: string;
  clock: string;
}

/** The event body of one showing (docs/schemas/event). */
export function boardShownEvent(row: BoardProofRow & { id: string }): { event: string; level: 'info' | 'warn'; message: string; data: Record<string, unknown> } {
  return { event: 'board.shown', level: row.result === 'failed' ? 'warn' : 'info', message: `board ${row.kind} ${row.itemId}: ${row.result}`, data: { ...row } };
}

export function recordBoardProof(db: Db, outbox: Outbox, stationId: string, rows: readonly BoardProofRow[], clock: string, nowMs: number): void {
  if (rows.length === 0) return;
  const insert = db.prepare(
    `INSERT INTO board_proof (id, key, item_id, kind, source, shown_ms, ended_ms, result, problem, clock)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const row of rows) {
      const id = randomUUID();
      insert.run(id, row.key, row.itemId, row.kind, row.source, row.shownMs, row.endedMs, row.result, row.problem, clock);
      outbox.add('event', outboxMessage(stationId, 'event', boardShownEvent({ id, ...row }), id, nowMs), id);
    }
  })();
}

interface Raw {
  seq: number;
  id: string;
  key: string;
  item_id: string;
  kind: string;
  source: string;
  shown_ms: number | null;
  ended_ms: number;
  result: BoardProofRow['result'];
  problem: string | null;
  clock: string;
}

function fromRaw(r: Raw): StoredBoardProof {
  return {
    seq: r.seq, id: r.id, key: r.key, itemId: r.item_id, kind: r.kind, source: r.source,
    shownMs: r.shown_ms, endedMs: r.ended_ms, result: r.result, problem: r.problem, clock: r.clock,
  };
}

/** The latest `limit` showings, oldest first (`loa board log`). */
export function recentBoardProof(db: Db, limit: number): StoredBoardProof[] {
  return (db.prepare('SELECT * FROM board_proof ORDER BY seq DESC LIMIT ?').all(limit) as Raw[]).reverse().map(fromRaw);
}

/** Showings that ended in [sinceMs, untilMs], oldest first (upload-log, the yearly report). */
export function boardProofBetween(db: Db, sinceMs: number, untilMs: number, limit = Number.MAX_SAFE_INTEGER): StoredBoardProof[] {
  return (db.prepare('SELECT * FROM board_proof WHERE ended_ms BETWEEN ? AND ? ORDER BY seq LIMIT ?').all(sinceMs, untilMs, limit) as Raw[]).map(fromRaw);
}
