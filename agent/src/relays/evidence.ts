import type { RelaysConfig } from '../config/schema.js';
import type { RelayEvidence } from '../playout/ports.js';

/**
 * An amplifier drawing less than this is not powered, whatever its relay
 * says (idle supply draw of the controller itself stays well below).
 */
export const AMP_ON_MIN_MA = 200;

/** One look at the outputs: logical on/off read back, and the amplifier current when the microcontroller measures it. */
export type RelaySample = { state: Readonly<Record<string, boolean>>; ampMa?: number } | { error: string };

/** The play-log evidence from the looks taken during one item; pure. */
export function judgeEvidence(zones: readonly string[], cfg: Pick<RelaysConfig, 'zones'>, kind: RelayEvidence['kind'], samples: readonly RelaySample[]): RelayEvidence {
  const read = samples.filter((s): s is Exclude<RelaySample, { error: string }> => !('error' in s));
  if (read.length === 0 || kind === 'none') return { kind: 'none', zones: Object.fromEntries(zones.map((z) => [z, 'unconfirmed'])), samples: 0 };
  const currents = read.map((s) => s.ampMa).filter((x): x is number => x !== undefined);
  const ampMinMa = kind === 'mcu' && currents.length > 0 ? Math.min(...currents) : undefined;
  const out: RelayEvidence['zones'] = {};
  for (const z of zones) {
    const amp = cfg.zones.find((c) => c.name === z)?.amplifier;
    const powered = (s: (typeof read)[number]): boolean =>
      s.state[z] === true && (amp === undefined || s.state[amp] === true) && (kind !== 'mcu' || s.ampMa === undefined || s.ampMa >= AMP_ON_MIN_MA);
    out[z] = read.some((s) => !powered(s)) ? 'dropped' : read.length < samples.length ? 'unconfirmed' : 'confirmed';
  }
  return { kind, zones: out, samples: read.length, ...(ampMinMa !== undefined ? { ampMinMa } : {}) };
}
