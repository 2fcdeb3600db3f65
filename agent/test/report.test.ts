import t from 'tap';
import { currentReportingYear, offlineTime, periodOf, reportCsv, reportingYear, yearlyReport, type ReportInput, type ReportPlayRow } from '../src/report/yearly.js';

const TZ = 'Asia/Ho_Chi_Minh';
const utc = (s: string): number => Date.parse(s);
const H = 3_600_000;

t.test('the reporting year runs 15 December to 14 December, station time (UTC+7)', async (t) => {
  const y = reportingYear(2026, TZ);
  t.equal(y.fromMs, utc('2025-12-14T17:00:00Z'), 'starts at local midnight of 15 Dec 2025');
  t.equal(y.untilMs, utc('2026-12-14T17:00:00Z'), 'ends at local midnight after 14 Dec 2026');
  t.same([y.from, y.to], ['2025-12-15', '2026-12-14']);
  t.equal(currentReportingYear(utc('2026-12-14T16:59:59.999Z'), TZ).to, '2026-12-14', '23:59:59.999 on 14 Dec local: still this year');
  t.equal(currentReportingYear(utc('2026-12-14T17:00:00Z'), TZ).to, '2027-12-14', '00:00 on 15 Dec local (still 14 Dec in UTC): next year');
  t.equal(currentReportingYear(utc('2026-01-01T00:00:00Z'), TZ).from, '2025-12-15');
  t.equal(currentReportingYear(utc('2026-12-31T23:00:00Z'), TZ).to, '2027-12-14', '1 January local: the year that ends next December');
});

t.test('--from/--to are whole local days, both counted; bad input says what is wrong', async (t) => {
  const p = periodOf('2026-03-01', '2026-03-01', TZ);
  t.equal(p.untilMs - p.fromMs, 24 * H, 'one day');
  t.equal(p.fromMs, utc('2026-02-28T17:00:00Z'));
  t.throws(() => periodOf('2026-3-1', '2026-03-02', TZ), /from must be a date YYYY-MM-DD, not "2026-3-1"/);
  t.throws(() => periodOf('2026-02-30', '2026-03-02', TZ), /from must be a date/);
  t.throws(() => periodOf('2026-03-02', '2026-03-01', TZ), /from 2026-03-02 is after to 2026-03-01/);
});

const year = reportingYear(2026, TZ);
const play = (over: Partial<ReportPlayRow>): ReportPlayRow => ({ source: 'schedule', priority: 0, zones: ['north'], result: 'played', ...over });

function input(over: Partial<ReportInput>): ReportInput {
  return { period: year, nowMs: year.untilMs + H, plays: [], requests: [], showings: [], link: [], faults: [], ...over };
}

t.test('figures per class and per zone, rows cut exactly at the year boundaries', async (t) => {
  const lastMinute = utc('2026-12-14T16:59:00Z'); // 23:59 on 14 Dec, local
  const r = yearlyReport(input({
    plays: [
      play({ startedMs: utc('2026-06-01T00:00:00Z'), endedMs: utc('2026-06-01T00:30:00Z') }),
      play({ zones: ['north', 'south'], result: 'interrupted', startedMs: utc('2026-06-02T00:00:00Z'), endedMs: utc('2026-06-02T00:15:00Z') }),
      play({ result: 'missed', scheduledMs: utc('2026-06-03T00:00:00Z') }),
      play({ source: 'request', priority: 5, zones: ['south'], result: 'failed', scheduledMs: undefined, endedMs: utc('2026-06-04T00:00:00Z') }),
      play({ source: 'request', priority: 9, requestId: 'flood', zones: ['north', 'south'], startedMs: utc('2026-07-01T00:00:00.250Z'), endedMs: utc('2026-07-01T00:01:00Z') }),
      play({ source: 'request', priority: 9, requestId: 'flood', zones: ['north', 'south'], startedMs: utc('2026-07-01T00:01:00Z'), endedMs: utc('2026-07-01T00:02:00Z') }),
      // Started in the last minute of the year: counted, its air time cut at midnight local.
      play({ startedMs: lastMinute, endedMs: lastMinute + 2 * 60_000 }),
      // One millisecond before and at the year's start/end: out.
      play({ startedMs: year.fromMs - 1, endedMs: year.fromMs + 60_000 }),
      play({ startedMs: year.untilMs, endedMs: year.untilMs + 60_000 }),
      play({ result: 'skipped', scheduledMs: year.fromMs }),
    ],
    requests: [{ id: 'flood', createdMs: utc('2026-07-01T00:00:00Z') }],
  }));
  t.match(r.classes.normal, { items: 5, scheduled: 5, requested: 0, played: 2, interrupted: 1, missed: 1, failed: 0, skipped: 1, onAirMs: 30 * 60_000 + 15 * 60_000 + 60_000 });
  t.equal(r.classes.normal.hoursOnAir, 0.77);
  t.match(r.classes.priority, { items: 1, requested: 1, failed: 1, onAirMs: 0 });
  t.match(r.classes.emergency, { items: 2, played: 2, onAirMs: 2 * 60_000 - 250 });
  t.match(r.zones.north, { items: 7, played: 4, interrupted: 1, missed: 1, skipped: 1 });
  t.match(r.zones.south, { items: 4, played: 2, interrupted: 1, failed: 1, onAirMs: 15 * 60_000 + 2 * 60_000 - 250 });
  t.same(Object.keys(r.zones), ['north', 'south']);
  t.equal(r.total.items, 8);
  t.same(r.emergencies, { count: 1, startDelayMs: { median: 250, p95: 250, max: 250 } }, 'request to its first sample, once per emergency');
});

