import { DateTime } from 'luxon';
import { MESSAGES, type Locale, type MessageKey } from './messages.js';
import { describeUnplayable, type UnplayableContent } from '../cache/unplayable.js';
import { renderReport } from './report.js';
import { columns, padTo, truncate } from './width.js';
import type { YearlyReport } from '../report/yearly.js';

export interface Out {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;
type Row = Record<string, unknown>;

/** Human text for one command's result; `--json` prints the result itself instead. */
export function render(kind: string, result: unknown, t: T, locale: Locale, timezone: string): string {
  const r = result as Row;
  const time = (ms: unknown): string =>
    typeof ms === 'number' ? DateTime.fromMillis(ms, { zone: timezone }).setLocale(locale).toFormat('ccc dd/LL HH:mm:ss') : '-';
  switch (kind) {
    case 'status': {
      const clock = r.clock as Row;
      const playing = r.playing as Row | null;
      const next = r.next as Row | null;
      const relays = (r.relays as Row[]) ?? [];
      const cache = r.cache as Row;
      const lines = [
        `${t('station')}: ${String((r.station as Row).id)} ${String((r.station as Row).name ?? '')}`.trimEnd(),
        `${t('clock')}: ${time(clock.nowMs)} — ${clock.trusted ? t('clockTrusted', { reason: String(clock.reason) }) : t('clockUntrusted', { reason: String(clock.reason) })}`,
        `${t('playing')}: ${playing ? `${String(playing.label)}${playing.live ? ` (live: ${String((playing.live as Row).label)})` : ''} [${(playing.zones as string[]).join(', ')}]` : t('idle')}`,
        `${t('next')}: ${next ? `${time(next.startMs)} ${String(next.name)}` : t('none')}`,
        ...openAlerts(r.alerts).map((a) => `${t('alerts')}: ${String(a.identifier)} ${String(a.status)} ${String(a.state)}${a.reason ? ` (${String(a.reason)})` : ''}`.slice(0, 80)),
        ...(r.deadAir ? [`${t('output')}: ${outputLine(r.deadAir as Row, t)}`] : []),
        ...(r.live ? [`${t('live')}: ${liveLine(r.live as Row, t)}`] : []),
        `${t('relays')} (${String(r.relayDriver)}): ${relays.map((x) => `${String(x.name)}=${x.on ? t('on') : t('off')}`).join('  ')}`,
        `${t('cache')}: ${String(cache.items)} / ${mb(cache.bytes)} MB of ${mb(cache.quotaBytes)} MB`,
        `${t('queued')}: ${String(r.queuedBulletins)}`,
        `${t('outbox')}: ${String(r.outbox)}`,
        `${t('province')}: ${syncLine(r.sync as Row | null, t, time)}`,
        `${t('uptime')}: ${String(r.uptimeS)} s`,
      ];
      const problems = (r.problems as string[]) ?? [];
      if (problems.length > 0) lines.push(`${t('problems')}:`, ...problems.map((p) => `  ! ${p}`));
      const unplayable = (r.unplayable as UnplayableContent[] | undefined) ?? [];
      if (unplayable.length > 0) lines.push(`${t('unplayable')}:`, ...unplayable.map((u) => `  ! ${describeUnplayable(u, locale)}`));
      return lines.join('\n');
    }
    case 'schedule': {
      const occ = (r.occurrences as Row[]) ?? [];
      if (occ.length === 0) return t('scheduleEmpty');
      return occ
        .map((o) => truncate(`${padTo(time(o.startMs), 20)} ${padTo(t(`state_${String(o.state)}` as MessageKey), 12)} p${String(o.priority)}  ${String(o.name)}`, 80))
        .join('\n');
    }
    case 'schedule-import':
      return t('scheduleImported', { n: Number(r.programmes) });
    case 'play':
      return t('requestAccepted', { id: String(r.id), cls: String(r.class) });
    case 'stop': {
      if ('released' in r) return r.released ? t('holdReleased') : t('noHold');
      const lines = [r.stopped ? t('stopped', { key: String(r.stopped) }) : t('nothingToStop')];
      if (Array.isArray(r.dropped) && r.dropped.length > 0) lines.push(t('droppedQueued', { n: r.dropped.length }));
      if (typeof r.heldOffUntilMs === 'number') lines.push(t('heldOffUntil', { at: time(r.heldOffUntilMs) }));
      return lines.join('\n');
    }
    case 'live':
      return t('liveStarted', { id: String(r.id), cls: String(r.class) });
    case 'live-stop':
      return (r.stopped as string[]).length > 0 ? t('liveStopped', { ids: (r.stopped as string[]).join(', ') }) : t('liveNone');
    case 'relays':
      return ((r.relays as Row[]) ?? []).map((x) => `${pad(String(x.name), 16)} ${pad(String(x.kind), 10)} ${x.on ? t('on') : t('off')}`).join('\n');
    case 'cache':
      return ((r.items as Row[]) ?? [])
        .map((c) => truncate(`${String(c.sha256).slice(0, 12)}  ${pad(String(c.state), 11)} ${pad((Number(c.durationMs) / 1000).toFixed(1) + ' s', 9)} ${String(c.name)}`, 80))
        .join('\n');
    case 'cache-import':
      return t('imported', {
        name: String(r.name),
        sha: String(r.sha256).slice(0, 12),
        duration: (Number(r.durationMs) / 1000).toFixed(1),
        lufs: r.loudnessLufs === null || r.loudnessLufs === undefined ? '-' : Number(r.loudnessLufs).toFixed(1),
      });
    case 'cache-verify': {
      const bad = (r.bad as Row[]) ?? [];
      return bad.length === 0
        ? t('verifyOk', { n: Number(r.checked) })
        : [t('verifyBad', { n: bad.length }), ...bad.map((b) => `  ${String(b.sha256).slice(0, 12)} ${String(b.state)}`)].join('\n');
    }
    case 'log': {
      const rows = (r.rows as Row[]) ?? [];
      if (rows.length === 0) return t('logEmpty');
      const zone = DateTime.now().setZone(timezone);
      const day = (ms: unknown): string => (typeof ms === 'number' ? DateTime.fromMillis(ms, { zone: timezone }).toFormat('dd/LL HH:mm:ss') : '-');
      const results = rows.map((x) => t(`result_${String(x.result)}` as MessageKey));
      const zoneCells = rows.map((x) => (x.zones as string[]).join(','));
      const resultWidth = Math.max(...results.map(columns));
      const zoneWidth = Math.min(16, Math.max(...zoneCells.map(columns)));
      return [
        t('timesIn', { tz: timezone, offset: zone.toFormat('ZZ') }),
        ...rows.map((x, i) => {
          const head = `${day(x.startedMs ?? x.scheduledMs)}  ${padTo(results[i]!, resultWidth)}  ${padTo(zoneCells[i]!, zoneWidth)}  `;
          const details = [relayColumn(x, t), x.reason ? `— ${String(x.reason)}` : ''].filter(Boolean).join(' ');
          return `${head}${truncate(whatPlayed(x, t), 80 - columns(head))}${details ? `\n    ${details}` : ''}${liveSegments(x, time)}`;
        }),
      ].join('\n');
    }
    case 'safe-off':
      return t('safeOff');
    case 'report':
      return renderReport(result as YearlyReport, t, locale, timezone);
    case 'board-log':
    case 'board-status':
    case 'board-next':
    case 'board-show':
    case 'board-screenshot':
      return renderBoard(kind, r, t, locale, timezone);
    default:
      return keyValues(result);
  }
}

/** The level going out and the dead-air alarm, e.g. "-18.5 dBFS" or "DEAD AIR since 10:02:03". */
function outputLine(d: Row, t: T): string {
  const level = typeof d.levelDb !== 'number' ? t('levelNone') : d.levelDb <= -90 ? t('levelSilent') : `${d.levelDb.toFixed(1)} dBFS`;
  return d.alarm ? `${t('deadAirAlarm', { s: Math.round((Date.now() - Number(d.quietSinceMs)) / 1000) })} (${level})` : level;
}

/** The station microphone while live: on air or waiting, and its level. */
function liveLine(l: Row, t: T): string {
  const level = typeof l.levelDb === 'number' ? `${l.levelDb.toFixed(1)} dBFS` : '-';
  return `${l.onAir ? t('liveOnAir') : t('liveWaiting')} ${String(l.label)} — ${level}, ${Math.round(Number(l.airedMs) / 1000)} s`;
}

function syncLine(sync: Row | null, t: T, time: (ms: unknown) => string): string {
  if (!sync) return t('syncOff');
  const applied = sync.applied as Row | undefined;
  return [
    sync.connected ? t('syncOnline', { broker: String(sync.broker ?? '') }) : t('syncOffline'),
    applied ? t('syncApplied', { version: String(applied.version) }) : t('syncNoTarget'),
    sync.lastSyncMs ? t('syncLast', { at: time(sync.lastSyncMs) }) : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function renderBoard(kind: string, r: Row, t: T, locale: Locale, timezone: string): string {
  // Board showings last seconds to minutes: the time of day, with the date only when it is not today.
  const at = (ms: unknown): string => {
    if (typeof ms !== 'number') return '-';
    const d = DateTime.fromMillis(ms, { zone: timezone }).setLocale(locale);
    return d.toFormat(d.hasSame(DateTime.now().setZone(timezone), 'day') ? 'HH:mm:ss' : 'dd/LL HH:mm:ss');
  };
  const named = (prefix: 'kind' | 'source' | 'kiosk', v: unknown): string => {
    const key = `${prefix}_${String(v)}`;
    return key in MESSAGES ? t(key as MessageKey) : String(v);
  };
  switch (kind) {
    case 'board-status': {
      const s = r.showing as Row | null;
      const pages = r.pages as Row;
      const kiosk = r.kiosk as Row | null;
      const display = r.display as Row | null;
      const lines: string[] = [];
      if (s) {
        const what = `${named('kind', s.kind)} "${String(s.itemId)}" (${named('source', s.source)})${s.label ? ` — ${String(s.label)}` : ''}`;
        lines.push(`${t('board')}: ${r.emergency ? `${t('boardEmergency')}: ` : ''}${what}`);
        lines.push(`  ${s.untilMs === null ? t('boardSpanOpen', { from: at(s.sinceMs) }) : t('boardSpan', { from: at(s.sinceMs), until: at(s.untilMs) })}`);
        lines.push(`  ${pages.showingConfirmedMs === null ? t('boardUnconfirmed') : t('boardConfirmed', { at: at(pages.showingConfirmedMs) })}`);
        if (pages.showingProblem) lines.push(`  ! ${t('boardProblem', { problem: String(pages.showingProblem) })}`);
      }
      if (r.blanked) lines.push(`${t('boardScreen')}: ${t('boardBlanked')}`);
      lines.push(`${t('boardPage')}: ${Number(pages.connected) > 0 ? t('boardPageConnected', { n: Number(pages.connected), at: at(pages.lastAckMs) }) : t('boardPageNone')}`);
      lines.push(`${t('boardKiosk')}: ${!kiosk ? t('boardKioskNone') : kiosk.health === null ? t('boardKioskUnchecked') : named('kiosk', kiosk.health)}`);
      if (display) lines.push(`${t('boardScreen')}: ${display.on === null ? '?' : display.on ? t('on') : t('off')} (${String(display.driver)})`);
      if (display?.problem) lines.push(`  ! ${String(display.problem)}`);
      return lines.join('\n');
    }
    case 'board-next': {
      const rows = ((r.showings as Row[]) ?? []).map((s) => [at(s.startMs), at(s.endMs), named('kind', s.kind), named('source', s.source), String(s.itemId), String(s.label ?? '')]);
      const head = [t('boardColStart'), t('boardColEnd'), t('boardColKind'), t('boardColSource'), t('boardColItem'), t('boardColLabel')];
      return [...(r.emergency ? [t('boardAfterEmergency')] : []), table([head, ...rows])].join('\n');
    }
    case 'board-log': {
      const rows = (r.rows as Row[]) ?? [];
      if (rows.length === 0) return t('boardLogEmpty');
      return rows
        .map((x) =>
          [
            at(x.shownMs ?? x.endedMs),
            at(x.endedMs),
            pad(t(`boardResult_${String(x.result)}` as MessageKey), 12),
            pad(named('kind', x.kind), 10),
            pad(named('source', x.source), 10),
            String(x.itemId),
            x.problem ? `— ${String(x.problem)}` : '',
          ].join('  ').trimEnd(),
        )
        .join('\n');
    }
    case 'board-show':
      return [t('boardShown', { kind: named('kind', r.kind), item: String(r.itemId), until: at(r.untilMs) }), ...(r.blanked ? [t('boardShownBlanked')] : [])].join('\n');
    default:
      return t('boardScreenshotSaved', { path: String(r.path) });
  }
}

/** Columns padded to their widest cell; the last one is left ragged. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => truncate(row.map((c, i) => (i === row.length - 1 ? c : pad(c, widths[i]!))).join('  ').trimEnd(), 80)).join('\n');
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function mb(bytes: unknown): string {
  return (Number(bytes) / 1_048_576).toFixed(1);
}

/** Indented `key: value` lines for results without a dedicated layout (bridge readings). */
function keyValues(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return `${indent}${String(value)}`;
  return Object.entries(value as Row)
    .map(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? `${indent}${k}:\n${keyValues(v, indent + '  ')}` : `${indent}${k}: ${Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : String(v)}`))
    .join('\n');
}

/** A live row's segments, one line each: which source was heard from when to when, and why it was left. */
function liveSegments(x: Row, time: (ms: unknown) => string): string {
  const segments = ((x.live as Row | undefined)?.segments as Row[] | undefined) ?? [];
  return segments
    .map((g) => `\n    ↳ ${String(g.sourceId)} (${String(g.kind)}) ${time(g.startMs)}–${g.endMs != null ? time(g.endMs) : '…'}${g.endReason ? ` ${String(g.endReason)}` : ''}`)
    .join('');
}

/** What an operator recognises of a play-log row: the programme or label, and the file. */
function whatPlayed(x: Row, t: T): string {
  const live = x.live as Row | undefined;
  const title = [x.programmeName, x.label, live ? `${t('live')}: ${String(live.label)}` : undefined, x.programmeId, x.requestId].find((v) => typeof v === 'string' && v !== '') as string | undefined;
  const file = typeof x.fileName === 'string' && x.fileName !== title ? x.fileName : undefined;
  return [title, file].filter(Boolean).join(' — ') || '-';
}

/** A play-log row's zones, each with what its relay evidence says, and what the evidence rests on. */
function relayColumn(x: Row, t: (key: MessageKey) => string): string {
  const zones = x.zones as string[];
  const ev = x.relays as { kind: string; zones: Record<string, string> } | undefined;
  if (!ev) return '';
  const each = zones.map((z) => `${z}: ${t(`relay_${ev.zones[z] ?? 'unconfirmed'}` as MessageKey)}`);
  return `${t('relays')}: ${each.join(', ')} (${t(`evidence_${ev.kind}` as MessageKey)})`;
}

/** The alerts still in force or waiting (active, pending onset, held off, monitor only): `loa status` shows each on one line. */
function openAlerts(alerts: unknown): Row[] {
  return Array.isArray(alerts) ? (alerts as Row[]).filter((a) => a.state !== 'ended' && a.state !== 'expired' && a.state !== 'cancelled' && a.state !== 'superseded') : [];
}
