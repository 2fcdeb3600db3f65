/**
 * PURE  The power soak's verdict: the schedule, what the harness did to the
 * agent (rounds, kills, cuts, faults), the proof-of-play rows that survived
 * and the tones that reached the sink, into counters that must all be 0.
 *
 * - doubled: an item with two `played` rows, or heard whole twice (a whole
 *   hearing that ends as the plug is pulled is set aside: its row may not
 *   have been committed yet, so the replay is the rule working; so is one in
 *   a round whose disk was full or read-only, where no row could be written:
 *   `replayed_unrecordable`);
 * - lost: an item neither played (row) nor heard whole, with no excuse: an
 *   outage longer than the grace window can hold, a fault window (full
 *   disk, read-only disk, clock jump), or another programme on air when it
 *   was due;
 * - played_late: a `played` row that started after its bound: the later of
 *   its scheduled instant and the end of the last round in which it was
 *   heard (the latest moment it can have been known on air), plus the grace
 *   window, plus the items before it in its programme (and slack for warm-up);
 * - excused (not a fault): an item not played when an outage longer than the
 *   grace window, a fault, another programme on air, or a power supply that
 *   never stayed on long enough to play it whole, came in its window;
 * - unrecorded: heard whole at the sink with no `played` row (a committed row
 *   lost in a power cut would show here, outside full or read-only disk);
 * - unheard: a `played` row with nothing like the whole item at the sink;
 * - unattributed: a tone at the sink that no scheduled item explains.
 */

export interface SoakItem {
  content: string;
  freq: number;
  durationMs: number;
}

export interface SoakProgramme {
  id: string;
  atMs: number;
  items: SoakItem[];
}

export type Fault = 'none' | 'full-disk' | 'read-only' | 'clock-forward' | 'clock-back';

export interface SoakRound {
  n: number;
  spawnMs: number;
  /** When it answered `loa status`; null if killed (or dead) before. */
  readyMs: number | null;
  killMs: number;
  cut: boolean;
  fault: Fault;
  /** How the process ended: a signal name for the kill, an exit code if it died by itself. */
  exit: number | string;
  /** `loa status` samples: what was on air. */
  playing: Array<{ atMs: number; key: string | null }>;
  /** Audio (and short gaps) its sink file received, ms. */
  sinkMs: number;
}

export interface LoggedRow {
  programmeId: string | null;
  content: string | null;
  result: string;
  reason: string | null;
  startedMs: number | null;
}

/** A tone run at a round's sink; `atKill`: the file ends within `AT_KILL_S` of its end. */
export interface HeardRun {
  round: number;
  freq: number;
  durationS: number;
  atKill: boolean;
}

export interface JudgeInput {
  programmes: SoakProgramme[];
  rounds: SoakRound[];
  rows: LoggedRow[];
  heard: HeardRun[];
  graceMs: number;
  /** Programmes due after this (less their grace and length) are not judged: the agent had no chance to decide. */
  endMs: number;
}

export interface Verdict {
  judged_items: number;
  played: number;
  lost: number;
  doubled: number;
  played_late: number;
  unrecorded: number;
  unheard: number;
  unattributed: number;
  /** Not played, with an outage, a fault, a busy station or power never on long enough as the reason. */
  excused: number;
  /** Heard whole in a round whose disk took no row (full, read-only), then again: the rule working. */
  replayed_unrecordable: number;
  whole_at_kill: number;
  /** One line per non-zero count, naming the item. */
  problems: string[];
}

/** A hearing this close (s) to the end of its round's sink file was cut by the kill. */
export const AT_KILL_S = 0.4;
const WHOLE_SLACK_S = 0.4;
const START_SLACK_MS = 1500;
const ITEM_GAP_MS = 1000;
const FAULT_BEFORE_MS = 30_000;
const FAULT_AFTER_MS = 90_000;

