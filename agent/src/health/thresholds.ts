import { both, type Msg } from '../doctor/finding.js';
import { HEALTH_DEFAULTS, type HealthConfig } from './config.js';

/**
 * PURE. The station's readings against its thresholds: which alarms are
 * active now, and what changed since the last look (raised, cleared), so
 * the province hears transitions, not repeats.
 */
export interface HealthReadings {
  /** Faults the microcontroller reports active (amp-overcurrent, amp-overtemp, supply-low, supply-high). */
  faults: readonly string[];
  /** Its analogue readings, milli-units (mA, m°C, mV). */
  analog: ReadonlyArray<{ kind: string; milli: number }>;
  /** Its digital inputs by name, 1 = active. */
  inputs: Readonly<Record<string, 0 | 1>>;
  /** The host board's supply is below its limit now (vcgencmd / hwmon); null: no sensor. */
  underVoltage?: boolean | null;
}

export interface HealthAlarm {
  /** Stable: `amp-current-high`, `mcu-fault.supply-low`, `door-open`... */
  id: string;
  severity: 'warn' | 'error';
  text: Msg;
  action: Msg;
  /** The reading behind it, in its unit (A, °C, V), where there is one. */
  value?: number;
}

const MCU_FAULT_TEXT: Record<string, 'faultOvercurrent' | 'faultOvertemp' | 'faultSupplyLow' | 'faultSupplyHigh'> = {
  'amp-overcurrent': 'faultOvercurrent',
  'amp-overtemp': 'faultOvertemp',
  'supply-low': 'faultSupplyLow',
  'supply-high': 'faultSupplyHigh',
};

/**
 * The alarms active for these readings. `active` holds the ids active at
 * the last look: those clear only once the reading is back inside by the
 * hysteresis.
 */
export function evaluateHealth(r: HealthReadings, cfg: HealthConfig = HEALTH_DEFAULTS, active: ReadonlySet<string> = new Set()): HealthAlarm[] {
  const out: HealthAlarm[] = [];
  const h = cfg.hysteresisPercent / 100;
  const reading = (kind: string): number | null => {
    const a = r.analog.find((x) => x.kind === kind);
    return a ? a.milli / 1000 : null;
  };
  /** Over `limit` raises; an active alarm holds until below limit × (1 − h). */
  const above = (id: string, v: number | null, limit: number): boolean => v !== null && (v > limit || (active.has(id) && v > limit * (1 - h)));
  const below = (id: string, v: number | null, limit: number): boolean => v !== null && (v < limit || (active.has(id) && v < limit * (1 + h)));

  for (const f of r.faults) {
    const key = MCU_FAULT_TEXT[f];
    out.push({ id: `mcu-fault.${f}`, severity: 'error', text: key ? both(key) : both('faultOther', { fault: f }), action: both(key === 'faultSupplyLow' || key === 'faultSupplyHigh' ? 'supplyFix' : 'ampFix') });
  }
  const current = reading('current');
  if (above('amp-current-high', current, cfg.amplifierCurrentMaxA)) out.push({ id: 'amp-current-high', severity: 'warn', value: current!, text: both('currentHigh', { v: current!.toFixed(2), max: cfg.amplifierCurrentMaxA }), action: both('ampFix') });
  const temp = reading('temperature');
  if (above('amp-temp-high', temp, cfg.amplifierTempMaxC)) out.push({ id: 'amp-temp-high', severity: 'warn', value: temp!, text: both('tempHigh', { v: temp!.toFixed(1), max: cfg.amplifierTempMaxC }), action: both('tempFix') });
  const volt = reading('voltage');
  if (below('supply-low', volt, cfg.supplyMinV)) out.push({ id: 'supply-low', severity: 'warn', value: volt!, text: both('supplyLow', { v: volt!.toFixed(2), min: cfg.supplyMinV }), action: both('supplyFix') });
  if (above('supply-high', volt, cfg.supplyMaxV)) out.push({ id: 'supply-high', severity: 'warn', value: volt!, text: both('supplyHigh', { v: volt!.toFixed(2), max: cfg.supplyMaxV }), action: both('supplyFix') });
  if (r.inputs[cfg.doorInput] === 1) out.push({ id: 'door-open', severity: 'warn', text: both('doorOpen', { input: cfg.doorInput }), action: both('doorFix') });
  if (r.inputs[cfg.ampFaultInput] === 1) out.push({ id: 'amp-fault-input', severity: 'error', text: both('ampFaultInput', { input: cfg.ampFaultInput }), action: both('ampFix') });
  if (r.underVoltage === true) out.push({ id: 'under-voltage', severity: 'error', text: both('underVoltageAlarm'), action: both('underVoltageFix') });
  return out;
}

export interface HealthTransitions {
  raised: HealthAlarm[];
  cleared: string[];
}

/** What changed between two looks: alarms new in `next`, ids gone from it. */
export function healthTransitions(prev: ReadonlyMap<string, HealthAlarm>, next: readonly HealthAlarm[]): HealthTransitions {
  const ids = new Set(next.map((a) => a.id));
  return { raised: next.filter((a) => !prev.has(a.id)), cleared: [...prev.keys()].filter((id) => !ids.has(id)) };
}
