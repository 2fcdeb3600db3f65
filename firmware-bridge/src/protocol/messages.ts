/**
 * Message types and payload layouts (PROTOCOL.md, "Messages"). Every
 * multi-byte field is little-endian. Decoders check lengths and ranges and
 * throw PayloadError naming the message and the field: a frame that passed
 * its CRC but carries a payload we cannot read is a firmware mismatch, and
 * the log must say which. Trailing bytes are ignored: a newer firmware may
 * append fields.
 */

export const PROTOCOL_VERSION = 1;

/** Host → microcontroller requests (0x01–0x3F). The response type is `type | 0x80`. */
export const Req = {
  HELLO: 0x01,
  PING: 0x02,
  RELAY_SET: 0x10,
  RELAY_GET: 0x11,
  INPUT_GET: 0x12,
  ANALOG_READ: 0x13,
  LED_BLINK: 0x14,
  RTC_GET: 0x20,
  RTC_SET: 0x21,
  WDT_SET: 0x30,
  WDT_FEED: 0x31,
  WDT_GET: 0x32,
  FM_TUNE: 0x38,
  FM_STATUS: 0x39,
  FM_PLAY: 0x3a,
} as const;

/** Microcontroller → host unsolicited events (0x40–0x7F), numbered by their own counter. */
export const Evt = {
  BOOT: 0x40,
  INPUT: 0x41,
  FAULT: 0x42,
  WDT_WARN: 0x43,
} as const;

/** The response to any request that could not be carried out. */
export const ERR = 0xff;

export const responseType = (req: number): number => req | 0x80;
export const isRequestType = (t: number): boolean => t >= 0x01 && t <= 0x3f;
export const isEventType = (t: number): boolean => t >= 0x40 && t <= 0x7f;
export const isResponseType = (t: number): boolean => (t >= 0x81 && t <= 0xbf) || t === ERR;

export const REQUEST_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Req).map(([k, v]) => [v, k]));

export const ErrCode = {
  UNKNOWN_TYPE: 1,
  BAD_LENGTH: 2,
  BAD_VALUE: 3,
  UNSUPPORTED: 4,
  NO_SESSION: 5,
  BUSY: 6,
} as const;
export const ERR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(ErrCode).map(([k, v]) => [v, k]));

export const Cap = { RELAYS: 1 << 0, INPUTS: 1 << 1, ANALOG: 1 << 2, RTC: 1 << 3, WATCHDOG: 1 << 4, FM: 1 << 5, LED: 1 << 6 } as const;
export type Capability = 'relays' | 'inputs' | 'analog' | 'rtc' | 'watchdog' | 'fm' | 'led';
const CAP_NAMES: ReadonlyArray<[Capability, number]> = [
  ['relays', Cap.RELAYS],
  ['inputs', Cap.INPUTS],
  ['analog', Cap.ANALOG],
  ['rtc', Cap.RTC],
  ['watchdog', Cap.WATCHDOG],
  ['fm', Cap.FM],
  ['led', Cap.LED],
];
export const capabilityNames = (bits: number): Capability[] => CAP_NAMES.filter(([, b]) => bits & b).map(([n]) => n);
export const capabilityBits = (names: readonly Capability[]): number => CAP_NAMES.filter(([n]) => names.includes(n)).reduce((a, [, b]) => a | b, 0);

export type ResetCauseName = 'power-on' | 'watchdog' | 'brown-out' | 'software' | 'pin' | 'unknown';
const RESET_NAMES: Record<number, ResetCauseName> = { 1: 'power-on', 2: 'watchdog', 3: 'brown-out', 4: 'software', 5: 'pin' };
export const resetCauseName = (c: number): ResetCauseName => RESET_NAMES[c] ?? 'unknown';
export const resetCauseCode = (n: ResetCauseName): number => Number(Object.entries(RESET_NAMES).find(([, v]) => v === n)?.[0] ?? 0);

