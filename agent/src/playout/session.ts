import type { Logger } from 'pino';
import type { InterruptionPolicy } from '../domain/types.js';
import type { LiveSourceSpec } from '../domain/types.js';
import type { SourceSegment } from '../audio/live/types.js';
import type { LiveProof, PlayLogRow } from '../store/station-store.js';
import type { AudioPort, ContentPort, ItemOutcome, PreparedItem, RelayPort, ResumePoint } from './ports.js';
import { sleep } from '../lib/backoff.js';
import { wallClockMs } from '../audio/clock.js';

/**
 * One session: a programme occurrence or an operator request, from relays
 * up to the last sample. Items are prepared (verified, decoder pre-rolled)
 * one ahead, so the first starts at its instant and the next follows at once.
 */

export type ItemOrigin =
  /** Index into the programme's or request's own items (repeats expanded): what a resume point counts. */
  | { kind: 'item'; index: number }
  /** A queued priority bulletin played at the head of a programme. */
  | { kind: 'bulletin'; requestId: string; priority: number }
  | { kind: 'chime' };

interface PlannedBase {
  gapMs: number;
  /** Where a file starts (a resume); always 0 for a live item, which rejoins live instead. */
  offsetMs: number;
  origin: ItemOrigin;
}

export interface PlannedFile extends PlannedBase {
  content: string;
}

/** A live relay as planned: its sources, and its end (see `liveEndMs`). */
export interface PlannedLive extends PlannedBase {
  live: {
    sources: LiveSourceSpec[];
    label: string;
    display?: string;
    /** Counted from the item's start (null: `endMs` says when). */
    durationMs: number | null;
    /** A fixed end: the local `untilTime`, or the end of a relay cut short that is rejoined. */
    endMs: number | null;
  };
}

export type PlannedItem = PlannedFile | PlannedLive;

export function isPlannedLive(item: PlannedItem): item is PlannedLive {
  return 'live' in item;
}

/** When a live item that starts at `startMs` ends: its fixed end, or its duration after the start. */
export function liveEndMs(live: PlannedLive['live'], startMs: number): number {
  return live.endMs ?? startMs + (live.durationMs ?? 0);
}

/** The play-log fields of a live item: what it was, from which sources, and (once played) which source was heard when. */
export function liveProof(item: PlannedLive, segments: readonly SourceSegment[] = []): LiveProof {
  return { label: item.live.label, sources: item.live.sources, segments: [...segments] };
}

interface PlanCommon {
  key: string;
  label: string;
  priority: number;
  zones: string[];
  volume: number;
  /** Loudness gain is per content; volume is applied on top of it. */
  volumeGainDb: number;
  items: PlannedItem[];
  /** The instant the audio must start (scheduled), or null for as soon as possible. */
  audioStartMs: number | null;
  /** schedule, or who asked: cli, province, button. */
  origin: string;
  policy: InterruptionPolicy;
}

/** A scheduled occurrence of a programme. */
export interface OccurrencePlan extends PlanCommon {
  kind: 'occurrence';
  programmeId: string;
  occurrenceId: string;
  scheduledMs: number;
}

/** An operator's request: play now, an emergency. */
export interface RequestPlan extends PlanCommon {
  kind: 'request';
  requestId: string;
  /** The request's text for the bulletin board. */
  display?: { text: string; instructions: string };
  /** The public alert it plays (its id goes into each play-log row). */
  alertId?: string;
}

/** Made by `planSession` (schedule/session-plan.ts). */
export type SessionPlan = OccurrencePlan | RequestPlan;

/** The play-log fields that say which occurrence or request a row proves. */
export function rowIdentity(plan: SessionPlan): Pick<PlayLogRow, 'source' | 'programmeId' | 'occurrenceId' | 'requestId' | 'scheduledMs' | 'alertId'> {
  return plan.kind === 'occurrence'
    ? { source: 'schedule', programmeId: plan.programmeId, occurrenceId: plan.occurrenceId, scheduledMs: plan.scheduledMs }
    : { source: 'request', requestId: plan.requestId, ...(plan.alertId ? { alertId: plan.alertId } : {}) };
}

