import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encodeFrame, FrameDecoder, type Frame } from '../protocol/frame.js';
import * as M from '../protocol/messages.js';
import { AnalogKind, Cap, ErrCode, Evt, Fault, PayloadError, Req, type Capability, type ResetCauseName } from '../protocol/messages.js';

/**
 * The microcontroller's side of the protocol, as a firmware engineer would
 * write it, minus the hardware: relays and inputs are bits, sensors are
 * numbers a test can set, the RTC keeps running across resets (battery),
 * and the watchdog "resets the Linux board" by emitting `board-reset`.
 * Bytes come in through `receive()` and leave through the output set with
 * `attach()`; the link (link.ts) adds the serial port and the impairments.
 */
export interface McuOptions {
  relayCount?: number;
  inputCount?: number;
  /** Whether the board has the FM tuner (capability `fm`). */
  fm?: boolean;
  /** The RTC's battery held; false starts as after a battery loss (time 2000-01-01, invalid). */
  rtcValid?: boolean;
  /** RTC time minus system time at start, ms. */
  rtcOffsetMs?: number;
  firmware?: string;
  window?: number;
  /** After a reset the microcontroller ignores the line this long, then sends BOOT. */
  bootDelayMs?: number;
  /** Added before every response (a slow or busy microcontroller). */
  responseDelayMs?: number;
  /** Whether the board has the identify LED (capability `led`). */
  led?: boolean;
}

/** One change of the identify LED, as a logic analyser on its pin would record it. */
export interface LedTransition {
  /** Wall-clock time, ms. */
  atMs: number;
  on: boolean;
}

/** The journal keeps this many LED transitions (a long blink at 100 ms makes 12,000). */
const LED_JOURNAL_MAX = 2000;

export const SIM_INPUTS = ['emergency', 'door', 'amp-fault', 'stop'] as const;
export const SIM_ANALOG = ['current', 'temperature', 'voltage'] as const;
export type SimAnalog = (typeof SIM_ANALOG)[number];

/** Thresholds at which the simulated board raises a fault. */
export const FAULT_LIMITS = { currentMaxMa: 4000, tempMaxMc: 80_000, supplyMinMv: 10_500, supplyMaxMv: 15_000 } as const;

/** Stations the simulated tuner receives, in 10 kHz units, with their strength in dBµV. */
const FM_STATIONS: ReadonlyMap<number, number> = new Map([
  [9950, 58],
  [10270, 41],
  [9110, 33],
]);

const RTC_RESET_MS = Date.UTC(2000, 0, 1);

interface CachedResponse {
  seq: number;
  type: number;
  payload: string;
  response: Uint8Array;
}

export interface McuEvents {
  /** The watchdog expired: a real board would pull the Linux board's reset line now. */
  'board-reset': [{ fired: number }];
  /** A request was handled (type, seq); for observers and the demo. */
  request: [{ type: string; seq: number; duplicate: boolean }];
}

export class McuSimulator extends EventEmitter<McuEvents> {
  readonly relayCount: number;
  readonly inputCount: number;
  private readonly opts: Required<McuOptions>;
  private output: ((bytes: Uint8Array) => void) | null = null;
  private readonly decoder = new FrameDecoder();
  private generation = 0;
  private booting = false;
  private timers = new Set<NodeJS.Timeout>();

  // Volatile state: lost on reset.
  private bootId = 0;
  private resetCause: ResetCauseName = 'power-on';
  private bootAtMono = 0;
  private session = false;
  private cache: CachedResponse[] = [];
  private eventSeq = 0;
  private relays = 0;
  private fmFreq = 9950;
  private fmPlaying = false;
  private wdt = { enabled: false, timeoutMs: 0, warnMs: 0, deadlineMono: 0, fired: 0 };
  private wdtTimers: NodeJS.Timeout[] = [];
  private led = { on: false, untilMono: 0, timer: null as NodeJS.Timeout | null };
  /** Every transition of the identify LED pin, oldest first (bounded). */
  readonly ledJournal: LedTransition[] = [];

