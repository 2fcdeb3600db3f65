import { randomUUID } from 'node:crypto';
import type { RelayEvidence } from '../playout/ports.js';
import type { Db } from './database.js';
import type { LiveSourceSpec, Programme, PlayResult } from '../domain/types.js';
import type { SourceSegment } from '../audio/live/types.js';
import { ProgrammeSchema, describeIssues, type ScheduleDocument } from '../domain/schemas.js';
import { RequestSchema, type StationRequest } from '../domain/request.js';
import type { OccurrenceRecord, ResumePoint } from '../schedule/arbiter.js';
import type { Outbox } from '../sync/outbox.js';
import { outboxMessage } from '../sync/protocol.js';
import type { BoardProofRow } from '../board/server.js';
import { recordBoardProof } from './board-proof.js';

export interface PlayLogRow {
  source: 'schedule' | 'request';
  programmeId?: string;
  occurrenceId?: string;
  requestId?: string;
  content?: string;
  priority: number;
  scheduledMs?: number;
  startedMs?: number;
  endedMs?: number;
  /** Audio the sink received for this item, ms, counted in samples (not wall clock, not the file's length). */
  playedMs?: number;
  zones: string[];
  volume: number;
  result: PlayResult;
  reason?: string;
  clock: string;
  /** Per zone, whether its relay was confirmed on for the whole item, and from what (played items only). */
  relays?: RelayEvidence;
  /** The alert this row proves (CAP identifier, or the station emergency's request id): alerts/manager.ts. */
  alertId?: string;
  /** A live relay (no `content`): what it was and which source was heard from when to when. */
  live?: LiveProof;
}

/** Proof of play of a live item: its sources as planned, and the segments the chain reported (sink time). */
export interface LiveProof {
  label: string;
  sources: LiveSourceSpec[];
  segments: SourceSegment[];
}

export interface StoredPlayLogRow extends PlayLogRow {
  seq: number;
  id: string;
  /** What an operator recognises (`loa log`): the programme's name, the request's label, the file's name, as they are now. */
  programmeName?: string;
  label?: string;
  fileName?: string;
}

export interface UnfinishedOccurrence {
  id: string;
  programmeId: string;
  startMs: number;
  resume: ResumePoint;
  updatedMs: number;
}

export interface UnfinishedRequest {
  request: StationRequest;
  resume: ResumePoint;
  updatedMs: number;
}

/** What an ended item moves forward: the session's resume point, and a queued bulletin it completed. */
export interface ItemProgress {
  resume: ResumePoint;
  occurrence?: { id: string; programmeId: string; startMs: number };
  requestId?: string;
  bulletinPlayed?: string;
}

export type RequestState = 'pending' | 'playing' | 'done' | 'cancelled' | 'expired' | 'failed';

export interface PendingRequestRow {
  request: StationRequest;
  createdMs: number;
  resume?: ResumePoint;
}

/**
 * The station's records in SQLite. Every method that changes more than one
 * row does it in one transaction, so a power cut leaves either all or none.
 */
/**
 * Replaces the whole schedule with a validated document, in one transaction.
 *
 * `knownSinceMs` dates the new programmes: occurrences before it are not
 * accounted for (no "missed" rows for times before the station knew them).
 * It must be a trusted time (the clock trusted, or the province's signed
 * time of a target); null while the clock is untrusted, and the programmes
 * are dated by `dateUndatedSchedule` once it is trusted.
 */
export function replaceSchedule(db: Db, doc: ScheduleDocument, knownSinceMs: number | null): void {
  const existing = new Map(
    (db.prepare('SELECT id, doc, updated_ms, undated FROM programme').all() as Array<{ id: string; doc: string; updated_ms: number; undated: number }>).map((r) => [r.id, r]),
  );
  db.transaction(() => {
    db.prepare('DELETE FROM programme').run();
    const insert = db.prepare('INSERT INTO programme (id, doc, updated_ms, undated) VALUES (?, ?, ?, ?)');
    for (const p of doc.programmes) {
      const json = JSON.stringify(p);
      const before = existing.get(p.id);
      // An unchanged programme keeps its date, so its past occurrences stay accounted for.
      if (before && before.doc === json) insert.run(p.id, json, before.updated_ms, before.undated);
      else insert.run(p.id, json, knownSinceMs ?? 0, knownSinceMs === null ? 1 : 0);
    }
  })();
}

