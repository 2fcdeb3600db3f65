import { RelaysSchema } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import type { ProvisionBundle } from './protocol.js';

/**
 * The station's configuration after enrolment, from what the controller
 * already had (the installer's skeleton, or the config of a station being
 * re-provisioned) and what the province sent. Hardware stays as the
 * controller has it (relay lines, audio, board, bridge); identity and the
 * link to the province come from the bundle; secrets go in files beside the
 * state, never into the config itself.
 */

export interface ProvisionFiles {
  passwordFile: string;
  caFile: string;
  /** TLS client certificate and key, when the province issued one. */
  certFile?: string;
  keyFile?: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** Sync fields that belong to the station's link tuning rather than to its identity: kept across a re-provisioning. */
const SYNC_TUNING = ['allowInsecure', 'keepaliveS', 'protocolVersion', 'sessionExpiryS', 'reconnect', 'download', 'healthIntervalS', 'outbox'] as const;

export function buildProvisionedConfig(base: unknown, bundle: ProvisionBundle, files: ProvisionFiles, stateDir: string): Obj {
  const b = obj(base);
  const station = obj(b.station);
  const oldSync = obj(b.sync);
  const sync: Obj = Object.fromEntries(SYNC_TUNING.filter((k) => k in oldSync).map((k) => [k, oldSync[k]]));
  Object.assign(sync, {
    brokers: bundle.brokers,
    username: bundle.username,
    passwordFile: files.passwordFile,
    tls: { caFile: files.caFile, ...(files.certFile && files.keyFile ? { certFile: files.certFile, keyFile: files.keyFile } : {}) },
    provinceKeys: bundle.provinceKeys,
    groups: bundle.groups,
  });
  const out: Obj = {
    ...b,
    station: {
      ...station,
      id: bundle.stationId,
      ...(bundle.name !== undefined ? { name: bundle.name } : {}),
      ...(bundle.timezone !== undefined ? { timezone: bundle.timezone } : {}),
    },
    paths: { ...obj(b.paths), state: stateDir },
    sync,
  };
  if (bundle.zones) out.relays = withZones(b.relays, bundle.zones);
  if (bundle.releaseKey) out.update = { ...obj(b.update), releaseKey: bundle.releaseKey };
  return out;
}

/**
 * The province names the zones (and may know their lines); the controller's
 * zone at the same place lends its wiring (line, amplifier, polarity, trim).
 * A zone with neither a line from the province nor one wired here is an
 * error naming it, not a guess.
 */
function withZones(relaysIn: unknown, zones: NonNullable<ProvisionBundle['zones']>): Obj {
  const relays = obj(relaysIn);
  const wired = (Array.isArray(relays.zones) ? relays.zones : (RelaysSchema.parse({}).zones as unknown[])).map(obj);
  const amplifier = String(wired[0]?.amplifier ?? obj((Array.isArray(relays.amplifiers) ? relays.amplifiers : [{ name: 'amp' }])[0]).name ?? 'amp');
  const missing = zones.flatMap((z, i) => (z.line === undefined && wired[i]?.line === undefined ? [z.name] : []));
  if (missing.length) {
    throw new ConfigError('(province zones)', [
      `relays.zones: the province names ${zones.length} zones but this controller wires ${wired.length}; no relay line for ${missing.join(', ')} (add them to relays.zones, or have the province give their lines)`,
    ]);
  }
  return {
    ...relays,
    zones: zones.map((z, i) => {
      const { name: _n, label: _l, ...wiring } = wired[i] ?? { amplifier };
      return { ...wiring, name: z.name, ...(z.label ? { label: z.label } : {}), ...(z.line !== undefined ? { line: z.line } : {}) };
    }),
  };
}
