import { DateTime } from 'luxon';
import { classOf, type BulletinClass, type PlayResult } from '../domain/types.js';

/**
 * The yearly report the province files by 20 December: figures from
 * 15 December of the year before to 14 December, in the station's time
 * zone. Everything here is a pure function of stored rows, so the same
 * figures come out of `loa report` and the province's `report` command.
 */

export interface ReportPeriod {
  /** First instant counted (local midnight of the first day). */
  fromMs: number;
  /** First instant not counted (local midnight after the last day). */
  untilMs: number;
  /** The first and last day, YYYY-MM-DD, both counted. */
  from: string;
  to: string;
}

export interface ReportPlayRow {
  source: 'schedule' | 'request';
  requestId?: string;
  priority: number;
  zones: readonly string[];
  result: PlayResult;
  scheduledMs?: number;
  startedMs?: number;
  endedMs?: number;
}

export interface ReportShowing {
  source: string;
  result: 'completed' | 'interrupted' | 'failed' | 'unconfirmed';
  shownMs: number | null;
  endedMs: number;
}

export interface ReportInput {
  period: ReportPeriod;
  /** Figures stop here when the period has not ended yet. */
  nowMs: number;
  plays: readonly ReportPlayRow[];
  /** When each request was made (emergency start delay: request to first sample). */
  requests: ReadonlyArray<{ id: string; createdMs: number }>;
  showings: readonly ReportShowing[];
  /** Province link transitions, oldest first; before the first one the link is unknown and not counted. */
  link: ReadonlyArray<{ atMs: number; online: boolean }>;
  faults: ReadonlyArray<{ atMs: number; event: string }>;
}

export interface Figures {
  /** Play-log rows: one per item per attempt (an item cut and resumed counts once interrupted, once played). */
  items: number;
  /** Of those, from the schedule and from requests (operator, province, station buttons). */
  scheduled: number;
  requested: number;
  played: number;
  interrupted: number;
  missed: number;
  failed: number;
  skipped: number;
  /** Time on air, played and interrupted items, start to end. */
  onAirMs: number;
  hoursOnAir: number;
}

export interface YearlyReport {
  period: ReportPeriod;
  /** Where the figures stop (the period's end, or now if it has not ended). */
  countedUntilMs: number;
  classes: Record<BulletinClass, Figures>;
  /** A row sent to several zones counts in each. */
  zones: Record<string, Figures>;
  total: Figures;
  emergencies: {
    /** Emergency requests that reached the air. */
    count: number;
    /** Request to first sample, over those emergencies. */
    startDelayMs: { median: number; p95: number; max: number } | null;
  };
  board: { showings: number; completed: number; interrupted: number; failed: number; unconfirmed: number; emergency: number };
  offline: { ms: number; hours: number; periods: number; knownFromMs: number | null };
  faults: { count: number; byEvent: Record<string, number> };
}

const CLASSES: readonly BulletinClass[] = ['normal', 'priority', 'emergency'];

/** The reporting year that ends on 14 December of `year`. */
export function reportingYear(year: number, timezone: string): ReportPeriod {
  return periodOf(`${year - 1}-12-15`, `${year}-12-14`, timezone);
}

/** The reporting year `nowMs` falls in: from 15 December on, it is next year's. */
export function currentReportingYear(nowMs: number, timezone: string): ReportPeriod {
  const local = DateTime.fromMillis(nowMs, { zone: timezone });
  const endsIn = local.month === 12 && local.day >= 15 ? local.year + 1 : local.year;
  return reportingYear(endsIn, timezone);
}

/** Days `from` to `to` (YYYY-MM-DD, both counted) in the station's time zone; throws on a bad date or an empty range. */
export function periodOf(from: string, to: string, timezone: string): ReportPeriod {
  const day = (s: string, field: string): DateTime => {
    const d = /^\d{4}-\d{2}-\d{2}$/.test(s) ? DateTime.fromISO(s, { zone: timezone }) : null;
    if (!d?.isValid) throw new RangeError(`${field} must be a date YYYY-MM-DD, not "${s}"`);
    return d.startOf('day');
  };
  const first = day(from, 'from');
  const last = day(to, 'to');
  if (last < first) throw new RangeError(`from ${from} is after to ${to}`);
  return { fromMs: first.toMillis(), untilMs: last.plus({ days: 1 }).startOf('day').toMillis(), from, to };
}

/** The instant a play-log row belongs to a period by: when it started, else when it was due. */
export function rowInstant(r: Pick<ReportPlayRow, 'startedMs' | 'scheduledMs' | 'endedMs'>): number | undefined {
  return r.startedMs ?? r.scheduledMs ?? r.endedMs;
}

function empty(): Figures {
  return { items: 0, scheduled: 0, requested: 0, played: 0, interrupted: 0, missed: 0, failed: 0, skipped: 0, onAirMs: 0, hoursOnAir: 0 };
}

function add(f: Figures, r: ReportPlayRow, onAirMs: number): void {
  f.items++;
  if (r.source === 'schedule') f.scheduled++;
  else f.requested++;
  f[r.result]++;
  f.onAirMs += onAirMs;
}