/** Dates the programmes imported under an untrusted clock with the first trusted time; returns how many. */
export function dateUndatedSchedule(db: Db, trustedNowMs: number): number {
  return db.prepare('UPDATE programme SET updated_ms = ?, undated = 0 WHERE undated = 1').run(trustedNowMs).changes;
}

interface OccurrenceResumeColumns {
  resume_item: number;
  resume_offset_ms: number;
  resume_until_ms: number | null;
}

function resumeOf(r: OccurrenceResumeColumns): ResumePoint {
  return { item: r.resume_item, offsetMs: r.resume_offset_ms, ...(r.resume_until_ms !== null ? { untilMs: r.resume_until_ms } : {}) };
}

export class StationStore {
  /**
   * @param outbox the station's one outbox: play-log rows and events wait
   *   there for the province (sent by the sync client when there is one).
   */
  constructor(
    readonly db: Db,
    readonly outbox: Outbox,
    private readonly stationId: string,
  ) {}

  // --- schedule -----------------------------------------------------------

  replaceSchedule(doc: ScheduleDocument, knownSinceMs: number | null): void {
    replaceSchedule(this.db, doc, knownSinceMs);
  }

  dateUndatedSchedule(trustedNowMs: number): number {
    return dateUndatedSchedule(this.db, trustedNowMs);
  }

