import type { Config } from '../config/schema.js';
import type { StationSettings as ConductorSettings } from '../playout/conductor.js';
import type { StationSettings, ZoneSetting } from './target.js';

/**
 * The conductor's settings with a target's on top: zone trims and enable
 * flags, master and emergency volume, grace. The same function at start
 * (config plus the applied target) and when a new target is committed, so a
 * restart keeps exactly what the province set: a zone it switched off stays off.
 * Zones the target does not name keep their base setting. The base is
 * always the config, never the settings of the moment, so that a running
 * station and a restarted one agree (a province `volume` command lasts until
 * the next target or restart).
 */
export function withTargetSettings(base: ConductorSettings, target: { zones: readonly ZoneSetting[]; settings: StationSettings }): ConductorSettings {
  return {
    ...base,
    zones: base.zones.map((z) => {
      const set = target.zones.find((t) => t.name === z.name);
      return set ? { name: z.name, volume: set.volume, enabled: set.enabled } : z;
    }),
    ...(target.settings.graceMs !== undefined ? { graceMs: target.settings.graceMs } : {}),
    ...(target.settings.emergencyVolume !== undefined ? { emergencyVolume: target.settings.emergencyVolume } : {}),
    ...(target.settings.volume !== undefined ? { masterVolume: target.settings.volume } : {}),
  };
}

/** The settings the config file alone gives (before any target): every zone enabled at its configured trim. */
export function settingsFromConfig(config: Pick<Config, 'relays' | 'schedule'>): ConductorSettings {
  return {
    zones: config.relays.zones.map((z) => ({ name: z.name, volume: z.volume, enabled: true })),
    graceMs: config.schedule.graceMs,
    emergencyVolume: config.schedule.emergencyVolume,
    masterVolume: 100,
  };
}