t.test('emergency delays: median and p95 over many, requests without a first sample not counted', async (t) => {
  const base = utc('2026-05-01T00:00:00Z');
  const plays: ReportPlayRow[] = [];
  const requests = [];
  for (let i = 0; i < 20; i++) {
    requests.push({ id: `e${i}`, createdMs: base + i * H });
    plays.push(play({ source: 'request', priority: 9, requestId: `e${i}`, startedMs: base + i * H + (i + 1) * 10, endedMs: base + i * H + 5000 }));
  }
  requests.push({ id: 'never', createdMs: base });
  plays.push(play({ source: 'request', priority: 9, requestId: 'never', result: 'failed', endedMs: base }));
  const r = yearlyReport(input({ plays, requests }));
  t.same(r.emergencies, { count: 20, startDelayMs: { median: 100, p95: 190, max: 200 } });
});

t.test('time offline from link changes, from the state at the period start; unknown before the first record', async (t) => {
  const d = (s: string): number => utc(`2026-06-01T${s}Z`);
  const from = d('00:00:00');
  const end = d('12:00:00');
  t.same(offlineTime([], from, end), { ms: 0, hours: 0, periods: 0, knownFromMs: null });
  t.same(offlineTime([{ atMs: d('01:00:00'), online: false }, { atMs: d('01:00:05'), online: true }, { atMs: d('06:00:00'), online: false }, { atMs: d('09:00:00'), online: true }], from, end), {
    ms: 3 * H + 5000, hours: 3, periods: 2, knownFromMs: d('01:00:00'),
  });
  // Down since before the period, and still down at its end (or now).
  t.same(offlineTime([{ atMs: from - 5 * H, online: false }, { atMs: d('02:00:00'), online: true }, { atMs: d('10:00:00'), online: false }], from, end), {
    ms: 4 * H, hours: 4, periods: 2, knownFromMs: from,
  });
  const r = yearlyReport(input({ period: periodOf('2026-06-01', '2026-06-01', TZ), nowMs: d('12:00:00'), link: [{ atMs: utc('2026-05-31T16:00:00Z'), online: false }, { atMs: d('00:30:00'), online: true }] }));
  t.equal(r.offline.ms, 7 * H + 30 * 60_000, 'down from the local day\'s start (17:00 UTC the day before) to 00:30 UTC');
  t.equal(r.countedUntilMs, d('12:00:00'), 'a period not yet over is counted up to now');
});

t.test('board showings and faults', async (t) => {
  const at = utc('2026-08-01T00:00:00Z');
  const r = yearlyReport(input({
    showings: [
      { source: 'xa', result: 'completed', shownMs: at, endedMs: at + 10_000 },
      { source: 'emergency', result: 'completed', shownMs: at + 10_000, endedMs: at + 20_000 },
      { source: 'xa', result: 'interrupted', shownMs: at + 20_000, endedMs: at + 25_000 },
      { source: 'xa', result: 'unconfirmed', shownMs: null, endedMs: at + 30_000 },
      { source: 'xa', result: 'failed', shownMs: null, endedMs: year.untilMs },
    ],
    faults: [{ atMs: at, event: 'playout.failed' }, { atMs: at + 1, event: 'playout.failed' }, { atMs: at + 2, event: 'board.kiosk.restart' }, { atMs: year.fromMs - 1, event: 'old' }],
  }));
  t.same(r.board, { showings: 4, completed: 2, interrupted: 1, failed: 0, unconfirmed: 1, emergency: 1 });
  t.same(r.faults, { count: 3, byEvent: { 'board.kiosk.restart': 1, 'playout.failed': 2 } });
});

t.test('CSV: one figure per line, quoted where needed, same numbers as the JSON', async (t) => {
  const r = yearlyReport(input({
    plays: [play({ zones: ['bản, "trung tâm"'], startedMs: utc('2026-06-01T00:00:00Z'), endedMs: utc('2026-06-01T01:30:00Z') })],
  }));
  const csv = reportCsv(r);
  const lines = csv.split('\r\n');
  t.equal(lines[0], 'section,name,figure,value');
  t.equal(lines.at(-1), '', 'ends with CRLF');
  t.ok(lines.includes('period,from,date,2025-12-15'));
  t.ok(lines.includes('class,normal,hoursOnAir,1.5'));
  t.ok(lines.includes('zone,"bản, ""trung tâm""",played,1'), 'a zone name with a comma and quotes is quoted');
  t.ok(lines.includes('total,all,items,1'));
  t.ok(lines.includes('emergency,all,count,0'));
  t.ok(lines.includes('offline,all,hours,0'));
});
