import type { OutboxKind } from './protocol.js';

/**
 * The one place that builds or reads topic strings (docs/protocol.md,
 * "Topics"). Stations are flat under loa/v1/station/{id}: membership of a
 * province, commune or cluster is a list of groups, not a path, because
 * administrative trees change (the 2025 commune mergers removed a tier).
 */

export const ROOT = 'loa/v1';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function segment(kind: string, value: string): string {
  // MQTT wildcards or separators inside an id would widen a subscription or an ACL.
  if (!SEGMENT.test(value)) throw new Error(`${kind} "${value}" cannot be used in a topic: use letters, digits, ".", "_" or "-" (at most 64)`);
  return value;
}

export interface StationTopics {
  /** Signed target head, retained (province -> station). */
  target: string;
  /** Target part `name`, retained (province -> station). */
  targetPart(name: string): string;
  /** Subscription filter for every target part. */
  targetParts: string;
  /** Commands addressed to this station alone. */
  cmd: string;
  /** Answers to commands (station -> province). */
  response: string;
  /** Birth / last will, retained. */
  status: string;
  /** Reported state, retained. */
  reported: string;
  /** Outbox stream `kind` (play, event, health). */
  out(kind: Exclude<OutboxKind, 'response'>): string;
}

export function stationTopics(stationId: string): StationTopics {
  const base = `${ROOT}/station/${segment('station id', stationId)}`;
  return {
    target: `${base}/target`,
    targetPart: (name) => `${base}/target/part/${segment('part name', name)}`,
    targetParts: `${base}/target/part/+`,
    cmd: `${base}/cmd`,
    response: `${base}/response`,
    status: `${base}/status`,
    reported: `${base}/reported`,
    out: (kind) => `${base}/out/${kind}`,
  };
}

/** Commands to every member of a group (one publish, e.g. a province-wide emergency). */
export function groupCmdTopic(group: string): string {
  return `${ROOT}/group/${segment('group', group)}/cmd`;
}

/** The province's signed clock beacon, retained. */
export const TIME_TOPIC = `${ROOT}/time`;

/** Topic filters the province subscribes to, for every station at once. */
export const PROVINCE_FILTERS = {
  status: `${ROOT}/station/+/status`,
  reported: `${ROOT}/station/+/reported`,
  response: `${ROOT}/station/+/response`,
  out: `${ROOT}/station/+/out/+`,
} as const;

/** What a station topic means, from the province's side. */
export type ParsedTopic =
  | { kind: 'target'; station: string }
  | { kind: 'target-part'; station: string; part: string }
  | { kind: 'cmd'; station: string }
  | { kind: 'group-cmd'; group: string }
  | { kind: 'response' | 'status' | 'reported'; station: string }
  | { kind: 'out'; station: string; stream: string }
  | { kind: 'time' };

export function parseTopic(topic: string): ParsedTopic | undefined {
  if (topic === TIME_TOPIC) return { kind: 'time' };
  const parts = topic.split('/');
  if (parts[0] !== 'loa' || parts[1] !== 'v1') return undefined;
  const [, , scope, id, a, b, c] = parts;
  if (!id || !SEGMENT.test(id)) return undefined;
  if (scope === 'group') return a === 'cmd' && parts.length === 5 ? { kind: 'group-cmd', group: id } : undefined;
  if (scope !== 'station') return undefined;
  if (parts.length === 5) {
    if (a === 'target') return { kind: 'target', station: id };
    if (a === 'cmd' || a === 'response' || a === 'status' || a === 'reported') {
      return a === 'cmd' ? { kind: 'cmd', station: id } : { kind: a, station: id };
    }
  }
  if (parts.length === 6 && a === 'out' && b && SEGMENT.test(b)) return { kind: 'out', station: id, stream: b };
  if (parts.length === 7 && a === 'target' && b === 'part' && c && SEGMENT.test(c)) return { kind: 'target-part', station: id, part: c };
  return undefined;
}