  /**
   * Loads the schedule. A row that no longer validates (edited by hand,
   * written by an older version) is reported and skipped, never played.
   * A programme not yet dated (imported under an untrusted clock) is known
   * since +Infinity: none of its occurrences count until it is dated.
   */
  loadProgrammes(): { programmes: Array<Programme & { knownSinceMs: number }>; problems: string[] } {
    const rows = this.db.prepare('SELECT id, doc, updated_ms, undated FROM programme ORDER BY id').all() as Array<{ id: string; doc: string; updated_ms: number; undated: number }>;
    const programmes: Array<Programme & { knownSinceMs: number }> = [];
    const problems: string[] = [];
    for (const row of rows) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(row.doc);
      } catch {
        problems.push(`programme ${row.id}: stored row is not JSON`);
        continue;
      }
      const result = ProgrammeSchema.safeParse(parsed);
      if (!result.success) {
        problems.push(...describeIssues(result.error).map((m) => `programme ${row.id}: ${m}`));
        continue;
      }
      programmes.push({ ...result.data, knownSinceMs: row.undated ? Number.POSITIVE_INFINITY : row.updated_ms });
    }
    return { programmes, problems };
  }


  // --- occurrences --------------------------------------------------------

  occurrenceRecords(sinceMs: number): Map<string, OccurrenceRecord> {
    const rows = this.db
      .prepare('SELECT id, state, resume_item, resume_offset_ms, resume_until_ms, updated_ms FROM occurrence WHERE start_ms >= ?')
      .all(sinceMs) as Array<OccurrenceResumeColumns & { id: string; state: OccurrenceRecord['state']; updated_ms: number }>;
    return new Map(rows.map((r) => [r.id, { state: r.state, resume: resumeOf(r), updatedMs: r.updated_ms }]));
  }

  markOccurrence(o: { id: string; programmeId: string; startMs: number }, state: OccurrenceRecord['state'], resume: ResumePoint, nowMs: number): void {
    this.db
      .prepare(
        `INSERT INTO occurrence (id, programme_id, start_ms, state, resume_item, resume_offset_ms, resume_until_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, resume_item = excluded.resume_item,
           resume_offset_ms = excluded.resume_offset_ms, resume_until_ms = excluded.resume_until_ms, updated_ms = excluded.updated_ms,
           resumed_ms = CASE WHEN excluded.resume_item = occurrence.resume_item AND excluded.resume_offset_ms = occurrence.resume_offset_ms
             THEN occurrence.resumed_ms END`,
      )
      .run(o.id, o.programmeId, o.startMs, state, resume.item, resume.offsetMs, resume.untilMs ?? null, nowMs);
  }

  /**
   * The resumed occurrence was heard again at `nowMs`: its latest progress, from which a crash's grace window
   * counts. Once per resume point (a new resume point, an item done or cut by a preemption, clears it): the
   * same item restarted from its start by cut after cut is not progress.
   */
  touchOccurrence(id: string, nowMs: number): void {
    this.db.prepare("UPDATE occurrence SET updated_ms = ?, resumed_ms = ? WHERE id = ? AND state = 'playing' AND resumed_ms IS NULL").run(nowMs, nowMs, id);
  }

  /**
   * Occurrences and requests left 'playing' by an agent that died on air,
   * each with its last recorded progress (`updatedMs`): the latest moment it
   * is known to have been on air, from which its grace window counts.
   */
  unfinished(): { occurrences: UnfinishedOccurrence[]; requests: UnfinishedRequest[] } {
    const occ = this.db
      .prepare("SELECT id, programme_id, start_ms, resume_item, resume_offset_ms, resume_until_ms, updated_ms FROM occurrence WHERE state = 'playing'")
      .all() as Array<OccurrenceResumeColumns & { id: string; programme_id: string; start_ms: number; updated_ms: number }>;
    const req = this.db.prepare("SELECT doc, updated_ms FROM request WHERE state = 'playing'").all() as Array<{ doc: string; updated_ms: number }>;
    return {
      occurrences: occ.map((o) => ({ id: o.id, programmeId: o.programme_id, startMs: o.start_ms, resume: resumeOf(o), updatedMs: o.updated_ms })),
      requests: req.map((r) => {
        const { resume, ...request } = JSON.parse(r.doc) as StationRequest & { resume?: ResumePoint };
        return { request, resume: resume ?? { item: 0, offsetMs: 0 }, updatedMs: r.updated_ms };
      }),
    };
  }

  /**
   * One item's play-log row and the progress it implies (where to resume,
   * a queued bulletin done) in one transaction: a power cut between them can
   * neither replay the item nor lose its row.
   */
  logItem(row: PlayLogRow, progress: ItemProgress | undefined, nowMs: number): void {
    this.db.transaction(() => {
      this.logPlays([row], nowMs);
      if (!progress) return;
      if (progress.occurrence) this.markOccurrence(progress.occurrence, 'playing', progress.resume, nowMs);
      if (progress.requestId) this.setRequestState(progress.requestId, 'playing', nowMs, progress.resume);
      if (progress.bulletinPlayed) this.setRequestState(progress.bulletinPlayed, 'done', nowMs);
    })();
  }

  // --- requests -----------------------------------------------------------

  addRequest(request: StationRequest, nowMs: number): void {
    const parsed = RequestSchema.parse(request);
    const sortKey = (this.db.prepare('SELECT coalesce(max(sort_key), 0) + 1 AS k FROM request').get() as { k: number }).k;
    this.db
      .prepare('INSERT INTO request (id, doc, priority, sort_key, state, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(parsed.id, JSON.stringify(parsed), parsed.priority, sortKey, 'pending', nowMs, nowMs);
  }


  /** Pending requests of one mode, in the operator's order. */
  pendingRequests(mode: StationRequest['mode']): PendingRequestRow[] {
    const rows = this.db
      .prepare("SELECT doc, created_ms FROM request WHERE state = 'pending' ORDER BY sort_key")
      .all() as Array<{ doc: string; created_ms: number }>;
    const out: PendingRequestRow[] = [];
    for (const row of rows) {
      const doc = JSON.parse(row.doc) as StationRequest & { resume?: ResumePoint };
      if (doc.mode !== mode) continue;
      const { resume, ...request } = doc;
      out.push({ request, createdMs: row.created_ms, ...(resume ? { resume } : {}) });
    }
    return out;
  }

  requestState(id: string): RequestState | null {
    const row = this.db.prepare('SELECT state FROM request WHERE id = ?').get(id) as { state: RequestState } | undefined;
    return row?.state ?? null;
  }

  setRequestState(id: string, state: RequestState, nowMs: number, resume?: ResumePoint): void {
    this.updateRequest(id, state, resume ? { resume } : {}, nowMs);
  }

  /**
   * A request cut off on air goes back in the queue at its resume point,
   * with the deadline after which it must not start written into it, so a
   * second crash does not push the deadline on.
   */
  requeueRequest(id: string, resume: ResumePoint, expiresMs: number, nowMs: number): void {
    this.updateRequest(id, 'pending', { resume, expiresMs }, nowMs);
  }

  /** A request's new state; its stored document gets `patch` (a resume point not given is cleared). */
  private updateRequest(id: string, state: RequestState, patch: { resume?: ResumePoint; expiresMs?: number }, nowMs: number): void {
    const row = this.db.prepare('SELECT doc FROM request WHERE id = ?').get(id) as { doc: string } | undefined;
    if (!row) return;
    const { resume: _previous, ...doc } = JSON.parse(row.doc) as Record<string, unknown>;
    this.db.prepare('UPDATE request SET state = ?, doc = ?, updated_ms = ? WHERE id = ?').run(state, JSON.stringify({ ...doc, ...patch }), nowMs, id);
  }

  // --- proof of play ------------------------------------------------------

  /** Writes play-log rows and their outbox copies in one transaction. */
  logPlays(rows: PlayLogRow[], nowMs: number): void {
    if (rows.length === 0) return;
    const insertLog = this.db.prepare(
      `INSERT INTO play_log (id, source, programme_id, occurrence_id, request_id, content, priority, scheduled_ms,
         started_ms, ended_ms, played_ms, zones, volume, result, reason, clock, relay_evidence, alert_id, live,
         programme_name, label, file_name)
       VALUES (@id, @source, @programmeId, @occurrenceId, @requestId, @content, @priority, @scheduledMs,
         @startedMs, @endedMs, @playedMs, @zones, @volume, @result, @reason, @clock, @relayEvidence, @alertId, @live,
         (SELECT json_extract(doc, '$.name') FROM programme WHERE id = @programmeId),
         (SELECT NULLIF(json_extract(doc, '$.label'), '') FROM request WHERE id = @requestId),
         (SELECT name FROM content WHERE sha256 = @content))`,
    );
    this.db.transaction(() => {
      for (const row of rows) {
        const id = randomUUID();
        insertLog.run({
          id,
          source: row.source,
          programmeId: row.programmeId ?? null,
          occurrenceId: row.occurrenceId ?? null,
          requestId: row.requestId ?? null,
          content: row.content ?? null,
          priority: row.priority,
          scheduledMs: row.scheduledMs ?? null,
          startedMs: row.startedMs ?? null,
          endedMs: row.endedMs ?? null,
          playedMs: row.playedMs ?? null,
          zones: JSON.stringify(row.zones),
          volume: row.volume,
          result: row.result,
          reason: row.reason ?? null,
          clock: row.clock,
          relayEvidence: row.relays ? JSON.stringify(row.relays) : null,
          alertId: row.alertId ?? null,
          live: row.live ? JSON.stringify(row.live) : null,
        });
        // The row's own id: sent twice (upload-log), the province recognises it.
        this.outbox.add('play', outboxMessage(this.stationId, 'play', { id, ...row }, id, nowMs), id);
      }
    })();
  }

  recentPlays(limit: number): StoredPlayLogRow[] {
    const rows = this.db
      .prepare(
        // Rows written before the names were kept take them from what is still there.
        `SELECT l.*, COALESCE(l.programme_name, json_extract(p.doc, '$.name')) AS programme_name,
           COALESCE(l.label, json_extract(r.doc, '$.label')) AS request_label, COALESCE(l.file_name, c.name) AS file_name
         FROM play_log l
         LEFT JOIN programme p ON p.id = l.programme_id
         LEFT JOIN request r ON r.id = l.request_id
         LEFT JOIN content c ON c.sha256 = l.content
         ORDER BY l.seq DESC LIMIT ?`,
      )
      .all(limit) as Array<Record<string, unknown>>;
    return rows.reverse().map((r) => ({
      seq: r.seq as number,
      id: r.id as string,
      source: r.source as PlayLogRow['source'],
      ...(r.programme_id ? { programmeId: r.programme_id as string } : {}),
      ...(r.occurrence_id ? { occurrenceId: r.occurrence_id as string } : {}),
      ...(r.request_id ? { requestId: r.request_id as string } : {}),
      ...(r.content ? { content: r.content as string } : {}),
      priority: r.priority as number,
      ...(r.scheduled_ms !== null ? { scheduledMs: r.scheduled_ms as number } : {}),
      ...(r.started_ms !== null ? { startedMs: r.started_ms as number } : {}),
      ...(r.ended_ms !== null ? { endedMs: r.ended_ms as number } : {}),
      ...(r.played_ms !== null ? { playedMs: r.played_ms as number } : {}),
      zones: JSON.parse(r.zones as string) as string[],
      volume: r.volume as number,
      result: r.result as PlayResult,
      ...(r.reason ? { reason: r.reason as string } : {}),
      clock: r.clock as string,
      ...(typeof r.relay_evidence === 'string' ? { relays: JSON.parse(r.relay_evidence) as RelayEvidence } : {}),
      ...(typeof r.alert_id === 'string' ? { alertId: r.alert_id } : {}),
      ...(typeof r.live === 'string' ? { live: JSON.parse(r.live) as LiveProof } : {}),
      ...(typeof r.programme_name === 'string' ? { programmeName: r.programme_name } : {}),
      ...(typeof r.request_label === 'string' && r.request_label !== '' ? { label: r.request_label } : {}),
      ...(typeof r.file_name === 'string' ? { fileName: r.file_name } : {}),
    }));
  }

  // --- events, meta, outbox ------------------------------------------------

  /** An event for the province (fault, recovery, operator action), kept until sent; body as docs/schemas/event. */
  recordEvent(event: string, level: 'info' | 'warn' | 'error', message: string, data: Record<string, unknown>, nowMs: number): void {
    const id = randomUUID();
    this.db.transaction(() => {
      this.outbox.add('event', outboxMessage(this.stationId, 'event', { event, level, message, data }, id, nowMs), id);
      // Kept after the outbox has sent it: the yearly report counts faults.
      if (level !== 'info') this.db.prepare('INSERT INTO fault_log (at_ms, event, level, message) VALUES (?, ?, ?, ?)').run(nowMs, event, level, message);
    })();
  }

  /** Board showings (proof of display) and their outbox copies, in one transaction. */
  logShowings(rows: readonly BoardProofRow[], clock: string, nowMs: number): void {
    recordBoardProof(this.db, this.outbox, this.stationId, rows, clock, nowMs);
  }

  /** The province link went up or down (time offline in the yearly report); repeats are not recorded. */
  recordLink(online: boolean, nowMs: number): void {
    const last = this.db.prepare('SELECT online FROM link_change ORDER BY seq DESC LIMIT 1').get() as { online: number } | undefined;
    if (last && last.online === Number(online)) return;
    this.db.prepare('INSERT INTO link_change (at_ms, online) VALUES (?, ?)').run(nowMs, Number(online));
  }

  /** Several events in one transaction: one SD-card flush instead of one each. */
  recordEvents(events: ReadonlyArray<{ event: string; level: 'info' | 'warn' | 'error'; message: string; data: Record<string, unknown> }>, nowMs: number): void {
    this.db.transaction(() => {
      for (const e of events) this.recordEvent(e.event, e.level, e.message, e.data, nowMs);
    })();
  }

  outboxDepth(): number {
    return this.outbox.depth();
  }

  getMeta(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
