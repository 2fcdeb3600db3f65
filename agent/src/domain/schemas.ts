import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { cleanString } from '../lib/text.js';
import type { LiveItem, Programme } from './types.js';

/**
 * Validation of schedule documents, shared by `loa schedule import`, the
 * store (rows are re-validated when loaded) and the provincial target state.
 */

const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'use a local date YYYY-MM-DD');
const localTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'use a local time HH:MM or HH:MM:SS (24-hour)');
export const ContentIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'use the content SHA-256 as 64 lowercase hex digits');

export const ContentItemSchema = strict.object({
  content: ContentIdSchema,
  repeat: z.number().int().min(1).max(20).default(1),
  gapMs: z.number().int().min(0).max(600_000).default(0),
});

/**
 * A stream URL names where audio comes from and nothing else: only these
 * schemes (no file:, no concat:, no ffmpeg protocol chains), no whitespace
 * or control characters, bounded. The engine decodes audio only from it.
 */
const MAX_URL_CHARS = 1024;
const httpUrl = z.string().max(MAX_URL_CHARS).regex(/^https?:\/\/[^\s\\|]+$/, 'use an http:// or https:// URL without spaces');
const rtpUrl = z.string().max(MAX_URL_CHARS).regex(/^(rtp|udp):\/\/[^\s\\|]+$/, 'use an rtp:// or udp:// URL (host:port, unicast or multicast) without spaces');
const sourceId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/, 'use letters, digits, ".", "_" or "-" (at most 40)');

export const LiveSourceSchema = z.discriminatedUnion('kind', [
  strict.object({ id: sourceId, kind: z.literal('http'), url: httpUrl }),
  strict.object({ id: sourceId, kind: z.literal('hls'), url: httpUrl }),
  /** `sdp`: the session description Opus and other dynamic payloads need (the URL still says where). */
  strict.object({ id: sourceId, kind: z.literal('rtp'), url: rtpUrl, sdp: z.string().max(4096).regex(/^v=0/, 'an SDP starts with "v=0"').optional() }),
  /** A cached fallback file or playlist, played in turn. */
  strict.object({ id: sourceId, kind: z.literal('file'), contents: z.array(ContentIdSchema).min(1).max(50) }),
  /** The bridge's FM tuner, 87.5-108 MHz (what the microcontroller tunes). */
  strict.object({ id: sourceId, kind: z.literal('fm'), fmKHz: z.number().int().min(87_500).max(108_000) }),
]);

/** The longest live item: a relay is a slot of the day, not a permanent state. */
export const MAX_LIVE_MS = 12 * 3_600_000;

export const LiveItemSchema = strict.object({
  live: strict
    .object({
      sources: z.array(LiveSourceSchema).min(1).max(8),
      durationMs: z.number().int().min(1000).max(MAX_LIVE_MS).optional(),
      untilTime: localTime.optional(),
      label: cleanString(100).default(''),
      display: cleanString(300).optional(),
    })
    .superRefine((l, ctx) => {
      if ((l.durationMs === undefined) === (l.untilTime === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['durationMs'], message: 'give either durationMs or untilTime (when the relay ends), not both' });
      }
      const ids = new Set<string>();
      l.sources.forEach((src, i) => {
        if (ids.has(src.id)) ctx.addIssue({ code: 'custom', path: ['sources', i, 'id'], message: `source id "${src.id}" appears twice` });
        ids.add(src.id);
      });
    }),
}) satisfies z.ZodType<LiveItem, unknown>;

/** A cached file, or a live relay; the two never mix (the key says which). */
export const ProgrammeItemSchema = z.union([ContentItemSchema, LiveItemSchema]);

export const RecurrenceSchema = z.discriminatedUnion('kind', [
  strict.object({ kind: z.literal('once'), date: localDate, time: localTime }),
  strict
    .object({
      kind: z.literal('daily'),
      time: localTime,
      weekdays: z.array(z.number().int().min(1).max(7)).min(1).optional(),
      validFrom: localDate.optional(),
      validTo: localDate.optional(),
    })
    .refine((r) => !r.validFrom || !r.validTo || r.validFrom <= r.validTo, {
      message: 'validFrom is after validTo',
      path: ['validTo'],
    }),
]);

export const ProgrammeSchema = strict.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" or "-" (at most 64)'),
  name: z.string().min(1).max(200),
  priority: z.number().int().min(0).max(8).default(0),
  recurrence: RecurrenceSchema,
  items: z.array(ProgrammeItemSchema).min(1).max(200),
  zones: z.array(z.string().min(1)).min(1),
  volume: z.number().int().min(0).max(100).default(80),
}) satisfies z.ZodType<Programme, unknown>;

export const ScheduleDocumentSchema = strict
  .object({ programmes: z.array(ProgrammeSchema) })
  .superRefine((doc, ctx) => {
    const ids = new Set<string>();
    doc.programmes.forEach((p, i) => {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['programmes', i, 'id'], message: `programme id "${p.id}" appears twice` });
      ids.add(p.id);
    });
  });

export type ScheduleDocument = z.infer<typeof ScheduleDocumentSchema>;

/** One line per problem, naming the field: `programmes.2.recurrence.time: use a local time HH:MM ...`. */
export function describeIssues(error: z.ZodError): string[] {
  return flatIssues(error.issues, []).map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`);
}

/**
 * A union of strict objects (a file item or a live item) fails as "Invalid
 * input"; the branch the document meant is the one that knows all its keys,
 * and its own issues say what is wrong.
 */
function flatIssues(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]): Array<{ path: PropertyKey[]; message: string }> {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union' && 'errors' in i) {
      const meant = i.errors.filter((branch) => !branch.some((b) => b.code === 'unrecognized_keys' && b.path.length === 0));
      if (meant.length === 1) return flatIssues(meant[0]!, path);
    }
    return [{ path, message: i.message }];
  });
}
