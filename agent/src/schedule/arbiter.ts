import type { Occurrence } from '../domain/types.js';

/**
 * The one place that decides what the station plays: pure logic over
 * (now, scheduled occurrences, operator requests, what plays now).
 *
 * Rules (Circular 39 classes on the 0-9 scale):
 * - Requests (play-now, emergencies) are eligible at once, clock or no clock:
 *   an emergency never waits for NTP.
 * - A scheduled occurrence is eligible only while the clock is trusted, from
 *   its start minus the relay/pre-roll lead until start + grace; after that
 *   it is missed, never played late. An interrupted one may resume until
 *   grace after its interruption.
 * - The highest priority wins; among equals the one waiting longest. Only a
 *   strictly higher priority preempts what plays: an evacuation message is
 *   never cut by another of the same rank.
 */

export interface ResumePoint {
  item: number;
  offsetMs: number;
  /** A live relay cut off: it is rejoined live until this instant (epoch ms), never resumed at an offset. */
  untilMs?: number;
}

export interface OccurrenceRecord {
  state: 'playing' | 'done' | 'missed' | 'interrupted';
  resume: ResumePoint;
  /** When the record last changed; for an interruption, when it happened. */
  updatedMs: number;
}

export interface PendingRequest {
  id: string;
  priority: number;
  createdMs: number;
  resume?: ResumePoint;
}

export interface Playing {
  key: string;
  priority: number;
}

export type Candidate =
  | { key: string; priority: number; kind: 'occurrence'; occurrence: Occurrence; resume?: ResumePoint; progressMs?: number }
  | { key: string; priority: number; kind: 'request'; request: PendingRequest };

export interface ArbiterInput {
  nowMs: number;
  clockTrusted: boolean;
  occurrences: readonly Occurrence[];
  records: ReadonlyMap<string, OccurrenceRecord>;
  requests: readonly PendingRequest[];
  playing: Playing | null;
  graceMs: number;
  /** How long before its start an occurrence must begin (relay warm-up, pre-roll). */
  leadFor: (o: Occurrence) => number;
}

export interface Decision {
  /** Occurrences to record as missed now. */
  missed: Occurrence[];
  /** What must start now, or null to keep things as they are. */
  next: Candidate | null;
  /** `next` must cut off what plays. */
  preempt: boolean;
  /** When to decide again if nothing else happens first. */
  wakeAtMs: number | null;
}

export function decide(input: ArbiterInput): Decision {
  const { nowMs, graceMs, playing } = input;
  const missed: Occurrence[] = [];
  const eligible: Array<{ c: Candidate; since: number }> = [];
  let wakeAtMs: number | null = null;
  const wakeAt = (t: number): void => {
    if (t > nowMs && (wakeAtMs === null || t < wakeAtMs)) wakeAtMs = t;
  };

  for (const request of input.requests) {
    eligible.push({ c: { key: `request:${request.id}`, priority: request.priority, kind: 'request', request }, since: request.createdMs });
  }

  if (input.clockTrusted) {
    for (const o of input.occurrences) {
      const key = `occurrence:${o.id}`;
      const record = input.records.get(o.id);
      if (record?.state === 'done' || record?.state === 'missed') continue;
      if (playing?.key === key) continue;
      if (record) {
        // Interrupted, or 'playing' left behind by a crash: resumable for a grace period.
        const until = record.updatedMs + graceMs;
        if (nowMs > until) {
          missed.push(o);
          continue;
        }
        eligible.push({ c: { key, priority: o.priority, kind: 'occurrence', occurrence: o, resume: record.resume, progressMs: record.updatedMs }, since: o.startMs });
        wakeAt(until + 1);
        continue;
      }
      const opensAt = o.startMs - input.leadFor(o);
      const closesAt = o.startMs + graceMs;
      if (nowMs > closesAt) {
        missed.push(o);
      } else if (nowMs >= opensAt) {
        eligible.push({ c: { key, priority: o.priority, kind: 'occurrence', occurrence: o }, since: o.startMs });
        wakeAt(closesAt + 1);
      } else {
        wakeAt(opensAt);
      }
    }
  }

  eligible.sort((a, b) => b.c.priority - a.c.priority || a.since - b.since);
  const best = eligible[0]?.c ?? null;
  if (!best) return { missed, next: null, preempt: false, wakeAtMs };
  if (!playing) return { missed, next: best, preempt: false, wakeAtMs };
  if (best.priority > playing.priority) return { missed, next: best, preempt: true, wakeAtMs };
  return { missed, next: null, preempt: false, wakeAtMs };
}