export interface SessionHooks {
  /**
   * Persist a play-log row as soon as the item ends, with where to resume if
   * the station dies now and the queued bulletin it completed, in one
   * transaction: a power cut between them can neither lose the row nor
   * replay the item.
   */
  logged(row: PlayLogRow, after?: { resume: ResumePoint; bulletinPlayed?: string }): void;
  /** The session's first audio is in the sink (a preemption's cut session records itself then). */
  onAir?(): void;
  /**
   * A live item begins (what it relays, for the board, and where a restart
   * rejoins it: its end is fixed now), or ends (null).
   */
  live?(live: { label: string; display?: string; resume?: ResumePoint } | null): void;
  clockLabel(): string;
  now(): number;
  /**
   * Until when a failed relay power-up is tried again (the session's grace
   * window); null: go on air at once without it, as an emergency must.
   */
  powerUpRetryUntilMs(): number | null;
}

export interface SessionOutcome {
  /** All items were played (or failed and were skipped): nothing left to do. */
  completed: boolean;
  /** Where to continue after an interruption, per the interruption policy. */
  resume?: ResumePoint;
  /** Why it was cut off. */
  reason?: string;
  /** The relays could not be powered up within the retry window: every item has a failed row, none played. */
  failed?: true;
}

export interface SessionPorts {
  relays: RelayPort;
  content: ContentPort;
  audio: AudioPort;
  log: Logger;
}

type Prepared = { ok: true; item: PreparedItem } | { ok: false; problem: string };

/** A gap's timer wakes this early; the player then waits to the sample (a timer is not that precise). */
const GAP_WAKE_AHEAD_MS = 30;