export function judge(input: JudgeInput): Verdict {
  const { programmes, rounds, rows, heard, graceMs, endMs } = input;
  const v: Verdict = { judged_items: 0, played: 0, lost: 0, doubled: 0, played_late: 0, unrecorded: 0, unheard: 0, unattributed: 0, excused: 0, replayed_unrecordable: 0, whole_at_kill: 0, problems: [] };
  const maxItemMs = Math.max(...programmes.flatMap((p) => p.items.map((i) => i.durationMs)));
  const faults = rounds.filter((r) => r.fault !== 'none').map((r) => [r.spawnMs - FAULT_BEFORE_MS, r.killMs + FAULT_AFTER_MS] as const);
  // Outages the grace window cannot bridge: from a kill to the next round's answer.
  const outages: Array<readonly [number, number]> = [];
  rounds.forEach((r, i) => {
    const next = rounds[i + 1];
    const back = next?.readyMs ?? next?.killMs ?? Infinity;
    if (back - r.killMs > graceMs - maxItemMs - 3000) outages.push([r.killMs, back]);
  });
  const diskFaulted = new Set(rounds.filter((r) => r.fault === 'full-disk' || r.fault === 'read-only').map((r) => r.n));
  const overlaps = (spans: ReadonlyArray<readonly [number, number]>, a: number, b: number): boolean => spans.some(([s, e]) => s <= b && e >= a);

  // Each heard run belongs to the scheduled item of its tone that was on air in its round (`loa status`), else the
  // one due last before the round ended (tones repeat in a cycle longer than a resume can reach).
  const hearings = new Map<string, HeardRun[]>();
  for (const h of heard) {
    const round = rounds.find((r) => r.n === h.round);
    const ofTone = programmes.flatMap((p) => p.items.map((it, k) => ({ p, it, k }))).filter(({ it }) => Math.abs(it.freq - h.freq) <= it.freq * 0.05);
    const onAir = ofTone.filter(({ p }) => round?.playing.some((s) => s.key?.startsWith(`occurrence:${p.id}@`)));
    const candidates = onAir.length > 0 ? onAir : ofTone.filter(({ p }) => round !== undefined && p.atMs >= round.spawnMs - 90_000 && p.atMs <= round.killMs + 5000);
    if (candidates.length === 0 || !round) {
      v.unattributed++;
      v.problems.push(`round ${h.round}: ${h.freq} Hz for ${h.durationS} s at the sink, no scheduled item explains it`);
      continue;
    }
    // The latest one due by the end of the round: an older one of the same tone is a whole tone cycle earlier.
    const best = candidates.reduce((a, b) => (b.p.atMs > a.p.atMs ? b : a));
    const key = `${best.p.id}#${best.k}`;
    hearings.set(key, [...(hearings.get(key) ?? []), h]);
  }

  // Rounds in which the programme was heard: a tone of it at the sink, or sound while only it was on air.
  const heardRounds = (p: SoakProgramme): SoakRound[] =>
    rounds.filter((r) =>
      p.items.some((_, k) => (hearings.get(`${p.id}#${k}`) ?? []).some((h) => h.round === r.n)) ||
      (r.sinkMs > 0 && r.playing.some((s) => s.key?.startsWith(`occurrence:${p.id}@`)) && r.playing.every((s) => s.key === null || s.key.startsWith(`occurrence:${p.id}@`))),
    );

  for (const p of programmes) {
    const totalMs = p.items.reduce((n, it) => n + it.durationMs + ITEM_GAP_MS, 0);
    if (p.atMs + graceMs + totalMs + 5000 > endMs) continue;
    const windowEnd = p.atMs + 2 * graceMs + totalMs;
    const faulted = overlaps(faults, p.atMs - 5000, windowEnd);
    let before = 0;
    p.items.forEach((it, k) => {
      v.judged_items++;
      const name = `${p.id} item ${k} (${it.freq} Hz, due ${new Date(p.atMs + before).toISOString()})`;
      const mine = rows.filter((r) => r.programmeId === p.id && r.content === it.content);
      const played = mine.filter((r) => r.result === 'played');
      const heardRuns = hearings.get(`${p.id}#${k}`) ?? [];
      const whole = heardRuns.filter((h) => h.durationS >= it.durationMs / 1000 - WHOLE_SLACK_S);
      const wholeClean = whole.filter((h) => !h.atKill);
      v.whole_at_kill += whole.length - wholeClean.length;
      // A whole hearing no row could follow, before the last one: the replay is the rule working.
      const unrecordable = wholeClean.slice(0, -1).filter((h) => diskFaulted.has(h.round)).length;
      v.replayed_unrecordable += unrecordable;
      if (played.length > 1 || wholeClean.length - unrecordable > 1) {
        v.doubled++;
        v.problems.push(`doubled: ${name}: ${played.length} played rows, heard whole ${wholeClean.length} times`);
      }
      if (played.length > 0 || whole.length > 0) v.played++;
      if (wholeClean.length > 0 && played.length === 0 && !faulted) {
        v.unrecorded++;
        v.problems.push(`unrecorded: ${name}: heard whole, no played row (${mine.map((r) => r.result).join(', ') || 'no row'})`);
      }
      if (played.length > 0 && whole.length === 0) {
        v.unheard++;
        v.problems.push(`unheard: ${name}: played row, at the sink ${heardRuns.map((h) => h.durationS).join(', ') || 'nothing'} s of ${it.durationMs / 1000}`);
      }
      if (played.length === 0 && whole.length === 0) {
        const busy = rounds.some((r) => r.playing.some((s) => s.atMs >= p.atMs && s.atMs <= windowEnd && s.key !== null && !s.key.startsWith(`occurrence:${p.id}@`)));
        // Could any round have played it whole: up from (at the latest) its due time for its length and a start's slack?
        const dueMs = p.atMs + before;
        const powerHeld = rounds.some((r) => r.readyMs !== null && Math.min(r.killMs, windowEnd) - Math.max(r.readyMs, dueMs) >= it.durationMs + START_SLACK_MS);
        if (faulted || busy || !powerHeld || overlaps(outages, p.atMs - 5000, windowEnd)) v.excused++;
        else {
          v.lost++;
          v.problems.push(`lost: ${name}: ${mine.map((r) => `${r.result}${r.reason ? ` (${r.reason})` : ''}`).join(', ') || 'no row'}; heard ${heardRuns.map((h) => h.durationS).join(', ') || 'nothing'}`);
        }
      }
      for (const r of played) {
        if (r.startedMs === null || overlaps(faults, r.startedMs, r.startedMs)) continue;
        const lastHeard = heardRounds(p).filter((round) => round.killMs < r.startedMs!).map((round) => round.killMs).at(-1) ?? p.atMs;
        const bound = Math.max(p.atMs, lastHeard) + graceMs + before + START_SLACK_MS;
        if (r.startedMs > bound) {
          v.played_late++;
          v.problems.push(`played late: ${name}: started ${new Date(r.startedMs).toISOString()}, bound ${new Date(bound).toISOString()}`);
        }
      }
      before += it.durationMs + ITEM_GAP_MS;
    });
  }
  return v;
}

