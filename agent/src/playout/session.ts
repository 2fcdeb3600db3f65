import type { Logger } from 'pino';
import type { InterruptionPolicy } from '../domain/types.js';
import type { PlayLogRow } from '../store/station-store.js';
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

export interface PlannedItem {
  content: string;
  gapMs: number;
  offsetMs: number;
  origin: ItemOrigin;
}

export interface SessionPlan {
  key: string;
  label: string;
  source: 'schedule' | 'request';
  priority: number;
  zones: string[];
  volume: number;
  /** Loudness gain is per content; volume is applied on top of it. */
  volumeGainDb: number;
  items: PlannedItem[];
  /** The instant the audio must start (scheduled), or null for as soon as possible. */
  audioStartMs: number | null;
  scheduledMs?: number;
  programmeId?: string;
  occurrenceId?: string;
  requestId?: string;
  /** schedule, or who asked: cli, province, button. */
  origin: string;
  /** The request's text for the bulletin board. */
  display?: { text: string; instructions: string };
  policy: InterruptionPolicy;
}

export interface SessionHooks {
  /** Persist a play-log row as soon as the item ends: a power cut loses nothing. */
  logged(row: PlayLogRow): void;
  /** Where to resume if the station dies now. */
  progress(resume: ResumePoint): void;
  bulletinPlayed(requestId: string): void;
  /** The session's first audio is in the sink (a preemption's cut session records itself then). */
  onAir?(): void;
  clockLabel(): string;
  now(): number;
}

export interface SessionOutcome {
  /** All items were played (or failed and were skipped): nothing left to do. */
  completed: boolean;
  /** Where to continue after an interruption, per the interruption policy. */
  resume?: ResumePoint;
  /** Why it was cut off. */
  reason?: string;
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
  const prepare = async (i: number): Promise<Prepared> => {
    const item = plan.items[i]!;
    const content = await ports.content.resolve(item.content);
    if ('problem' in content) return { ok: false, problem: content.problem };
    try {
      const prepared = await ports.audio.prepare({ path: content.path, offsetMs: item.offsetMs, gainDb: content.gainDb + plan.volumeGainDb });
      return { ok: true, item: prepared };
    } catch (err) {
      return { ok: false, problem: (err as Error).message };
    }
  };

  const row = (item: PlannedItem, fields: Partial<PlayLogRow> & Pick<PlayLogRow, 'result'>): PlayLogRow => ({
    source: plan.source,
    ...(plan.programmeId ? { programmeId: plan.programmeId } : {}),
    ...(plan.occurrenceId ? { occurrenceId: plan.occurrenceId } : {}),
    ...(item.origin.kind === 'bulletin' ? { requestId: item.origin.requestId } : plan.requestId ? { requestId: plan.requestId } : {}),
    content: item.content,
    priority: item.origin.kind === 'bulletin' ? item.origin.priority : plan.priority,
    ...(plan.scheduledMs !== undefined ? { scheduledMs: plan.scheduledMs } : {}),
    zones: plan.zones,
    volume: plan.volume,
    clock: hooks.clockLabel(),
    ...fields,
  });

  let pending: Promise<Prepared> | null = plan.items.length > 0 ? prepare(0) : null;
  const earliest = await ports.relays.powerUp(plan.zones, plan.audioStartMs ?? hooks.now(), signal).catch(async (err: unknown) => {
    if (signal.aborted) return hooks.now();
    await discardPending(pending); // no ffmpeg left waiting for a session that cannot go on air
    throw err;
  });
  let startAt: number | null = Math.max(plan.audioStartMs ?? 0, earliest);
  log.info({ session: plan.key, label: plan.label, zones: plan.zones, startAt: new Date(startAt).toISOString() }, 'session starting');

  for (let i = 0; i < plan.items.length; i++) {
    const item = plan.items[i]!;
    const prepared = await pending!;
    pending = null;
    if (signal.aborted) {
      if (prepared.ok) prepared.item.discard();
      return interrupted(plan, i, 0, String(signal.reason ?? 'aborted'));
    }
    if (!prepared.ok) {
      log.error({ session: plan.key, content: item.content, problem: prepared.problem }, 'item cannot be played: skipped');
      hooks.logged(row(item, { result: 'failed', reason: prepared.problem }));
      if (i + 1 < plan.items.length) pending = prepare(i + 1);
      continue;
    }
    // The next item warms up while this one plays.
    if (i + 1 < plan.items.length) pending = prepare(i + 1);
    const outcome: ItemOutcome = await prepared.item.play(startAt, signal, hooks.onAir);
    startAt = null;
    // Used-time for the cache's eviction order: a commit, so not on the way to an item's first sample.
    if (outcome.startedAtMs !== null) ports.content.touch(item.content);
    hooks.logged(row(item, {
      result: outcome.result,
      ...(outcome.startedAtMs !== null ? { startedMs: Math.round(outcome.startedAtMs) } : {}),
      endedMs: Math.round(outcome.endedAtMs),
      playedMs: Math.round(outcome.playedMs),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    }));
    if (outcome.result === 'interrupted') {
      await discardPending(pending);
      return interrupted(plan, i, item.offsetMs + outcome.playedMs, outcome.reason ?? String(signal.reason ?? 'interrupted'));
    }
    if (outcome.result === 'failed') log.error({ session: plan.key, content: item.content, reason: outcome.reason }, 'item failed: moving on');
    if (item.origin.kind === 'bulletin') hooks.bulletinPlayed(item.origin.requestId);
    hooks.progress(resumeAfter(plan, i));
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
export function interruptionResume(plan: SessionPlan, i: number, playedMs: number): ResumePoint {
  const origin = plan.items[i]?.origin;
  if (!origin || origin.kind !== 'item') {
    for (let j = i; j < plan.items.length; j++) {
      const o = plan.items[j]!.origin;
      if (o.kind === 'item') return { item: o.index, offsetMs: plan.items[j]!.offsetMs };
    }
    return { item: Number.MAX_SAFE_INTEGER, offsetMs: 0 };
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

function interrupted(plan: SessionPlan, i: number, playedMs: number, reason: string): SessionOutcome {
  return { completed: false, resume: interruptionResume(plan, i, playedMs), reason };
}