export async function runSession(plan: SessionPlan, ports: SessionPorts, hooks: SessionHooks, signal: AbortSignal): Promise<SessionOutcome> {
  const { log } = ports;
  const prepare = async (i: number, onVerified?: (ok: boolean) => void): Promise<Prepared> => {
    const item = plan.items[i]!;
    if (isPlannedLive(item)) {
      // A stream is not verified ahead: the chain's failover is what copes with a dead one.
      onVerified?.(true);
      try {
        return { ok: true, item: await ports.audio.prepareLive({ live: item.live, gainDb: plan.volumeGainDb }) };
      } catch (err) {
        return { ok: false, problem: (err as Error).message };
      }
    }
    const content = await ports.content.resolve(item.content).catch((err: Error) => ({ problem: err.message }));
    onVerified?.(!('problem' in content));
    if ('problem' in content) return { ok: false, problem: content.problem };
    try {
      const prepared = await ports.audio.prepare({ path: content.path, offsetMs: item.offsetMs, gainDb: content.gainDb + plan.volumeGainDb });
      return { ok: true, item: prepared };
    } catch (err) {
      return { ok: false, problem: (err as Error).message };
    }
  };

  // A file is prepared one item ahead; a stream only when its turn comes (connected during the
  // item before it, it would hold the network for nothing).
  const prepareAhead = (i: number): Promise<Prepared> | null => {
    const next = plan.items[i];
    return next && !isPlannedLive(next) ? prepare(i) : null;
  };

  const row = (item: PlannedItem, fields: Partial<PlayLogRow> & Pick<PlayLogRow, 'result'>): PlayLogRow => ({
    ...rowIdentity(plan),
    ...(item.origin.kind === 'bulletin' ? { requestId: item.origin.requestId } : {}),
    ...(isPlannedLive(item) ? { live: liveProof(item) } : { content: item.content }),
    priority: item.origin.kind === 'bulletin' ? item.origin.priority : plan.priority,
    zones: plan.zones,
    volume: plan.volume,
    clock: hooks.clockLabel(),
    ...fields,
  });

  // Content is verified before the amplifier is powered for it: items whose file fails are logged
  // failed here, and if none is left no relay is touched. The decoder still warms up during the power-up.
  let first = 0;
  let pending: Promise<Prepared> | null = null;
  for (; first < plan.items.length; first++) {
    let verified!: (ok: boolean) => void;
    const ok = new Promise<boolean>((r) => (verified = r));
    pending = prepare(first, verified);
    if (await Promise.race([ok, pending.then((p) => p.ok)])) break;
    const failed = (await pending) as { ok: false; problem: string };
    log.error({ session: plan.key, item: itemName(plan.items[first]!), problem: failed.problem }, 'item cannot be played: skipped');
    hooks.logged(row(plan.items[first]!, { result: 'failed', reason: failed.problem }), { resume: resumeAfter(plan, first) });
    pending = null;
  }
  if (!pending || signal.aborted) {
    await discardPending(pending);
    return signal.aborted ? interrupted(plan, first, 0, String(signal.reason ?? 'aborted')) : { completed: true };
  }
  const power = await powerUp(plan, ports, hooks, signal);
  if ('problem' in power && !power.goOnAir) {
    await discardPending(pending); // no ffmpeg left waiting for a session that cannot go on air
    for (const item of plan.items.slice(first)) hooks.logged(row(item, { result: 'failed', reason: power.problem }));
    return { completed: false, failed: true, reason: power.problem };
  }
  // An emergency goes on air even so: whatever switched on carries it, and each row says what failed.
  const powerProblem = 'problem' in power ? power.problem : undefined;
  let startAt: number | null = Math.max(plan.audioStartMs ?? 0, 'startMs' in power ? power.startMs : hooks.now());
  log.info({ session: plan.key, label: plan.label, zones: plan.zones, startAt: new Date(startAt).toISOString() }, 'session starting');

  for (let i = first; i < plan.items.length; i++) {
    const item = plan.items[i]!;
    const prepared = await (pending ?? prepare(i));
    pending = null;
    if (signal.aborted) {
      if (prepared.ok) prepared.item.discard();
      return interrupted(plan, i, 0, String(signal.reason ?? 'aborted'));
    }
    if (!prepared.ok) {
      log.error({ session: plan.key, item: itemName(item), problem: prepared.problem }, 'item cannot be played: skipped');
      hooks.logged(row(item, { result: 'failed', reason: prepared.problem }), { resume: resumeAfter(plan, i) });
      pending = prepareAhead(i + 1);
      continue;
    }
    // A relay rejoined after its end (the emergency outlasted it) is over: its cut part has its row.
    if (isPlannedLive(item) && item.live.endMs !== null && item.live.endMs <= hooks.now()) {
      prepared.item.discard();
      log.info({ session: plan.key, live: item.live.label, endedAt: new Date(item.live.endMs).toISOString() }, 'live relay already over: not rejoined');
      pending = prepareAhead(i + 1);
      continue;
    }
    // The next item warms up while this one plays.
    pending = prepareAhead(i + 1);
    const watch = ports.relays.watch(plan.zones);
    if (isPlannedLive(item)) {
      const untilMs = liveEndMs(item.live, startAt ?? hooks.now());
      hooks.live?.({ label: item.live.label, ...(item.live.display ? { display: item.live.display } : {}), ...(item.origin.kind === 'item' ? { resume: { item: item.origin.index, offsetMs: 0, untilMs } } : {}) });
    }
    const outcome: ItemOutcome = await prepared.item.play(startAt, signal, hooks.onAir);
    if (isPlannedLive(item)) hooks.live?.(null);
    const relays = watch.stop();
    startAt = null;
    // Used-time for the cache's eviction order: a commit, so not on the way to an item's first sample.
    if (outcome.startedAtMs !== null && !isPlannedLive(item)) ports.content.touch(item.content);
    const ended = row(item, {
      ...(outcome.content ? { content: outcome.content } : {}),
      ...(isPlannedLive(item) ? { live: liveProof(item, outcome.live?.segments) } : {}),
      result: outcome.result,
      relays,
      ...(outcome.startedAtMs !== null ? { startedMs: Math.round(outcome.startedAtMs) } : {}),
      endedMs: Math.round(outcome.endedAtMs),
      playedMs: Math.round(outcome.playedMs),
      ...((outcome.reason ?? powerProblem) !== undefined ? { reason: outcome.reason ?? powerProblem } : {}),
    });
    if (outcome.result === 'interrupted') {
      hooks.logged(ended);
      await discardPending(pending);
      return interrupted(plan, i, item.offsetMs + outcome.playedMs, outcome.reason ?? String(signal.reason ?? 'interrupted'), outcome.live?.untilMs);
    }
    hooks.logged(ended, { resume: resumeAfter(plan, i), ...(item.origin.kind === 'bulletin' ? { bulletinPlayed: item.origin.requestId } : {}) });
    if (outcome.result === 'failed') log.error({ session: plan.key, item: itemName(item), reason: outcome.reason }, 'item failed: moving on');
    if (item.gapMs > 0 && i + 1 < plan.items.length) {
      // The gap is silence at the speaker: it counts from the item's last
      // sample leaving the sink, not from its last write (the sink still holds
      // up to its buffer then), and the next item starts at the sample.
      startAt = outcome.endedAtMs + item.gapMs;
      try {
        await sleep(Math.max(0, startAt - wallClockMs() - GAP_WAKE_AHEAD_MS), signal);
      } catch {
        await discardPending(pending);
        return interrupted(plan, i + 1, 0, String(signal.reason ?? 'aborted'));
      }
    }
  }
  await ports.audio.drain();
  return { completed: true };
}

