import { DateTime } from 'luxon';
import type { Occurrence, Programme } from '../domain/types.js';

/**
 * Expands programmes into the concrete occurrences that start in
 * [fromMs, toMs), in station local time. Pure: no clock, no I/O.
 *
 * `knownSinceMs` per programme keeps a newly imported schedule from
 * producing "missed" rows for times before the station knew of it.
 */
export function expandOccurrences(
  programmes: ReadonlyArray<Programme & { knownSinceMs?: number }>,
  fromMs: number,
  toMs: number,
  timezone: string,
): Occurrence[] {
  const out: Occurrence[] = [];
  // One extra day on each side covers time zones and items near midnight.
  const firstDay = DateTime.fromMillis(fromMs, { zone: timezone }).startOf('day').minus({ days: 1 });
  const lastDay = DateTime.fromMillis(toMs, { zone: timezone }).startOf('day').plus({ days: 1 });
  for (const p of programmes) {
    const r = p.recurrence;
    const time = normaliseTime(r.time);
    const dates: string[] = [];
    if (r.kind === 'once') {
      dates.push(r.date);
    } else {
      for (let d = firstDay; d <= lastDay; d = d.plus({ days: 1 })) {
        const date = d.toISODate()!;
        if (r.validFrom && date < r.validFrom) continue;
        if (r.validTo && date > r.validTo) continue;
        if (r.weekdays && !r.weekdays.includes(d.weekday)) continue;
        dates.push(date);
      }
    }
    for (const date of dates) {
      const local = `${date}T${time}`;
      const start = DateTime.fromISO(local, { zone: timezone });
      if (!start.isValid) continue;
      const startMs = start.toMillis();
      if (startMs < fromMs || startMs >= toMs) continue;
      if (p.knownSinceMs !== undefined && startMs < p.knownSinceMs) continue;
      out.push({ id: `${p.id}@${local}`, programmeId: p.id, startMs, priority: p.priority });
    }
  }
  return out.sort((a, b) => a.startMs - b.startMs || b.priority - a.priority || a.id.localeCompare(b.id));
}

function normaliseTime(t: string): string {
  return t.length === 5 ? `${t}:00` : t;
}

/** Local date (YYYY-MM-DD) of an instant at the station. */
export function localDate(ms: number, timezone: string): string {
  return DateTime.fromMillis(ms, { zone: timezone }).toISODate()!;
}

/** Start of the local day containing `ms`, as epoch ms. */
export function startOfLocalDay(ms: number, timezone: string): number {
  return DateTime.fromMillis(ms, { zone: timezone }).startOf('day').toMillis();
}

export function isValidTimezone(timezone: string): boolean {
  return DateTime.now().setZone(timezone).isValid;
}
