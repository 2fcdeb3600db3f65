import type { StationSettings as ConductorSettings } from '../playout/conductor.js';
import type { StationSettings, ZoneSetting } from './target.js';

/**
 * The conductor's settings with a target's on top: zone trims and enable
 * flags, master and emergency volume, grace. The same function at start
 * (config plus the applied target) and when a new target is committed, so a
 * restart keeps exactly what the province set: a zone it switched off stays off.
 * Zones the target does not name keep their base setting.
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
