import type { BulletinClass, InterruptionPolicy, Occurrence, Programme, ProgrammeItem } from '../domain/types.js';
import { DateTime } from 'luxon';
import { classOf, isLiveItem } from '../domain/types.js';
import type { StationRequest } from '../domain/request.js';
import type { ResumePoint } from './arbiter.js';
import { isPlannedLive, type PlannedItem, type SessionPlan } from '../playout/session.js';

/**
 * What one session plays, where and how loud: the Circular 39 rules as pure
 * logic over plain data. The arbiter chose what starts; this says what that
 * means, item by item, and the conductor only carries it out.
 *
 * Rules:
 * - An emergency plays on every zone of the station at the forced volume,
 *   disabled zones included: a warning must reach everyone who can hear it.
 *   The zones and volume it names are not used, except for a public alert
 *   whose area maps to zones (`alert.zoned`): it plays on those zones only
 *   (the station's own, disabled included), still at the forced volume.
 * - Any other session plays on the zones it names (a request naming none:
 *   every zone) that the station has and may use; unknown or disabled zones
 *   are left out, and said so.
 * - Volume is the programme's or request's, times the lowest trim of its
 *   zones (they share one audio output: no zone louder than allowed), times
 *   the master volume.
 * - Queued priority bulletins head a scheduled programme in the operator's
 *   order, each after a chime of its class, always whole (never resumed).
 * - A session resumes from its resume point: earlier items are left out, the
 *   item it points at starts at its offset. The chime plays only at a fresh
 *   start, never on a resume.
 * - A scheduled programme's audio starts at its instant, unless it resumes or
 *   its instant has passed; a request starts as soon as possible.
 */

/** The station settings planning reads; the province's target may change them. */
export interface PlanSettings {
  /** Per zone: volume trim 0-100, and whether the schedule may use it at all (a broken horn line). */
  zones: ReadonlyArray<{ name: string; volume: number; enabled: boolean }>;
  emergencyVolume: number;
  /** 0-100 on top of programme and zone volume. */
  masterVolume: number;
}

/** What the arbiter chose, with the documents it names. */
export type PlanSubject =
  | {
      kind: 'occurrence';
      occurrence: Occurrence;
      programme: Programme;
      resume?: ResumePoint;
      /** Pending `next-programme` requests, in the operator's order. */
      bulletins: readonly StationRequest[];
    }
  | { kind: 'request'; request: StationRequest; resume?: ResumePoint };

export interface PlanInput {
  /** The arbiter's key for the candidate. */
  key: string;
  subject: PlanSubject;
  settings: PlanSettings;
  /** Cached chime content and the classes it precedes, if enabled. */
  chime: { content: string; classes: readonly BulletinClass[] } | null;
  interruption: Readonly<Record<BulletinClass, InterruptionPolicy>>;
  volumeGainDb: (volumePercent: number) => number;
  nowMs: number;
  /** The station's zone: a live item's `untilTime` is a local time. */
  timezone: string;
}

export type PlanWarning =
  /** Zones named but not played on: the station lacks them, or they are switched off. */
  | { kind: 'zones-left-out'; unknown: string[]; disabled: string[] }
  /** Nothing left to play on: the session runs, but no horn carries it. */
  | { kind: 'no-zone' };

export interface PlanResult {
  plan: SessionPlan;
  warnings: PlanWarning[];
}

const START: ResumePoint = { item: 0, offsetMs: 0 };
const CHIME_GAP_MS = 300;

export function planSession(input: PlanInput): PlanResult {
  const { subject, settings } = input;
  const warnings: PlanWarning[] = [];
  const withChime = (items: PlannedItem[], cls: BulletinClass): void => {
    if (input.chime && input.chime.classes.includes(cls)) {
      items.push({ content: input.chime.content, gapMs: CHIME_GAP_MS, offsetMs: 0, origin: { kind: 'chime' } });
    }
  };
  const usable = (names: readonly string[]): string[] => {
    const { zones, warnings: left } = usableZones(names, settings.zones);
    warnings.push(...left);
    return zones;
  };
  const noZoneWarning = (zones: readonly string[]): void => {
    if (zones.length === 0) warnings.push({ kind: 'no-zone' });
  };

  if (subject.kind === 'occurrence') {
    const p = subject.programme;
    const resume = subject.resume ?? START;
    const cls = classOf(p.priority);
    const items: PlannedItem[] = [];
    for (const b of subject.bulletins) {
      withChime(items, classOf(b.priority));
      for (const it of expand(b.items, { startMs: input.nowMs, timezone: input.timezone })) {
        items.push({ ...it, origin: { kind: 'bulletin', requestId: b.id, priority: b.priority } });
      }
    }
    if (isStart(resume)) withChime(items, cls);
    items.push(...resumeFrom(p.items, resume, { startMs: subject.occurrence.startMs, timezone: input.timezone }, input.nowMs));
    const zones = usable(p.zones);
    noZoneWarning(zones);
    const volume = effectiveVolume(p.volume, zones, settings);
    const fresh = !subject.resume;
    return {
      plan: {
        kind: 'occurrence',
        key: input.key,
        label: p.name,
        priority: p.priority,
        zones,
        volume,
        volumeGainDb: input.volumeGainDb(volume),
        items,
        audioStartMs: fresh && subject.occurrence.startMs > input.nowMs ? subject.occurrence.startMs : null,
        scheduledMs: subject.occurrence.startMs,
        programmeId: p.id,
        occurrenceId: subject.occurrence.id,
        origin: 'schedule',
        policy: input.interruption[cls],
      },
      warnings,
    };
  }

  const request = subject.request;
  const cls = classOf(request.priority);
  const emergency = cls === 'emergency';
  const resume = subject.resume ?? START;
  const items: PlannedItem[] = [];
  if (isStart(resume)) withChime(items, cls);
  items.push(...resumeFrom(request.items, resume, { startMs: input.nowMs, timezone: input.timezone }, input.nowMs));
  const allZones = settings.zones.map((z) => z.name);
  const zones = emergency
    ? request.alert?.zoned ? allZones.filter((z) => request.zones.includes(z)) : allZones
    : usable(request.zones.length === 0 ? allZones : request.zones);
  noZoneWarning(zones);
  const volume = emergency ? settings.emergencyVolume : effectiveVolume(request.volume, zones, settings);
  return {
    plan: {
      kind: 'request',
      key: input.key,
      label: request.label || request.id,
      priority: request.priority,
      zones,
      volume,
      volumeGainDb: input.volumeGainDb(volume),
      items,
      audioStartMs: null,
      requestId: request.id,
      origin: request.origin,
      ...(request.display ? { display: request.display } : {}),
      ...(request.alert ? { alertId: request.alert.id } : {}),
      policy: input.interruption[cls],
    },
    warnings,
  };
}