  // Field state: survives a reset of the microcontroller.
  private inputs = 0;
  private analogOverride: Partial<Record<SimAnalog, number>> = {};
  private faults = 0;
  private rtc: { baseMs: number; atMono: number; valid: boolean };
  /** Responses delayed (the delay switch); mutable while running. */
  responseDelayMs: number;

  constructor(opts: McuOptions = {}) {
    super();
    this.opts = {
      relayCount: 8,
      inputCount: 4,
      fm: true,
      rtcValid: true,
      rtcOffsetMs: 0,
      firmware: 'loa-sim 1.0.0',
      window: 4,
      bootDelayMs: 30,
      responseDelayMs: 0,
      led: true,
      ...opts,
    };
    if (this.opts.relayCount < 1 || this.opts.relayCount > 16) throw new Error(`relayCount ${this.opts.relayCount}: the protocol carries 1 to 16 relays`);
    if (this.opts.inputCount < 0 || this.opts.inputCount > 16) throw new Error(`inputCount ${this.opts.inputCount}: the protocol carries 0 to 16 inputs`);
    this.relayCount = this.opts.relayCount;
    this.inputCount = this.opts.inputCount;
    this.responseDelayMs = this.opts.responseDelayMs;
    this.rtc = this.opts.rtcValid
      ? { baseMs: Date.now() + this.opts.rtcOffsetMs, atMono: performance.now(), valid: true }
      : { baseMs: RTC_RESET_MS, atMono: performance.now(), valid: false };
    this.boot('power-on', false);
  }

  get capabilities(): Capability[] {
    const caps: Capability[] = ['relays', 'inputs', 'analog', 'rtc', 'watchdog'];
    return [...caps, ...(this.opts.fm ? (['fm'] as const) : []), ...(this.opts.led ? (['led'] as const) : [])];
  }

  /** Where transmitted bytes go; null while the cable is out. */
  attach(output: ((bytes: Uint8Array) => void) | null): void {
    this.output = output;
  }

  receive(chunk: Uint8Array): void {
    if (this.booting) return;
    this.decoder.push(chunk, (f) => this.handle(f));
  }

  /** Writes raw bytes to the line (garbage, half frames). */
  transmitRaw(bytes: Uint8Array): void {
    this.output?.(bytes);
  }

  /** Reboots the microcontroller: relays drop to 0, the session and watchdog are gone, RTC and inputs stay. */
  reset(cause: ResetCauseName = 'software'): void {
    this.boot(cause, true);
  }

  /** Stops every timer (the process is ending). */
  stop(): void {
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.clearWatchdogTimers();
    this.stopLed();
  }

  setInput(channel: number, level: 0 | 1): void {
    if (!Number.isInteger(channel) || channel < 0 || channel >= this.inputCount) throw new Error(`input ${channel} does not exist; the simulator has ${this.inputCount} (0-${this.inputCount - 1})`);
    const before = this.inputs;
    this.inputs = level ? this.inputs | (1 << channel) : this.inputs & ~(1 << channel);
    if (this.inputs !== before) this.event(Evt.INPUT, M.encodeInputEvent({ levels: this.inputs, changed: before ^ this.inputs }));
  }

  /** Overrides a sensor (milli-units: mA, m°C, mV); null returns it to the simulated value. */
  setAnalog(which: SimAnalog, milli: number | null): void {
    if (milli === null) delete this.analogOverride[which];
    else this.analogOverride[which] = milli;
    this.evaluateFaults();
  }

  /** Battery loss: the RTC forgets the time. */
  loseRtc(): void {
    this.rtc = { baseMs: RTC_RESET_MS, atMono: performance.now(), valid: false };
  }

  snapshot(): Record<string, unknown> {
    return {
      bootId: this.bootId,
      session: this.session,
      relays: this.relays,
      inputs: this.inputs,
      faults: M.faultNames(this.faults),
      analog: this.analog().map((a) => ({ channel: a.channel, milli: a.milli })),
      rtc: { valid: this.rtc.valid, iso: new Date(this.rtcNow()).toISOString() },
      watchdog: this.watchdogStatus(),
      fm: this.opts.fm ? this.fmStatus() : null,
      led: this.opts.led ? { ...this.ledStatus(), on: this.led.on, transitions: this.ledJournal.length } : null,
    };
  }