export interface DeliveryVerdict {
  /** Play-log rows in the station's final database. */
  rows: number;
  /** Of them, at the province. */
  delivered: number;
  /** A row the station kept that never reached the province and is no longer queued for it (the outbox lost it, or stopped short). */
  undelivered: number;
  /** A row still in the station's outbox at the end (written as it stopped): kept, and sent at its next connection. */
  queued: number;
  /** A row the province holds that the station's database does not: reported, then lost with the power (a commit not durable before its publish). */
  unknown_at_province: number;
  problems: string[];
}

/** PURE  The province link under the same kills and cuts: every row the station kept reached the province, and nothing the province has was lost by the station. */
export function judgeDelivery(stationIds: readonly string[], provinceIds: readonly string[], queuedIds: readonly string[] = []): DeliveryVerdict {
  const kept = new Set(stationIds);
  const there = new Set(provinceIds);
  const waiting = new Set(queuedIds);
  const missing = [...kept].filter((id) => !there.has(id));
  const undelivered = missing.filter((id) => !waiting.has(id));
  const unknown = [...there].filter((id) => !kept.has(id));
  return {
    rows: kept.size,
    delivered: kept.size - missing.length,
    undelivered: undelivered.length,
    queued: missing.length - undelivered.length,
    unknown_at_province: unknown.length,
    problems: [
      ...undelivered.slice(0, 20).map((id) => `undelivered: row ${id} kept by the station never reached the province`),
      ...unknown.slice(0, 20).map((id) => `unknown at the province: row ${id} was reported, then lost by the station`),
    ],
  };
}

/** A verdict's counters, for its one JSON line (the problems are printed one per line). */
export function countsOf<T extends { problems: string[] }>(v: T): Omit<T, 'problems'> {
  const { problems: _problems, ...counts } = v;
  return counts;
}
