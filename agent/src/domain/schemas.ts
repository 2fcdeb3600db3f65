import { z } from 'zod';
import { strict } from '../lib/strict.js';
import type { Programme } from './types.js';

/**
 * Validation of schedule documents, shared by `loa schedule import`, the
 * store (rows are re-validated when loaded) and the provincial target state.
 */

const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'use a local date YYYY-MM-DD');
const localTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'use a local time HH:MM or HH:MM:SS (24-hour)');
export const ContentIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'use the content SHA-256 as 64 lowercase hex digits');

export const ProgrammeItemSchema = strict.object({
  content: ContentIdSchema,
  repeat: z.number().int().min(1).max(20).default(1),
  gapMs: z.number().int().min(0).max(600_000).default(0),
});

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
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`);
}