/** The named zones this station has and may use, in the order named; the rest left out, and said so. */
export function usableZones(names: readonly string[], stationZones: PlanSettings['zones']): { zones: string[]; warnings: PlanWarning[] } {
  const known = new Set(stationZones.map((z) => z.name));
  const enabled = new Set(stationZones.filter((z) => z.enabled).map((z) => z.name));
  const zones = names.filter((n) => enabled.has(n));
  const unknown = names.filter((n) => !known.has(n));
  const disabled = names.filter((n) => known.has(n) && !enabled.has(n));
  return { zones, warnings: unknown.length + disabled.length > 0 ? [{ kind: 'zones-left-out', unknown, disabled }] : [] };
}

/** Zones sharing one audio output can only play at one level: the lowest trim wins, so no zone is louder than allowed. */
export function effectiveVolume(volume: number, zones: readonly string[], settings: Pick<PlanSettings, 'zones' | 'masterVolume'>): number {
  const trims = settings.zones.filter((z) => zones.includes(z.name)).map((z) => z.volume);
  const trim = trims.length > 0 ? Math.min(...trims) : 100;
  return Math.round((volume * trim * settings.masterVolume) / 10_000);
}

/** Where a session's `untilTime`s are counted from: the occurrence's scheduled start (a request: now), in the station's zone. */
export interface LiveAnchor {
  startMs: number;
  timezone: string;
}

/**
 * Programme or request items with repeats expanded, numbered for resume
 * points. A live item is one item (it has no repeat): it ends `durationMs`
 * after it starts, or at its local `untilTime`, the first one after the
 * session's start (06:00-00:30 crosses midnight).
 */
export function expand(items: readonly ProgrammeItem[], anchor?: LiveAnchor): PlannedItem[] {
  const out: PlannedItem[] = [];
  for (const it of items) {
    if (isLiveItem(it)) {
      const { sources, label, display, durationMs, untilTime } = it.live;
      const endMs = untilTime !== undefined && anchor ? localTimeAfter(untilTime, anchor) : null;
      out.push({ live: { sources, label, ...(display ? { display } : {}), durationMs: durationMs ?? null, endMs }, gapMs: 0, offsetMs: 0, origin: { kind: 'item', index: out.length } });
      continue;
    }
    for (let r = 0; r < it.repeat; r++) out.push({ content: it.content, gapMs: it.gapMs, offsetMs: 0, origin: { kind: 'item', index: out.length } });
  }
  return out;
}

/** The first instant after `anchor.startMs` whose local time is `time` (HH:MM[:SS]). */
export function localTimeAfter(time: string, anchor: LiveAnchor): number {
  const [h, m, sec] = time.split(':').map(Number) as [number, number, number | undefined];
  const start = DateTime.fromMillis(anchor.startMs, { zone: anchor.timezone });
  let at = start.set({ hour: h, minute: m, second: sec ?? 0, millisecond: 0 });
  if (at.toMillis() <= anchor.startMs) at = at.plus({ days: 1 });
  return at.toMillis();
}

/**
 * The items from a resume point on: the one it points at starts at its
 * offset; a live one is rejoined live, to the end it had when it was cut.
 */
function resumeFrom(items: readonly ProgrammeItem[], resume: ResumePoint, anchor: LiveAnchor, nowMs: number): PlannedItem[] {
  return expand(items, anchor)
    .filter((it) => it.origin.kind === 'item' && it.origin.index >= resume.item)
    // A relay whose end passed while it was cut off is over: no relay is switched for it.
    .filter((it) => !(isPlannedLive(it) && it.origin.kind === 'item' && it.origin.index === resume.item && resume.untilMs !== undefined && resume.untilMs <= nowMs))
    .map((it) => {
      if (it.origin.kind !== 'item' || it.origin.index !== resume.item) return it;
      if (isPlannedLive(it)) return resume.untilMs !== undefined ? { ...it, live: { ...it.live, endMs: resume.untilMs } } : it;
      return { ...it, offsetMs: resume.offsetMs };
    });
}

function isStart(resume: ResumePoint): boolean {
  return resume.item === 0 && resume.offsetMs === 0;
}
