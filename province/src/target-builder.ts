import type { KeyObject } from 'node:crypto';
import type { Programme } from '../../agent/src/domain/types.js';
import type { TargetHead, TargetPartInput } from '../../agent/src/sync/protocol.js';
import type { BoardScheduleInput } from '../../agent/src/board/playlist.js';
import { signPayload } from '../../agent/src/sync/signing.js';
import { sha256Hex, type ContentEntryInput, type StationSettings, type ZoneSetting } from '../../agent/src/sync/target.js';

/**
 * How the province turns a station's desired state into retained messages:
 * parts (programmes split so no message exceeds maxPartBytes), then one
 * signed head pinning each part by SHA-256. Publish the parts first and the
 * head last, all retained: a station that sees the head already has, or is
 * about to get, every part it names.
 */

export interface TargetSpec {
  station: string;
  version: number;
  issuedMs: number;
  programmes: Programme[];
  content: ContentEntryInput[];
  zones?: ZoneSetting[];
  settings?: StationSettings;
  board?: BoardScheduleInput;
}

export interface BuiltTarget {
  head: TargetHead;
  /** Signed envelope of the head. */
  headPayload: string;
  parts: Array<{ name: string; payload: string }>;
}

export const DEFAULT_MAX_PART_BYTES = 128 * 1024;

function chunk<T>(items: T[], make: (slice: T[]) => TargetPartInput, maxBytes: number): TargetPartInput[] {
  const out: TargetPartInput[] = [];
  let current: T[] = [];
  for (const item of items) {
    const next = [...current, item];
    if (current.length && JSON.stringify(make(next)).length > maxBytes) {
      out.push(make(current));
      current = [item];
    } else current = next;
  }
  if (current.length || out.length === 0) out.push(make(current));
  for (const p of out) {
    const n = JSON.stringify(p).length;
    if (n > maxBytes) throw new Error(`one ${p.kind} entry alone is ${n} bytes, over the ${maxBytes}-byte part limit`);
  }
  return out;
}

export function buildTarget(spec: TargetSpec, privateKey: KeyObject, maxPartBytes = DEFAULT_MAX_PART_BYTES): BuiltTarget {
  const v = spec.version;
  const named: Array<{ name: string; part: TargetPartInput }> = [];
  chunk(spec.programmes, (programmes) => ({ kind: 'programmes', version: v, programmes }), maxPartBytes).forEach((part, i) =>
    named.push({ name: `programmes-${i}`, part }),
  );
  chunk(spec.content, (content) => ({ kind: 'content', version: v, content }), maxPartBytes).forEach((part, i) => named.push({ name: `content-${i}`, part }));
  if (spec.zones) named.push({ name: 'zones', part: { kind: 'zones', version: v, zones: spec.zones } });
  if (spec.settings) named.push({ name: 'settings', part: { kind: 'settings', version: v, settings: spec.settings } });
  if (spec.board) named.push({ name: 'board', part: { kind: 'board', version: v, board: spec.board } });
  const parts = named.map(({ name, part }) => ({ name, payload: JSON.stringify(part) }));
  const head: TargetHead = {
    type: 'target',
    station: spec.station,
    version: v,
    issuedMs: spec.issuedMs,
    parts: parts.map((p) => ({ name: p.name, sha256: sha256Hex(p.payload), bytes: Buffer.byteLength(p.payload) })),
  };
  return { head, headPayload: signPayload(privateKey, head), parts };
}