/** Fault bits; also the fault codes of the FAULT event. */
export const Fault = { AMP_OVERCURRENT: 0, AMP_OVERTEMP: 1, SUPPLY_LOW: 2, SUPPLY_HIGH: 3 } as const;
export type FaultName = 'amp-overcurrent' | 'amp-overtemp' | 'supply-low' | 'supply-high';
const FAULT_NAMES: FaultName[] = ['amp-overcurrent', 'amp-overtemp', 'supply-low', 'supply-high'];
export const faultName = (code: number): FaultName | `fault-${number}` => FAULT_NAMES[code] ?? `fault-${code}`;
export const faultNames = (bits: number): string[] => Array.from({ length: 16 }, (_, i) => i).filter((i) => bits & (1 << i)).map(faultName);

export const AnalogKind = { CURRENT_MA: 1, TEMPERATURE_MC: 2, VOLTAGE_MV: 3 } as const;
export type AnalogKindName = 'current' | 'temperature' | 'voltage';
const ANALOG_NAMES: Record<number, { name: AnalogKindName; unit: string; scale: number }> = {
  1: { name: 'current', unit: 'A', scale: 1000 },
  2: { name: 'temperature', unit: '°C', scale: 1000 },
  3: { name: 'voltage', unit: 'V', scale: 1000 },
};

export class PayloadError extends Error {
  /** `length`: the payload is too short for its message; `value`: a field is out of range. */
  constructor(
    message: string,
    readonly kind: 'length' | 'value' = 'value',
  ) {
    super(message);
  }
}

