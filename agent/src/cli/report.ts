import { DateTime } from 'luxon';
import type { Locale, MessageKey } from './messages.js';
import type { Figures, YearlyReport } from '../report/yearly.js';

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

const COLUMNS: ReadonlyArray<[keyof Figures, MessageKey]> = [
  ['items', 'reportColItems'],
  ['scheduled', 'reportColScheduled'],
  ['requested', 'reportColRequested'],
  ['played', 'reportColPlayed'],
  ['interrupted', 'reportColInterrupted'],
  ['missed', 'reportColMissed'],
  ['failed', 'reportColFailed'],
  ['skipped', 'reportColSkipped'],
  ['hoursOnAir', 'reportColHours'],
];

/** `loa report` as text: one table per class and zone, then the station-wide figures. */
export function renderReport(r: YearlyReport & { timezone?: string }, t: T, locale: Locale, timezone: string): string {
  const hours = (h: number): string => h.toLocaleString(locale === 'vi' ? 'vi-VN' : 'en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const row = (name: string, f: Figures): string[] => [name, ...COLUMNS.map(([k]) => (k === 'hoursOnAir' ? hours(f[k]) : String(f[k])))];
  const rows = [
    [t('reportColGroup'), ...COLUMNS.map(([, key]) => t(key))],
    row(t('class_normal'), r.classes.normal),
    row(t('class_priority'), r.classes.priority),
    row(t('class_emergency'), r.classes.emergency),
    ...Object.entries(r.zones).map(([z, f]) => row(t('reportZone', { zone: z }), f)),
    row(t('reportTotal'), r.total),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const table = rows.map((x) => x.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
  const d = r.emergencies.startDelayMs;
  const lines = [
    t('reportTitle', { from: r.period.from, to: r.period.to, tz: timezone }),
    ...(r.countedUntilMs < r.period.untilMs ? [t('reportCountedUntil', { at: DateTime.fromMillis(r.countedUntilMs, { zone: timezone }).toFormat('dd/LL/yyyy HH:mm') })] : []),
    '',
    table,
    '',
    d ? t('reportEmergencies', { n: r.emergencies.count, median: d.median, p95: d.p95, max: d.max }) : t('reportEmergenciesNone'),
    t('reportBoard', { ...r.board, n: r.board.showings }),
    r.offline.knownFromMs === null ? t('reportOfflineUnknown') : t('reportOffline', { hours: hours(r.offline.hours), periods: r.offline.periods }),
    t('reportFaults', { n: r.faults.count }),
    ...Object.entries(r.faults.byEvent).map(([e, n]) => `  ${e}: ${n}`),
  ];
  return lines.join('\n');
}
