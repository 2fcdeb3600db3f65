import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { AlertAreaConfigSchema, checkAlertAreaNames } from './area.js';
import { AlertPolicySchema, type AlertStation } from './lifecycle.js';
import { AlertSpeechConfigSchema } from './speech-plan.js';

/**
 * The `alerts` section of the station configuration (config/schema.ts adds
 * it as `alerts: AlertsConfigSchema.default(() => AlertsConfigSchema.parse({}))`
 * and calls `checkAlertAreaNames` against relays.zones in its superRefine):
 *
 *   "alerts": {
 *     "exercise": "monitor",                 // public | monitor | ignore
 *     "defaultLifetimeMinutes": 1440,        // for alerts without expires
 *     "repeatMinutes": 15,                   // when the alert gives no LOA_REPEAT_MINUTES; absent: once
 *     "languages": ["vi", "hmn"],
 *     "chime": true,
 *     "prerecorded": [{ "valueName": "VN-EVENT", "value": "LU", "language": "vi", "content": "<sha256>" }],
 *     "area": {
 *       "commune": "00292", "containedIn": ["008", "01"],
 *       "codes": { "0029201": ["zone-1"], "0029202": ["lower"] },
 *       "groups": { "lower": ["zone-2", "zone-3"] },
 *       "zones": { "zone-1": { "point": [21.03, 105.85] }, "zone-2": { "polygon": [[21.0, 105.8], [21.0, 105.9], [21.1, 105.9]] } }
 *     }
 *   }
 */
export const AlertsConfigSchema = strict.object({
  ...AlertPolicySchema.shape,
  ...AlertSpeechConfigSchema.shape,
  /** The province's repeat interval for alerts that do not say; absent: an alert plays once unless it asks. */
  repeatMinutes: z.number().int().min(1).max(1440).optional(),
  area: AlertAreaConfigSchema.optional(),
});
export type AlertsConfig = z.infer<typeof AlertsConfigSchema>;

export { checkAlertAreaNames };

/** The station facts the lifecycle needs, from the whole configuration. */
export function alertStation(cfg: {
  station: { id: string };
  sync?: { groups: readonly string[] } | undefined;
  relays: { zones: ReadonlyArray<{ name: string }> };
  alerts: AlertsConfig;
}): AlertStation {
  return {
    id: cfg.station.id,
    groups: cfg.sync?.groups ?? [],
    languages: cfg.alerts.languages,
    zones: cfg.relays.zones.map((z) => z.name),
    ...(cfg.alerts.area ? { area: cfg.alerts.area } : {}),
  };
}