  get relayLevels(): number {
    return this.relays;
  }

  private boot(cause: ResetCauseName, announce: boolean): void {
    this.stop();
    this.bootId = randomInt(1, 0xffffffff);
    this.resetCause = cause;
    this.bootAtMono = performance.now();
    this.session = false;
    this.cache = [];
    this.relays = 0;
    this.fmFreq = 9950;
    this.fmPlaying = false;
    this.wdt = { enabled: false, timeoutMs: 0, warnMs: 0, deadlineMono: 0, fired: 0 };
    this.decoder.reset();
    this.booting = true;
    const gen = this.generation;
    this.later(this.opts.bootDelayMs, gen, () => {
      this.booting = false;
      if (announce || cause === 'power-on') this.event(Evt.BOOT, M.encodeBootEvent({ bootId: this.bootId, resetCause: cause }));
    });
  }

  private later(ms: number, gen: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (gen === this.generation) fn();
    }, ms);
    this.timers.add(t);
  }

  private send(type: number, seq: number, payload: Uint8Array): Uint8Array {
    const bytes = encodeFrame({ type, seq, payload });
    this.output?.(bytes);
    return bytes;
  }

  private event(type: number, payload: Uint8Array): void {
    this.send(type, this.eventSeq, payload);
    this.eventSeq = (this.eventSeq + 1) & 0xff;
  }

  private handle(f: Frame): void {
    if (!M.isRequestType(f.type)) return;
    const key = Buffer.from(f.payload).toString('hex');
    const dup = this.cache.find((c) => c.seq === f.seq && c.type === f.type && c.payload === key);
    const name = M.REQUEST_NAMES[f.type] ?? `0x${f.type.toString(16)}`;
    this.emit('request', { type: name, seq: f.seq, duplicate: dup !== undefined });
    const respond = (type: number, payload: Uint8Array, cacheable: boolean): void => {
      const gen = this.generation;
      const go = (): void => {
        const bytes = this.send(type, f.seq, payload);
        if (!cacheable) return;
        this.cache.push({ seq: f.seq, type: f.type, payload: key, response: bytes });
        if (this.cache.length > this.opts.window) this.cache.shift();
      };
      if (this.responseDelayMs > 0) this.later(this.responseDelayMs, gen, go);
      else go();
    };
    if (dup) {
      // A retry of a request already carried out: answer it again, do not act twice.
      const gen = this.generation;
      const go = (): void => this.output?.(dup.response);
      if (this.responseDelayMs > 0) this.later(this.responseDelayMs, gen, go);
      else go();
      return;
    }
    const err = (code: number): void => respond(M.ERR, M.encodeErr({ requestType: f.type, code }), false);
    if (f.type === Req.HELLO) {
      let hello: M.HelloRequest;
      try {
        hello = M.decodeHelloRequest(f.payload);
      } catch {
        return err(ErrCode.BAD_LENGTH);
      }
      if (M.PROTOCOL_VERSION < hello.minVersion || M.PROTOCOL_VERSION > hello.maxVersion) return err(ErrCode.BAD_VALUE);
      this.session = true;
      this.cache = [];
      return respond(M.responseType(f.type), M.encodeHelloResponse(this.hello()), false);
    }
    if (f.type === Req.PING) return respond(M.responseType(f.type), M.encodeStatus(this.status()), false);
    if (!this.session) return err(ErrCode.NO_SESSION);
    try {
      const out = this.execute(f.type, f.payload);
      if (typeof out === 'number') return err(out);
      respond(M.responseType(f.type), out, true);
    } catch (e) {
      if (e instanceof PayloadError) return err(e.kind === 'length' ? ErrCode.BAD_LENGTH : ErrCode.BAD_VALUE);
      throw e;
    }
  }

  /** Carries out one request; a number is an error code. */
  private execute(type: number, p: Uint8Array): Uint8Array | number {
    const caps = M.capabilityBits(this.capabilities);
    switch (type) {
      case Req.RELAY_SET: {
        const s = M.decodeRelaySet(p);
        if (s.mask >> this.relayCount) return ErrCode.BAD_VALUE;
        this.relays = (this.relays & ~s.mask) | (s.levels & s.mask);
        this.evaluateFaults();
        return M.encodeBitmap(this.relays);
      }
      case Req.RELAY_GET:
        return M.encodeBitmap(this.relays);
      case Req.INPUT_GET:
        return M.encodeBitmap(this.inputs);
      case Req.ANALOG_READ:
        return M.encodeAnalog(this.analog());
      case Req.RTC_GET:
        return M.encodeRtcReading({ valid: this.rtc.valid, ms: this.rtcNow() });
      case Req.RTC_SET: {
        const ms = M.decodeRtcTime(p);
        this.rtc = { baseMs: ms, atMono: performance.now(), valid: true };
        return M.encodeRtcReading({ valid: true, ms: this.rtcNow() });
      }
      case Req.WDT_SET: {
        const s = M.decodeWatchdogSet(p);
        if (s.timeoutMs !== 0 && (s.timeoutMs < M.WATCHDOG_MIN_MS || s.timeoutMs > M.WATCHDOG_MAX_MS || s.warnMs >= s.timeoutMs)) return ErrCode.BAD_VALUE;
        this.wdt = { ...this.wdt, enabled: s.timeoutMs > 0, timeoutMs: s.timeoutMs, warnMs: s.timeoutMs > 0 ? s.warnMs : 0 };
        this.feedWatchdog();
        return M.encodeWatchdogStatus(this.watchdogStatus());
      }
      case Req.WDT_FEED:
        this.feedWatchdog();
        return M.encodeWatchdogStatus(this.watchdogStatus());
      case Req.WDT_GET:
        return M.encodeWatchdogStatus(this.watchdogStatus());
      case Req.FM_TUNE:
      case Req.FM_STATUS:
      case Req.FM_PLAY: {
        if (!(caps & Cap.FM)) return ErrCode.UNSUPPORTED;
        if (type === Req.FM_TUNE) {
          const f = M.decodeFmTune(p);
          if (f < M.FM_MIN_10KHZ || f > M.FM_MAX_10KHZ) return ErrCode.BAD_VALUE;
          this.fmFreq = f;
        }
        if (type === Req.FM_PLAY) this.fmPlaying = M.decodeFmPlay(p);
        return M.encodeFmStatus(this.fmStatus());
      }
      case Req.LED_BLINK: {
        if (!(caps & Cap.LED)) return ErrCode.UNSUPPORTED;
        const b = M.decodeLedBlink(p);
        if (b.durationMs > M.LED_MAX_MS || b.periodMs < M.LED_PERIOD_MIN_MS || b.periodMs > M.LED_PERIOD_MAX_MS) return ErrCode.BAD_VALUE;
        this.blink(b);
        return M.encodeLedStatus(this.ledStatus());
      }
      default:
        return ErrCode.UNKNOWN_TYPE;
    }
  }

  /** Toggles the LED every half period until the deadline, then leaves it off. */
  private blink(b: M.LedBlink): void {
    this.stopLed();
    if (b.durationMs === 0) return;
    this.led.untilMono = performance.now() + b.durationMs;
    const step = (): void => {
      if (performance.now() >= this.led.untilMono) return this.stopLed();
      this.setLed(!this.led.on);
      this.led.timer = setTimeout(step, b.periodMs / 2);
    };
    step();
  }

  private stopLed(): void {
    if (this.led.timer) clearTimeout(this.led.timer);
    this.led.timer = null;
    this.led.untilMono = 0;
    this.setLed(false);
  }

  private setLed(on: boolean): void {
    if (this.led.on === on) return;
    this.led.on = on;
    this.ledJournal.push({ atMs: Date.now(), on });
    if (this.ledJournal.length > LED_JOURNAL_MAX) this.ledJournal.shift();
  }

  private ledStatus(): M.LedStatus {
    const remaining = Math.max(0, Math.round(this.led.untilMono - performance.now()));
    return { blinking: this.led.timer !== null && remaining > 0, remainingMs: this.led.timer ? remaining : 0 };
  }

  private hello(): M.HelloInfo {
    return {
      version: M.PROTOCOL_VERSION,
      bootId: this.bootId,
      resetCause: this.resetCause,
      capabilities: this.capabilities,
      relayCount: this.relayCount,
      inputCount: this.inputCount,
      analogCount: SIM_ANALOG.length,
      window: this.opts.window,
      firmware: this.opts.firmware,
    };
  }

  private status(): M.McuStatus {
    const w = this.watchdogStatus();
    return {
      bootId: this.bootId,
      uptimeMs: Math.floor(performance.now() - this.bootAtMono) >>> 0,
      relays: this.relays,
      inputs: this.inputs,
      faults: this.faults,
      watchdogEnabled: w.enabled,
      watchdogRemainingMs: w.remainingMs,
    };
  }

  private rtcNow(): number {
    return Math.floor(this.rtc.baseMs + (performance.now() - this.rtc.atMono));
  }

  /** Amplifier current follows relay 0 (the amplifier's power) unless a test overrides it. */
  private analog(): M.AnalogRaw[] {
    const o = this.analogOverride;
    return [
      { channel: 0, kind: AnalogKind.CURRENT_MA, milli: o.current ?? (this.relays & 1 ? 1800 : 40) },
      { channel: 1, kind: AnalogKind.TEMPERATURE_MC, milli: o.temperature ?? 34_500 },
      { channel: 2, kind: AnalogKind.VOLTAGE_MV, milli: o.voltage ?? 12_100 },
    ];
  }

  private evaluateFaults(): void {
    const [cur, temp, volt] = this.analog().map((a) => a.milli) as [number, number, number];
    const checks: Array<[number, boolean, number]> = [
      [Fault.AMP_OVERCURRENT, cur > FAULT_LIMITS.currentMaxMa, cur],
      [Fault.AMP_OVERTEMP, temp > FAULT_LIMITS.tempMaxMc, temp],
      [Fault.SUPPLY_LOW, volt < FAULT_LIMITS.supplyMinMv, volt],
      [Fault.SUPPLY_HIGH, volt > FAULT_LIMITS.supplyMaxMv, volt],
    ];
    for (const [code, active, milli] of checks) {
      const bit = 1 << code;
      if (active === Boolean(this.faults & bit)) continue;
      this.faults = active ? this.faults | bit : this.faults & ~bit;
      this.event(Evt.FAULT, M.encodeFaultEvent({ code, active, faults: this.faults, milli }));
    }
  }

  private watchdogStatus(): M.WatchdogStatus {
    const remaining = this.wdt.enabled ? Math.max(0, Math.round(this.wdt.deadlineMono - performance.now())) : 0;
    return { enabled: this.wdt.enabled, timeoutMs: this.wdt.timeoutMs, warnMs: this.wdt.warnMs, remainingMs: remaining, fired: this.wdt.fired };
  }

  private clearWatchdogTimers(): void {
    for (const t of this.wdtTimers) clearTimeout(t);
    this.wdtTimers = [];
  }

  private feedWatchdog(): void {
    this.clearWatchdogTimers();
    if (!this.wdt.enabled) return;
    this.wdt.deadlineMono = performance.now() + this.wdt.timeoutMs;
    const gen = this.generation;
    if (this.wdt.warnMs > 0) {
      this.wdtTimers.push(
        setTimeout(() => {
          if (gen === this.generation) this.event(Evt.WDT_WARN, M.encodeWdtWarn(this.wdt.warnMs));
        }, this.wdt.timeoutMs - this.wdt.warnMs),
      );
    }
    this.wdtTimers.push(
      setTimeout(() => {
        if (gen !== this.generation) return;
        // The Linux board reboots; its agent enables the watchdog again once it runs.
        this.wdt = { ...this.wdt, enabled: false, fired: this.wdt.fired + 1 };
        this.emit('board-reset', { fired: this.wdt.fired });
      }, this.wdt.timeoutMs),
    );
  }

  private fmStatus(): M.FmStatus {
    const rssi = FM_STATIONS.get(this.fmFreq) ?? 6;
    return { mhz: this.fmFreq / 100, rssiDbuv: rssi, tuned: rssi >= 20, stereo: rssi >= 40, playing: this.fmPlaying };
  }
}
