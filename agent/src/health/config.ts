import { z } from 'zod';
import { strict } from '../lib/strict.js';

/**
 * Health thresholds: where the station's own readings become alarms to the
 * province and findings in `loa doctor`. They sit below the
 * microcontroller's own fault limits (4 A, 80 °C, 10.5 V, 15 V), so the
 * technician hears of a drift before the firmware cuts the amplifier.
 */
export const HEALTH_DEFAULTS = {
  /** How often the analogue readings and the host's power are read. */
  pollS: 30,
  amplifierCurrentMaxA: 3.5,
  amplifierTempMaxC: 70,
  supplyMinV: 11,
  supplyMaxV: 14.5,
  /** A raised alarm clears only once its reading is this far back inside (no flapping at the edge). */
  hysteresisPercent: 3,
  /** The bridge inputs wired to the cabinet door switch and the amplifier's fault output. */
  doorInput: 'door',
  ampFaultInput: 'amp-fault',
} as const;

export const HealthConfigSchema = strict
  .object({
    pollS: z.number().int().min(5).max(3600).default(HEALTH_DEFAULTS.pollS),
    amplifierCurrentMaxA: z.number().min(0.1).max(50).default(HEALTH_DEFAULTS.amplifierCurrentMaxA),
    amplifierTempMaxC: z.number().min(20).max(150).default(HEALTH_DEFAULTS.amplifierTempMaxC),
    supplyMinV: z.number().min(1).max(60).default(HEALTH_DEFAULTS.supplyMinV),
    supplyMaxV: z.number().min(1).max(60).default(HEALTH_DEFAULTS.supplyMaxV),
    hysteresisPercent: z.number().min(0).max(20).default(HEALTH_DEFAULTS.hysteresisPercent),
    doorInput: z.string().min(1).max(40).default(HEALTH_DEFAULTS.doorInput),
    ampFaultInput: z.string().min(1).max(40).default(HEALTH_DEFAULTS.ampFaultInput),
  })
  .refine((h) => h.supplyMinV < h.supplyMaxV, { message: 'supplyMinV must be below supplyMaxV', path: ['supplyMinV'] })
  .default(HEALTH_DEFAULTS);

export type HealthConfig = z.infer<typeof HealthConfigSchema>;
