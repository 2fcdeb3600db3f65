import { z } from 'zod';
import { ProgrammeItemSchema } from './schemas.js';
import { cleanString } from '../lib/text.js';

/**
 * An operator's request: play now (any class; emergencies preempt), or a
 * bulletin queued into the next programme (priority class, in the
 * operator's order). Every entry (the control socket, the province) parses
 * through here, so its texts are cleaned here, once (lib/text.ts): a text
 * too long is cut, never a reason to refuse an emergency.
 */
export const RequestSchema = z.object({
  id: z.string().min(1).max(100),
  mode: z.enum(['now', 'next-programme']),
  priority: z.number().int().min(0).max(9),
  label: cleanString(200).default(''),
  items: z.array(ProgrammeItemSchema).min(1).max(50),
  /** Zone names; empty means every zone. Emergencies use every zone, unless an alert's area names them (`alert.zoned`). */
  zones: z.array(cleanString(100)).default([]),
  volume: z.number().int().min(0).max(100).default(80),
  /** Who asked: cli, province, button... */
  origin: cleanString(40).default('cli'),
  /** Epoch ms after which it must never start (a stale "play now" stays silent). */
  expiresMs: z.number().int().optional(),
  /** What the bulletin board shows while it plays; an emergency takes over the screen with it. */
  display: z
    .object({
      text: cleanString(5000, { multiline: true }).default(''),
      /** What people must do (move to high ground, boil water...). */
      instructions: cleanString(5000, { multiline: true }).default(''),
    })
    .optional(),
  /**
   * The public alert this request plays (alerts/manager.ts): its id is in every play-log row.
   * `zoned`: the zones come from the alert's area, so an emergency plays on those zones only.
   */
  alert: z.object({ id: z.string().min(1).max(300), zoned: z.boolean().default(false) }).optional(),
});

export type StationRequest = z.infer<typeof RequestSchema>;
