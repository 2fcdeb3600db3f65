import type { Db } from '../store/database.js';
import type { PlayResult } from '../domain/types.js';
import { currentReportingYear, periodOf, yearlyReport, type ReportPeriod, type YearlyReport } from './yearly.js';

/**
 * The yearly report from the station database: reads the rows of the
 * period (play log, requests, board proof, link changes, faults) and hands
 * them to the pure `yearlyReport`. `from`/`to` are days YYYY-MM-DD in the
 * station's time zone; absent, the reporting year `nowMs` is in.
 */
export function stationReport(db: Db, o: { timezone: string; nowMs: number; from?: string; to?: string }): YearlyReport & { timezone: string } {
  const period = reportPeriod(o);
  const { fromMs, untilMs } = period;
  const plays = (
    db
      .prepare('SELECT source, request_id, priority, zones, result, scheduled_ms, started_ms, ended_ms FROM play_log WHERE COALESCE(started_ms, scheduled_ms, ended_ms) >= ? AND COALESCE(started_ms, scheduled_ms, ended_ms) < ?')
      .all(fromMs, untilMs) as Array<{ source: 'schedule' | 'request'; request_id: string | null; priority: number; zones: string; result: PlayResult; scheduled_ms: number | null; started_ms: number | null; ended_ms: number | null }>
  ).map((r) => ({
    source: r.source,
    ...(r.request_id ? { requestId: r.request_id } : {}),
    priority: r.priority,
    zones: JSON.parse(r.zones) as string[],
    result: r.result,
    ...(r.scheduled_ms !== null ? { scheduledMs: r.scheduled_ms } : {}),
    ...(r.started_ms !== null ? { startedMs: r.started_ms } : {}),
    ...(r.ended_ms !== null ? { endedMs: r.ended_ms } : {}),
  }));
  const requestIds = [...new Set(plays.flatMap((p) => (p.requestId ? [p.requestId] : [])))];
  const requestStmt = db.prepare('SELECT id, created_ms FROM request WHERE id = ?');
  const requests = requestIds.flatMap((id) => {
    const r = requestStmt.get(id) as { id: string; created_ms: number } | undefined;
    return r ? [{ id: r.id, createdMs: r.created_ms }] : [];
  });
  const showings = (
    db.prepare('SELECT source, result, shown_ms, ended_ms FROM board_proof WHERE COALESCE(shown_ms, ended_ms) >= ? AND COALESCE(shown_ms, ended_ms) < ?').all(fromMs, untilMs) as Array<{
      source: string;
      result: 'completed' | 'interrupted' | 'failed' | 'unconfirmed';
      shown_ms: number | null;
      ended_ms: number;
    }>
  ).map((s) => ({ source: s.source, result: s.result, shownMs: s.shown_ms, endedMs: s.ended_ms }));
  // The state at the period's start is the last change before it.
  const link = (
    db
      .prepare('SELECT at_ms, online FROM link_change WHERE seq >= COALESCE((SELECT MAX(seq) FROM link_change WHERE at_ms <= ?), 0) AND at_ms < ? ORDER BY seq')
      .all(fromMs, untilMs) as Array<{ at_ms: number; online: number }>
  ).map((c) => ({ atMs: c.at_ms, online: c.online === 1 }));
  const faults = (db.prepare('SELECT at_ms, event FROM fault_log WHERE at_ms >= ? AND at_ms < ?').all(fromMs, untilMs) as Array<{ at_ms: number; event: string }>).map((f) => ({ atMs: f.at_ms, event: f.event }));
  return { ...yearlyReport({ period, nowMs: o.nowMs, plays, requests, showings, link, faults }), timezone: o.timezone };
}

function reportPeriod(o: { timezone: string; nowMs: number; from?: string; to?: string }): ReportPeriod {
  const current = currentReportingYear(o.nowMs, o.timezone);
  if (o.from === undefined && o.to === undefined) return current;
  return periodOf(o.from ?? current.from, o.to ?? current.to, o.timezone);
}