/** Little-endian reader that names what it could not read. */
class Reader {
  private o = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly what: string,
  ) {}
  private need(n: number, field: string): void {
    if (this.o + n > this.b.length) throw new PayloadError(`${this.what}: payload of ${this.b.length} bytes ends before field "${field}"`, 'length');
  }
  u8(field: string): number {
    this.need(1, field);
    return this.b[this.o++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.b[this.o]! | (this.b[this.o + 1]! << 8);
    this.o += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = (this.b[this.o]! | (this.b[this.o + 1]! << 8) | (this.b[this.o + 2]! << 16)) + this.b[this.o + 3]! * 0x1000000;
    this.o += 4;
    return v;
  }
  i32(field: string): number {
    const v = this.u32(field);
    return v >= 0x80000000 ? v - 0x100000000 : v;
  }
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

class Writer {
  private readonly a: number[] = [];
  u8(v: number): this {
    this.a.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    this.a.push(v & 0xff, (v >>> 8) & 0xff);
    return this;
  }
  u32(v: number): this {
    this.a.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }
  i32(v: number): this {
    return this.u32(v >>> 0);
  }
  bytes(b: Uint8Array): this {
    this.a.push(...b);
    return this;
  }
  out(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new PayloadError(`${what} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

// ---- HELLO ----
export interface HelloRequest {
  minVersion: number;
  maxVersion: number;
}
export const encodeHelloRequest = (h: HelloRequest): Uint8Array => new Writer().u8(h.minVersion).u8(h.maxVersion).out();
export function decodeHelloRequest(p: Uint8Array): HelloRequest {
  const r = new Reader(p, 'HELLO request');
  return { minVersion: r.u8('min_version'), maxVersion: r.u8('max_version') };
}

export interface HelloInfo {
  version: number;
  bootId: number;
  resetCause: ResetCauseName;
  capabilities: Capability[];
  relayCount: number;
  inputCount: number;
  analogCount: number;
  /** Requests the microcontroller accepts outstanding at once. */
  window: number;
  firmware: string;
}
export function encodeHelloResponse(h: HelloInfo): Uint8Array {
  const fw = new TextEncoder().encode(h.firmware).subarray(0, 64);
  return new Writer()
    .u8(h.version)
    .u32(h.bootId)
    .u8(resetCauseCode(h.resetCause))
    .u16(capabilityBits(h.capabilities))
    .u8(h.relayCount)
    .u8(h.inputCount)
    .u8(h.analogCount)
    .u8(h.window)
    .u8(fw.length)
    .bytes(fw)
    .out();
}
export function decodeHelloResponse(p: Uint8Array): HelloInfo {
  const r = new Reader(p, 'HELLO response');
  const version = r.u8('version');
  const bootId = r.u32('boot_id');
  const resetCause = resetCauseName(r.u8('reset_cause'));
  const capabilities = capabilityNames(r.u16('capabilities'));
  const relayCount = r.u8('relay_count');
  const inputCount = r.u8('input_count');
  const analogCount = r.u8('analog_count');
  const window = r.u8('window');
  const fwLen = r.u8('fw_len');
  const firmware = new TextDecoder('utf-8', { fatal: false }).decode(r.bytes(fwLen, 'firmware'));
  if (relayCount > 16 || inputCount > 16) throw new PayloadError(`HELLO response: ${relayCount} relays / ${inputCount} inputs; the protocol carries at most 16 of each`);
  if (window < 1) throw new PayloadError('HELLO response: window is 0; the microcontroller must accept at least one request');
  return { version, bootId, resetCause, capabilities, relayCount, inputCount, analogCount, window, firmware };
}

// ---- PING (status) ----
export interface McuStatus {
  bootId: number;
  uptimeMs: number;
  relays: number;
  inputs: number;
  faults: number;
  watchdogEnabled: boolean;
  watchdogRemainingMs: number;
}
export const encodeStatus = (s: McuStatus): Uint8Array =>
  new Writer().u32(s.bootId).u32(s.uptimeMs).u16(s.relays).u16(s.inputs).u16(s.faults).u8(s.watchdogEnabled ? 1 : 0).u32(s.watchdogRemainingMs).out();
export function decodeStatus(p: Uint8Array): McuStatus {
  const r = new Reader(p, 'PING response');
  return {
    bootId: r.u32('boot_id'),
    uptimeMs: r.u32('uptime_ms'),
    relays: r.u16('relays'),
    inputs: r.u16('inputs'),
    faults: r.u16('faults'),
    watchdogEnabled: (r.u8('wdt_flags') & 1) === 1,
    watchdogRemainingMs: r.u32('wdt_remaining_ms'),
  };
}

// ---- Relays and inputs (bitmaps: bit n is channel n) ----
export interface RelaySet {
  mask: number;
  levels: number;
}
export const encodeRelaySet = (s: RelaySet): Uint8Array => new Writer().u16(checkInt('relay mask', s.mask, 0, 0xffff)).u16(checkInt('relay levels', s.levels, 0, 0xffff)).out();
export function decodeRelaySet(p: Uint8Array): RelaySet {
  const r = new Reader(p, 'RELAY_SET request');
  return { mask: r.u16('mask'), levels: r.u16('levels') };
}
export const encodeBitmap = (bits: number): Uint8Array => new Writer().u16(bits).out();
export const decodeBitmap = (p: Uint8Array, what: string): number => new Reader(p, what).u16('levels');

// ---- Analogue ----
export interface AnalogReading {
  channel: number;
  kind: AnalogKindName | `kind-${number}`;
  /** Milli-units of `unit` as the microcontroller sent them (mA, m°C, mV). */
  milli: number;
  value: number;
  unit: string;
}
export interface AnalogRaw {
  channel: number;
  kind: number;
  milli: number;
}
export function encodeAnalog(readings: readonly AnalogRaw[]): Uint8Array {
  const w = new Writer().u8(readings.length);
  for (const a of readings) w.u8(a.channel).u8(a.kind).i32(a.milli);
  return w.out();
}
export function decodeAnalog(p: Uint8Array): AnalogReading[] {
  const r = new Reader(p, 'ANALOG_READ response');
  const n = r.u8('count');
  const out: AnalogReading[] = [];
  for (let i = 0; i < n; i++) {
    const channel = r.u8(`channel[${i}]`);
    const kind = r.u8(`kind[${i}]`);
    const milli = r.i32(`value[${i}]`);
    const k = ANALOG_NAMES[kind];
    out.push({ channel, kind: k?.name ?? `kind-${kind}`, milli, value: milli / (k?.scale ?? 1000), unit: k?.unit ?? '' });
  }
  return out;
}

// ---- Identify LED ----
export const LED_MAX_MS = 600_000;
export const LED_PERIOD_MIN_MS = 100;
export const LED_PERIOD_MAX_MS = 5000;
export interface LedBlink {
  /** How long to blink; 0 stops at once. */
  durationMs: number;
  /** One on-off cycle. */
  periodMs: number;
}
export const encodeLedBlink = (b: LedBlink): Uint8Array =>
  new Writer().u32(checkInt('LED blink duration (ms)', b.durationMs, 0, LED_MAX_MS)).u16(checkInt('LED blink period (ms)', b.periodMs, LED_PERIOD_MIN_MS, LED_PERIOD_MAX_MS)).out();
export function decodeLedBlink(p: Uint8Array): LedBlink {
  const r = new Reader(p, 'LED_BLINK request');
  return { durationMs: r.u32('duration_ms'), periodMs: r.u16('period_ms') };
}
export interface LedStatus {
  blinking: boolean;
  remainingMs: number;
}
export const encodeLedStatus = (s: LedStatus): Uint8Array => new Writer().u8(s.blinking ? 1 : 0).u32(s.remainingMs).out();
export function decodeLedStatus(p: Uint8Array): LedStatus {
  const r = new Reader(p, 'LED response');
  return { blinking: (r.u8('flags') & 1) === 1, remainingMs: r.u32('remaining_ms') };
}

// ---- RTC ----
export interface RtcReading {
  /** The battery kept the clock running: false after the battery was lost, until set. */
  valid: boolean;
  /** Unix time in ms (the wire carries seconds and milliseconds). */
  ms: number;
}
export function encodeRtcTime(ms: number): Uint8Array {
  checkInt('RTC time (ms)', Math.floor(ms), 0, 0xffffffff * 1000 + 999);
  return new Writer().u32(Math.floor(ms / 1000)).u16(Math.floor(ms) % 1000).out();
}
export function decodeRtcTime(p: Uint8Array): number {
  const r = new Reader(p, 'RTC_SET request');
  const s = r.u32('seconds');
  const m = r.u16('millis');
  if (m > 999) throw new PayloadError(`RTC_SET request: millis ${m} is above 999`);
  return s * 1000 + m;
}
export const encodeRtcReading = (t: RtcReading): Uint8Array => new Writer().u8(t.valid ? 1 : 0).bytes(encodeRtcTime(t.ms)).out();
export function decodeRtcReading(p: Uint8Array): RtcReading {
  const r = new Reader(p, 'RTC response');
  const valid = (r.u8('flags') & 1) === 1;
  const s = r.u32('seconds');
  const m = r.u16('millis');
  return { valid, ms: s * 1000 + Math.min(m, 999) };
}

// ---- Watchdog ----
export const WATCHDOG_MIN_MS = 1000;
export const WATCHDOG_MAX_MS = 600_000;
export interface WatchdogSet {
  /** 0 disables. */
  timeoutMs: number;
  /** The WDT_WARN event is sent this long before the watchdog would fire; 0 for none. */
  warnMs: number;
}
export function encodeWatchdogSet(s: WatchdogSet): Uint8Array {
  if (s.timeoutMs !== 0) checkInt('watchdog timeout (ms)', s.timeoutMs, WATCHDOG_MIN_MS, WATCHDOG_MAX_MS);
  checkInt('watchdog warning (ms)', s.warnMs, 0, Math.max(0, s.timeoutMs - 1));
  return new Writer().u32(s.timeoutMs).u32(s.warnMs).out();
}
export function decodeWatchdogSet(p: Uint8Array): WatchdogSet {
  const r = new Reader(p, 'WDT_SET request');
  return { timeoutMs: r.u32('timeout_ms'), warnMs: r.u32('warn_ms') };
}
export interface WatchdogStatus {
  enabled: boolean;
  timeoutMs: number;
  warnMs: number;
  remainingMs: number;
  /** Times the watchdog has reset the Linux board since the microcontroller powered on. */
  fired: number;
}
export const encodeWatchdogStatus = (s: WatchdogStatus): Uint8Array =>
  new Writer().u8(s.enabled ? 1 : 0).u32(s.timeoutMs).u32(s.warnMs).u32(s.remainingMs).u16(s.fired).out();
export function decodeWatchdogStatus(p: Uint8Array): WatchdogStatus {
  const r = new Reader(p, 'watchdog response');
  return { enabled: (r.u8('flags') & 1) === 1, timeoutMs: r.u32('timeout_ms'), warnMs: r.u32('warn_ms'), remainingMs: r.u32('remaining_ms'), fired: r.u16('fired') };
}

// ---- FM tuner ----
export const FM_MIN_10KHZ = 8750;
export const FM_MAX_10KHZ = 10800;
export const encodeFmTune = (tenKhz: number): Uint8Array => new Writer().u16(checkInt('FM frequency (10 kHz units)', tenKhz, FM_MIN_10KHZ, FM_MAX_10KHZ)).out();
export const decodeFmTune = (p: Uint8Array): number => new Reader(p, 'FM_TUNE request').u16('freq');
export const encodeFmPlay = (on: boolean): Uint8Array => new Writer().u8(on ? 1 : 0).out();
export const decodeFmPlay = (p: Uint8Array): boolean => (new Reader(p, 'FM_PLAY request').u8('on') & 1) === 1;
export interface FmStatus {
  /** MHz, e.g. 99.5. */
  mhz: number;
  rssiDbuv: number;
  tuned: boolean;
  stereo: boolean;
  playing: boolean;
}
export const encodeFmStatus = (s: FmStatus): Uint8Array =>
  new Writer().u16(Math.round(s.mhz * 100)).u8(s.rssiDbuv).u8((s.tuned ? 1 : 0) | (s.stereo ? 2 : 0) | (s.playing ? 4 : 0)).out();
export function decodeFmStatus(p: Uint8Array): FmStatus {
  const r = new Reader(p, 'FM response');
  const f = r.u16('freq');
  const rssi = r.u8('rssi');
  const flags = r.u8('flags');
  return { mhz: f / 100, rssiDbuv: rssi, tuned: (flags & 1) !== 0, stereo: (flags & 2) !== 0, playing: (flags & 4) !== 0 };
}

// ---- Errors ----
export interface ErrPayload {
  requestType: number;
  code: number;
}
export const encodeErr = (e: ErrPayload): Uint8Array => new Writer().u8(e.requestType).u8(e.code).out();
export function decodeErr(p: Uint8Array): ErrPayload {
  const r = new Reader(p, 'ERR response');
  return { requestType: r.u8('request_type'), code: r.u8('code') };
}

// ---- Events ----
export interface BootEvent {
  bootId: number;
  resetCause: ResetCauseName;
}
export const encodeBootEvent = (e: BootEvent): Uint8Array => new Writer().u32(e.bootId).u8(resetCauseCode(e.resetCause)).out();
export function decodeBootEvent(p: Uint8Array): BootEvent {
  const r = new Reader(p, 'BOOT event');
  return { bootId: r.u32('boot_id'), resetCause: resetCauseName(r.u8('reset_cause')) };
}
export interface InputEvent {
  levels: number;
  changed: number;
}
export const encodeInputEvent = (e: InputEvent): Uint8Array => new Writer().u16(e.levels).u16(e.changed).out();
export function decodeInputEvent(p: Uint8Array): InputEvent {
  const r = new Reader(p, 'INPUT event');
  return { levels: r.u16('levels'), changed: r.u16('changed') };
}
export interface FaultEvent {
  code: number;
  active: boolean;
  /** Every fault active now, as bits. */
  faults: number;
  /** The reading that raised or cleared it, in milli-units. */
  milli: number;
}
export const encodeFaultEvent = (e: FaultEvent): Uint8Array => new Writer().u8(e.code).u8(e.active ? 1 : 0).u16(e.faults).i32(e.milli).out();
export function decodeFaultEvent(p: Uint8Array): FaultEvent {
  const r = new Reader(p, 'FAULT event');
  return { code: r.u8('code'), active: (r.u8('active') & 1) === 1, faults: r.u16('faults'), milli: r.i32('value') };
}
export const encodeWdtWarn = (remainingMs: number): Uint8Array => new Writer().u32(remainingMs).out();
export const decodeWdtWarn = (p: Uint8Array): number => new Reader(p, 'WDT_WARN event').u32('remaining_ms');
