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
  /** espeak-ng, the last resort for Vietnamese speech (alerts/alert-audio.ts). */
  espeak: strict
    .object({
      voice: z.string().regex(/^[A-Za-z0-9_+-]{1,40}$/, 'an espeak-ng voice name, e.g. "vi"').default('vi'),
      timeoutMs: z.number().int().min(500).max(60_000).default(10_000),
    })
    .default({ voice: 'vi', timeoutMs: 10_000 }),
  /** Resources (audio by URL or inline): none larger than maxBytes, whatever it declares; a download abandoned after timeoutMs. */
  resources: strict
    .object({
      maxBytes: z.number().int().min(1024).max(100 * 1024 * 1024).default(8 * 1024 * 1024),
      timeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    })
    .default({ maxBytes: 8 * 1024 * 1024, timeoutMs: 60_000 }),
  /** After `loa stop --all` or the stop button, new emergencies stay silent (recorded as held off) this long; 0: none. */
  stopHoldOffS: z.number().int().min(0).max(86_400).default(600),
  /** An alert never waits longer than this for its audio: the chime and the spoken headline go first. */
  audioWaitMs: z.number().int().min(0).max(10_000).default(2000),
  /** National CAP feeds the station polls (XML-DSig signed CAP documents; the keys are pinned here). */
  feeds: z
    .array(strict.object({
      url: z.string().regex(/^https?:\/\/\S+$/, 'use an http:// or https:// URL'),
      publicKeysPem: z.array(z.string().min(1).max(20_000)).min(1).max(8),
      intervalS: z.number().int().min(10).max(86_400).default(60),
    }))
    .max(8)
    .default([]),
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