function hours(ms: number): number {
  return Math.round(ms / 36_000) / 100;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function yearlyReport(input: ReportInput): YearlyReport {
  const { fromMs, untilMs } = input.period;
  const endMs = Math.max(fromMs, Math.min(untilMs, input.nowMs));
  const inPeriod = (ms: number | undefined | null): boolean => ms !== undefined && ms !== null && ms >= fromMs && ms < untilMs;

  const classes = Object.fromEntries(CLASSES.map((c) => [c, empty()])) as Record<BulletinClass, Figures>;
  const zones: Record<string, Figures> = {};
  const total = empty();
  const firstSample = new Map<string, number>();
  for (const r of input.plays) {
    if (!inPeriod(rowInstant(r))) continue;
    const aired = (r.result === 'played' || r.result === 'interrupted') && r.startedMs !== undefined && r.endedMs !== undefined;
    const onAirMs = aired ? Math.max(0, Math.min(r.endedMs!, untilMs) - Math.max(r.startedMs!, fromMs)) : 0;
    add(total, r, onAirMs);
    add(classes[classOf(r.priority)], r, onAirMs);
    for (const z of r.zones) add((zones[z] ??= empty()), r, onAirMs);
    if (classOf(r.priority) === 'emergency' && r.requestId && r.startedMs !== undefined && aired) {
      firstSample.set(r.requestId, Math.min(firstSample.get(r.requestId) ?? Infinity, r.startedMs));
    }
  }
  for (const f of [total, ...Object.values(classes), ...Object.values(zones)]) f.hoursOnAir = hours(f.onAirMs);

  const created = new Map(input.requests.map((q) => [q.id, q.createdMs]));
  const delays = [...firstSample].flatMap(([id, first]) => (created.has(id) ? [Math.max(0, first - created.get(id)!)] : [])).sort((a, b) => a - b);

  const board = { showings: 0, completed: 0, interrupted: 0, failed: 0, unconfirmed: 0, emergency: 0 };
  for (const s of input.showings) {
    if (!inPeriod(s.shownMs ?? s.endedMs)) continue;
    board.showings++;
    board[s.result]++;
    if (s.source === 'emergency') board.emergency++;
  }

  return {
    period: input.period,
    countedUntilMs: endMs,
    classes,
    zones: Object.fromEntries(Object.entries(zones).sort(([a], [b]) => a.localeCompare(b))),
    total,
    emergencies: {
      count: firstSample.size,
      startDelayMs: delays.length === 0 ? null : { median: percentile(delays, 50), p95: percentile(delays, 95), max: delays[delays.length - 1]! },
    },
    board,
    offline: offlineTime(input.link, fromMs, endMs),
    faults: faultCounts(input.faults, fromMs, untilMs),
  };
}

/** Time the province link was down within [fromMs, endMs), from its transitions. */
export function offlineTime(link: ReadonlyArray<{ atMs: number; online: boolean }>, fromMs: number, endMs: number): YearlyReport['offline'] {
  let ms = 0;
  let periods = 0;
  for (let i = 0; i < link.length; i++) {
    const c = link[i]!;
    if (c.online) continue;
    const start = Math.max(c.atMs, fromMs);
    const end = Math.min(link[i + 1]?.atMs ?? endMs, endMs);
    if (end > start) {
      ms += end - start;
      periods++;
    }
  }
  const first = link[0]?.atMs ?? null;
  return { ms, hours: hours(ms), periods, knownFromMs: first === null ? null : Math.max(first, fromMs) };
}

function faultCounts(faults: ReadonlyArray<{ atMs: number; event: string }>, fromMs: number, untilMs: number): YearlyReport['faults'] {
  const byEvent: Record<string, number> = {};
  let count = 0;
  for (const f of faults) {
    if (f.atMs < fromMs || f.atMs >= untilMs) continue;
    count++;
    byEvent[f.event] = (byEvent[f.event] ?? 0) + 1;
  }
  return { count, byEvent: Object.fromEntries(Object.entries(byEvent).sort(([a], [b]) => a.localeCompare(b))) };
}

const FIGURE_COLUMNS = ['items', 'scheduled', 'requested', 'played', 'interrupted', 'missed', 'failed', 'skipped', 'hoursOnAir'] as const;

/**
 * The report as CSV for a spreadsheet: one line per figure
 * (section,name,figure,value), so a pivot table regroups it any way; stable
 * English keys, RFC 4180 quoting.
 */
export function reportCsv(r: YearlyReport): string {
  const lines: Array<Array<string | number>> = [['section', 'name', 'figure', 'value']];
  lines.push(['period', 'from', 'date', r.period.from], ['period', 'to', 'date', r.period.to]);
  const figures = (section: string, name: string, f: Figures): void => {
    for (const k of FIGURE_COLUMNS) lines.push([section, name, k, f[k]]);
  };
  figures('total', 'all', r.total);
  for (const c of CLASSES) figures('class', c, r.classes[c]);
  for (const [z, f] of Object.entries(r.zones)) figures('zone', z, f);
  lines.push(['emergency', 'all', 'count', r.emergencies.count]);
  if (r.emergencies.startDelayMs) {
    for (const [k, v] of Object.entries(r.emergencies.startDelayMs)) lines.push(['emergency', 'all', `startDelayMs.${k}`, v]);
  }
  for (const [k, v] of Object.entries(r.board)) lines.push(['board', 'all', k, v]);
  lines.push(['offline', 'all', 'hours', r.offline.hours], ['offline', 'all', 'periods', r.offline.periods]);
  lines.push(['faults', 'all', 'count', r.faults.count]);
  for (const [e, n] of Object.entries(r.faults.byEvent)) lines.push(['faults', e, 'count', n]);
  return lines.map((l) => l.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