/** Waits before trying a failed power-up again: a relay line's hiccup passes, a dead one does not. */
const POWER_UP_RETRY_MS = [1000, 2000, 5000, 10_000, 15_000];

type PowerUp = { startMs: number } | { problem: string; goOnAir: boolean };

/**
 * Powers the session's relays, trying again within the retry window. An
 * abort ends the wait at once: the caller sees the signal and interrupts.
 */
async function powerUp(plan: SessionPlan, ports: SessionPorts, hooks: SessionHooks, signal: AbortSignal): Promise<PowerUp> {
  const until = hooks.powerUpRetryUntilMs();
  for (let attempt = 1; ; attempt++) {
    try {
      return { startMs: await ports.relays.powerUp(plan.zones, plan.audioStartMs ?? hooks.now(), signal) };
    } catch (err) {
      if (signal.aborted) return { startMs: hooks.now() };
      const message = (err as Error).message;
      const wait = POWER_UP_RETRY_MS[Math.min(attempt - 1, POWER_UP_RETRY_MS.length - 1)]!;
      if (until === null || hooks.now() + wait > until) {
        const problem = `relay power-up failed${attempt > 1 ? ` (${attempt} attempts)` : ''}: ${message}`;
        ports.log.error({ session: plan.key, zones: plan.zones, attempts: attempt, err: message, onAir: until === null }, until === null ? 'relay power-up failed: going on air regardless' : 'relay power-up failed: session given up');
        return { problem, goOnAir: until === null };
      }
      ports.log.warn({ session: plan.key, attempt, err: message, retryInMs: wait }, 'relay power-up failed: trying again');
      try {
        await sleep(wait, signal);
      } catch {
        return { startMs: hooks.now() };
      }
    }
  }
}

async function discardPending(pending: Promise<Prepared> | null): Promise<void> {
  const p = await pending;
  if (p?.ok) p.item.discard();
}

/** The first programme item at or after position i, as a resume point. */
function resumeAfter(plan: SessionPlan, i: number): ResumePoint {
  for (let j = i + 1; j < plan.items.length; j++) {
    const o = plan.items[j]!.origin;
    if (o.kind === 'item') return { item: o.index, offsetMs: 0 };
  }
  return { item: Number.MAX_SAFE_INTEGER, offsetMs: 0 };
}

/**
 * Where to continue after item i was cut off `playedMs` in. Chimes and
 * bulletins always restart (a half-heard bulletin is worthless); programme
 * items follow the policy of the session's class.
 */
export function interruptionResume(plan: SessionPlan, i: number, playedMs: number, liveUntilMs?: number): ResumePoint {
  const item = plan.items[i];
  const origin = item?.origin;
  if (!origin || origin.kind !== 'item') {
    for (let j = i; j < plan.items.length; j++) {
      const o = plan.items[j]!.origin;
      if (o.kind === 'item') return { item: o.index, offsetMs: plan.items[j]!.offsetMs };
    }
    return { item: Number.MAX_SAFE_INTEGER, offsetMs: 0 };
  }
  // A stream cannot be resumed at an offset: it is rejoined live, until the end it had (unless the class drops what is cut).
  if (item && isPlannedLive(item) && plan.policy !== 'drop') {
    const untilMs = liveUntilMs ?? item.live.endMs;
    return { item: origin.index, offsetMs: 0, ...(untilMs != null ? { untilMs } : {}) };
  }
  switch (plan.policy) {
    case 'resume':
      return { item: origin.index, offsetMs: playedMs };
    case 'restart':
      return { item: origin.index, offsetMs: 0 };
    case 'drop':
      return resumeAfter(plan, i);
  }
}

function interrupted(plan: SessionPlan, i: number, playedMs: number, reason: string, liveUntilMs?: number): SessionOutcome {
  return { completed: false, resume: interruptionResume(plan, i, playedMs, liveUntilMs), reason };
}

/** An item as a log line names it. */
function itemName(item: PlannedItem): string {
  return isPlannedLive(item) ? `live ${item.live.label}` : item.content;
}
