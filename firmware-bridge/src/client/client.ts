import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { SerialPort } from 'serialport';
import { Backoff, sleep } from '../../../agent/src/lib/backoff.js';
import type { Logger } from '../../../agent/src/lib/logger.js';
import { encodeFrame, FrameDecoder, type DecoderStats, type Frame } from '../protocol/frame.js';
import * as M from '../protocol/messages.js';
import { ERR, ErrCode, Evt, PROTOCOL_VERSION, Req, type Capability, type HelloInfo, type McuStatus, type ResetCauseName } from '../protocol/messages.js';
import { attemptsFor, FRESH_LINE, LINE_BOUNDS, timeoutFor, withOutcome, withRoundTrip, type LineBounds, type LineEstimate } from './line-model.js';
import { describeSerialPath } from './serial-path.js';

/**
 * The host's end of the firmware bridge: one serial line to the station's
 * I/O microcontroller.
 *
 * States: closed → opening (open the port, HELLO, reconcile) → open →
 * (link lost) → opening ... → closing → closed. It reopens by itself with
 * backoff and never needs the agent restarted.
 *
 * Invariants:
 * - The client remembers the relay levels its caller asked for (`desired`).
 *   After every (re)connection and every microcontroller reset it reads the
 *   relays back and drives any that differ, before the state is `open` again,
 *   so no relay stays in a state nobody chose.
 * - A link is declared lost on the port's close event, and also when no byte
 *   has arrived for `deadAfterMs` (heartbeat PINGs keep a healthy line busy):
 *   a pty or USB adapter can go silent without ever closing.
 * - Requests are matched to responses by sequence number; a retry resends the
 *   same bytes with the same number, and the microcontroller answers a
 *   duplicate from its cache, so a retried request never acts twice.
 */
export type BridgeState = 'closed' | 'opening' | 'open' | 'closing';

export interface BridgeClientOptions {
  /** Prefer /dev/serial/by-id/...; any tty path works. */
  path: string;
  log: Logger;
  baudRate?: number;
  /** Per attempt, until round trips have been measured; then timeouts follow the line. */
  requestTimeoutMs?: number;
  /** Extra attempts after the first, at least; a line that loses frames gets more. */
  retries?: number;
  /** A PING is sent when the line has been quiet this long. */
  heartbeatMs?: number;
  /** The link is declared lost after this long without a byte. */
  deadAfterMs?: number;
  reconnect?: { initialMs: number; maxMs: number };
  random?: () => number;
}

export interface InputChange {
  levels: number;
  changed: number;
}
export interface FaultChange {
  code: number;
  name: string;
  active: boolean;
  faults: string[];
  value: number;
}
export interface RelayFix {
  channel: number;
  found: 0 | 1;
  driven: 0 | 1;
}

export interface BridgeEvents {
  state: [BridgeState];
  open: [HelloInfo];
  input: [InputChange];
  fault: [FaultChange];
  'watchdog-warning': [{ remainingMs: number }];
  reset: [{ bootId: number; cause: ResetCauseName }];
  reconciled: [{ relays: RelayFix[] }];
  'link-lost': [{ reason: string }];
}

export class BridgeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class NotConnectedError extends BridgeError {}
export class RequestTimeoutError extends BridgeError {}
export class LinkLostError extends BridgeError {}
export class McuRefusedError extends BridgeError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export interface BridgeStats {
  decoder: DecoderStats;
  requests: number;
  retries: number;
  timeouts: number;
  /** Responses for no pending request (late after a timeout, or from before a reset). */
  stale: number;
  connects: number;
  linkLosses: number;
  mcuResets: number;
  eventGaps: number;
}

interface Pending {
  type: number;
  seq: number;
  bytes: Uint8Array;
  attempts: number;
  maxAttempts: number;
  /** A fixed timeout per attempt (the heartbeat's); otherwise it follows the line. */
  fixedTimeoutMs: number | null;
  timeoutMs: number;
  timer: NodeJS.Timeout | null;
  sentAt: number;
  firstSentAt: number;
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
}

interface Connection {
  port: SerialPort;
  device: string;
  lost: Promise<string>;
  markLost: (reason: string) => void;
  isLost: boolean;
}

interface TransactOptions {
  /** A fixed number of extra attempts, instead of what the line needs. */
  retries?: number;
  timeoutMs?: number;
  attempts?: Partial<Pick<LineBounds, 'minAttempts' | 'maxAttempts'>>;
}

function fixesOf(wrong: number, found: number, after: number): RelayFix[] {
  const fixes: RelayFix[] = [];
  for (let ch = 0; ch < 16; ch++) {
    if (wrong & (1 << ch)) fixes.push({ channel: ch, found: ((found >> ch) & 1) as 0 | 1, driven: ((after >> ch) & 1) as 0 | 1 });
  }
  return fixes;
}

/** The least time a request is retried for, whatever the attempt count (the old fixed 3 x 250 ms). */
const MIN_PATIENCE_MS = 750;

/**
 * Opening has nothing else to do, and HELLO's long answer is the frame most
 * likely to be hit by noise: the handshake keeps trying (a silent line is
 * still cut off after `deadAfterMs`).
 */
const HANDSHAKE_ATTEMPTS = 400;

export class BridgeClient extends EventEmitter<BridgeEvents> {
  readonly stats: BridgeStats;
  private readonly o: Required<Omit<BridgeClientOptions, 'random'>> & { random?: () => number };
  private readonly log: Logger;
  private readonly decoder = new FrameDecoder();
  private _state: BridgeState = 'closed';
  private conn: Connection | null = null;
  private hello: HelloInfo | null = null;
  private lastError: string | null = null;
  private loop: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private pinging = false;
  private lastRxMono = 0;
  private nextSeq = 1;
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting: Array<() => void> = [];
  private lastEventSeq: number | null = null;
  private resync: Promise<void> | null = null;
  private inputs: number | null = null;
  private faults = 0;
  private desiredMask = 0;
  private desiredLevels = 0;
  private desiredWatchdog: M.WatchdogSet | null = null;
  private desiredFm: { tenKhz: number | null; playing: boolean | null } = { tenKhz: null, playing: null };
  private line: LineEstimate = FRESH_LINE;
  private readonly bounds: LineBounds;
  private relayCheck: Promise<void> | null = null;

  constructor(opts: BridgeClientOptions) {
    super();
    this.o = {
      baudRate: 115200,
      requestTimeoutMs: 100,
      retries: 2,
      heartbeatMs: 1000,
      deadAfterMs: 3500,
      reconnect: { initialMs: 250, maxMs: 10_000 },
      ...opts,
    };
    if (this.o.deadAfterMs <= this.o.heartbeatMs) throw new Error(`bridge deadAfterMs (${this.o.deadAfterMs}) must exceed heartbeatMs (${this.o.heartbeatMs})`);
    this.log = opts.log.child({ bridge: opts.path });
    this.stats = { decoder: this.decoder.stats, requests: 0, retries: 0, timeouts: 0, stale: 0, connects: 0, linkLosses: 0, mcuResets: 0, eventGaps: 0 };
    this.bounds = { ...LINE_BOUNDS, initialTimeoutMs: this.o.requestTimeoutMs, minAttempts: 1 + this.o.retries };
  }

  /** What the client has learnt about the line: round trip, and the share of attempts answered. */
  get lineEstimate(): LineEstimate {
    return this.line;
  }

  get state(): BridgeState {
    return this._state;
  }

  get path(): string {
    return this.o.path;
  }

  /** What the microcontroller said at the last handshake. */
  get info(): HelloInfo | null {
    return this.hello;
  }

  /** The last digital input levels seen (events, PINGs, reads), or null before any. */
  get inputLevels(): number | null {
    return this.inputs;
  }

  get activeFaults(): string[] {
    return M.faultNames(this.faults);
  }

  /** The relay levels the caller asked for, as mask (which were set) and levels. */
  get desiredRelays(): { mask: number; levels: number } {
    return { mask: this.desiredMask, levels: this.desiredLevels };
  }

  get error(): string | null {
    return this.lastError;
  }

  get device(): string | null {
    return this.conn?.device ?? null;
  }

  has(cap: Capability): boolean {
    return this.hello?.capabilities.includes(cap) ?? false;
  }

  /** Starts connecting in the background (idempotent); the client keeps reconnecting until `close()`. */
  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Starts, and waits until the link is open (the background loop keeps trying after a timeout). */
  async open(timeoutMs = 10_000): Promise<HelloInfo> {
    this.start();
    return this.whenOpen(timeoutMs);
  }

  whenOpen(timeoutMs: number): Promise<HelloInfo> {
    if (this._state === 'open' && this.hello) return Promise.resolve(this.hello);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('open', onOpen);
        reject(new NotConnectedError(`firmware bridge on ${this.o.path} did not open within ${timeoutMs} ms${this.lastError ? `: ${this.lastError}` : ''}`));
      }, timeoutMs);
      const onOpen = (h: HelloInfo): void => {
        clearTimeout(timer);
        resolve(h);
      };
      this.once('open', onOpen);
    });
  }

  /** Stops reconnecting and closes the port. Relay levels stay as they are on the microcontroller. */
  async close(): Promise<void> {
    if (!this.loop) return;
    this.setState('closing');
    this.abort?.abort(new LinkLostError('bridge closed'));
    this.conn?.markLost('closed by the agent');
    await this.loop;
    this.loop = null;
  }

  // ---- Requests ----

  status(): Promise<McuStatus> {
    return this.call(Req.PING, new Uint8Array(0)).then((p) => {
      const s = M.decodeStatus(p);
      this.absorbStatus(s);
      return s;
    });
  }

  async readRelays(): Promise<number> {
    this.need('relays');
    return M.decodeBitmap(await this.call(Req.RELAY_GET, new Uint8Array(0)), 'RELAY_GET response');
  }

  /** Records levels for the relays in `mask` without sending them: they are applied at the next (re)connection. */
  setDesiredRelays(mask: number, levels: number): void {
    if (!Number.isInteger(mask) || mask < 0 || mask > 0xffff) throw new BridgeError(`relay mask 0x${mask.toString(16)} is not a 16-bit mask`);
    this.desiredMask |= mask;
    this.desiredLevels = (this.desiredLevels & ~mask) | (levels & mask);
  }

  /** Drives the relays in `mask` to the bits of `levels`; returns every relay's level read back. */
  async setRelays(mask: number, levels: number): Promise<number> {
    const count = this.hello?.relayCount ?? 16;
    if (!Number.isInteger(mask) || mask < 0 || mask >> count) throw new BridgeError(`relay mask 0x${mask.toString(16)} names channels the microcontroller lacks (it has ${count}: 0-${count - 1})`);
    // Remembered before sending: whatever happens on the line, this is the level to restore.
    this.setDesiredRelays(mask, levels);
    this.need('relays');
    let readback: number;
    try {
      readback = M.decodeBitmap(await this.call(Req.RELAY_SET, M.encodeRelaySet({ mask, levels: levels & mask })), 'RELAY_SET response');
    } catch (err) {
      if (!(err instanceof RequestTimeoutError)) throw err;
      // The write may or may not have reached the microcontroller: ask it now, not at the next reconnect.
      readback = await this.reconcileRelays(err.message);
    }
    if ((readback ^ levels) & mask) throw new BridgeError(`relays did not take their levels: asked 0x${(levels & mask).toString(16)} on mask 0x${mask.toString(16)}, read back 0x${readback.toString(16)}`);
    return readback;
  }

  /**
   * Reads the relays back and drives any that differ from what the caller
   * asked for; returns the levels read. If the line will not say, keeps
   * checking in the background until it does (or the link is reopened,
   * which reconciles anyway), and rejects.
   */
  private async reconcileRelays(why: string): Promise<number> {
    try {
      for (let round = 0; round < 3; round++) {
        const pass = await this.relayPass(why);
        if (pass.agree) return pass.levels;
      }
      throw new BridgeError(`relays on ${this.o.path} did not take their levels after three reads and writes`);
    } catch (err) {
      this.checkRelaysInBackground(why);
      throw err;
    }
  }

  private checkRelaysInBackground(why: string): void {
    if (this.relayCheck) return;
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000, random: this.o.random });
    this.relayCheck = (async () => {
      while (this._state === 'open') {
        await sleep(backoff.next(), this.abort?.signal).catch(() => undefined);
        if (this._state !== 'open') return;
        if ((await this.relayPass(why).catch(() => null))?.agree) return;
      }
    })().finally(() => (this.relayCheck = null));
  }

  /** One look after a failed write: read the relays, drive those that differ from what the agent set; `agree` once they match. */
  private async relayPass(why: string): Promise<{ agree: boolean; levels: number }> {
    const found = M.decodeBitmap(await this.call(Req.RELAY_GET, new Uint8Array(0)), 'RELAY_GET response');
    const wrong = this.desiredMask & (found ^ this.desiredLevels);
    if (!wrong) {
      this.log.info({ why, levels: found }, 'relays read back after a failed write: they agree');
      this.emit('reconciled', { relays: [] });
      return { agree: true, levels: found };
    }
    const after = M.decodeBitmap(await this.call(Req.RELAY_SET, M.encodeRelaySet({ mask: wrong, levels: this.desiredLevels & wrong })), 'RELAY_SET response');
    const fixes = fixesOf(wrong, found, after);
    this.log.warn({ why, relays: fixes }, 'relays differed from what the agent set after a failed write: driven again');
    this.emit('reconciled', { relays: fixes });
    return { agree: !((after ^ this.desiredLevels) & this.desiredMask), levels: after };
  }

  setRelay(channel: number, level: 0 | 1): Promise<number> {
    if (!Number.isInteger(channel) || channel < 0 || channel > 15) return Promise.reject(new BridgeError(`relay channel ${channel} is not 0-15`));
    return this.setRelays(1 << channel, level << channel);
  }

  async readInputs(): Promise<number> {
    this.need('inputs');
    const levels = M.decodeBitmap(await this.call(Req.INPUT_GET, new Uint8Array(0)), 'INPUT_GET response');
    this.absorbInputs(levels);
    return levels;
  }

  async readAnalog(): Promise<M.AnalogReading[]> {
    this.need('analog');
    return M.decodeAnalog(await this.call(Req.ANALOG_READ, new Uint8Array(0)));
  }

  async readRtc(): Promise<M.RtcReading> {
    this.need('rtc');
    return M.decodeRtcReading(await this.call(Req.RTC_GET, new Uint8Array(0)));
  }

  async setRtc(ms: number): Promise<M.RtcReading> {
    this.need('rtc');
    return M.decodeRtcReading(await this.call(Req.RTC_SET, M.encodeRtcTime(ms)));
  }

  /** Enables the hardware watchdog: unless fed within `timeoutMs`, the microcontroller resets the Linux board. */
  async enableWatchdog(timeoutMs: number, warnMs = Math.floor(timeoutMs / 4)): Promise<M.WatchdogStatus> {
    const set = { timeoutMs, warnMs };
    const payload = M.encodeWatchdogSet(set);
    this.need('watchdog');
    this.desiredWatchdog = set;
    return M.decodeWatchdogStatus(await this.call(Req.WDT_SET, payload));
  }

  async disableWatchdog(): Promise<M.WatchdogStatus> {
    this.need('watchdog');
    this.desiredWatchdog = null;
    return M.decodeWatchdogStatus(await this.call(Req.WDT_SET, M.encodeWatchdogSet({ timeoutMs: 0, warnMs: 0 })));
  }

  /** Call from the agent's main loop, only when it made progress. */
  async feedWatchdog(): Promise<M.WatchdogStatus> {
    this.need('watchdog');
    return M.decodeWatchdogStatus(await this.call(Req.WDT_FEED, new Uint8Array(0)));
  }

  async watchdogStatus(): Promise<M.WatchdogStatus> {
    this.need('watchdog');
    return M.decodeWatchdogStatus(await this.call(Req.WDT_GET, new Uint8Array(0)));
  }

  async fmTune(mhz: number): Promise<M.FmStatus> {
    const tenKhz = Math.round(mhz * 100);
    const payload = M.encodeFmTune(tenKhz);
    this.need('fm');
    this.desiredFm.tenKhz = tenKhz;
    return M.decodeFmStatus(await this.call(Req.FM_TUNE, payload));
  }

  async fmStatus(): Promise<M.FmStatus> {
    this.need('fm');
    return M.decodeFmStatus(await this.call(Req.FM_STATUS, new Uint8Array(0)));
  }

  /** Routes the tuner to the amplifier (the fallback source) or away from it. */
  async fmPlay(on: boolean): Promise<M.FmStatus> {
    this.need('fm');
    this.desiredFm.playing = on;
    return M.decodeFmStatus(await this.call(Req.FM_PLAY, M.encodeFmPlay(on)));
  }

  /** Blinks the board's identify LED for `durationMs` (0 stops it), one on-off cycle per `periodMs`. */
  async blinkLed(durationMs: number, periodMs = 500): Promise<M.LedStatus> {
    const payload = M.encodeLedBlink({ durationMs, periodMs });
    this.need('led');
    return M.decodeLedStatus(await this.call(Req.LED_BLINK, payload));
  }

  private need(cap: Capability): void {
    if (this.hello && !this.has(cap)) throw new McuRefusedError(`the microcontroller on ${this.o.path} (${this.hello.firmware}) has no ${cap} capability`, ErrCode.UNSUPPORTED);
  }

  /** A request from the caller: only while open; waits out a re-handshake after a microcontroller reset. */
  private async call(type: number, payload: Uint8Array): Promise<Uint8Array> {
    if (this._state !== 'open') throw new NotConnectedError(`firmware bridge on ${this.o.path} is not connected (${this._state}${this.lastError ? `: ${this.lastError}` : ''})`);
    if (this.resync) await this.resync;
    try {
      return await this.exchange(type, payload);
    } catch (err) {
      if (!(err instanceof McuRefusedError) || err.code !== ErrCode.NO_SESSION) throw err;
      // The microcontroller rebooted and forgot the session: handshake, reconcile, then try once more.
      await this.onMcuReset(null, 'unknown');
      return this.exchange(type, payload);
    }
  }

  /** One request and its response payload; ERR responses become McuRefusedError. */
  private async exchange(type: number, payload: Uint8Array, opts: TransactOptions = {}): Promise<Uint8Array> {
    const f = await this.transact(type, payload, opts);
    if (f.type === ERR) {
      const e = M.decodeErr(f.payload);
      const name = M.ERR_NAMES[e.code] ?? `code ${e.code}`;
      throw new McuRefusedError(`the microcontroller refused ${M.REQUEST_NAMES[type] ?? type}: ${name}`, e.code);
    }
    return f.payload;
  }

  private async transact(type: number, payload: Uint8Array, opts: TransactOptions): Promise<Frame> {
    const conn = this.conn;
    if (!conn || conn.isLost) throw new NotConnectedError(`firmware bridge on ${this.o.path} is not connected`);
    while (this.inFlight.size >= (this.hello?.window ?? 1)) await new Promise<void>((r) => this.waiting.push(r));
    if (conn !== this.conn || conn.isLost) throw new LinkLostError(`link to ${this.o.path} lost before the request was sent`);
    let seq = this.nextSeq;
    while (this.inFlight.has(seq)) seq = (seq % 255) + 1;
    this.nextSeq = (seq % 255) + 1;
    this.stats.requests++;
    return new Promise<Frame>((resolve, reject) => {
      const p: Pending = {
        type,
        seq,
        bytes: encodeFrame({ type, seq, payload }),
        attempts: 0,
        maxAttempts: opts.retries !== undefined ? 1 + opts.retries : attemptsFor(this.line, { ...this.bounds, ...opts.attempts }),
        fixedTimeoutMs: opts.timeoutMs ?? null,
        timeoutMs: 0,
        timer: null,
        sentAt: 0,
        firstSentAt: 0,
        resolve,
        reject,
      };
      this.inFlight.set(seq, p);
      this.send(p);
    });
  }

  private send(p: Pending): void {
    p.attempts++;
    p.sentAt = performance.now();
    if (p.attempts === 1) p.firstSentAt = p.sentAt;
    p.timeoutMs = p.fixedTimeoutMs ?? timeoutFor(this.line, p.attempts, this.bounds);
    this.conn?.port.write(Buffer.from(p.bytes));
    p.timer = setTimeout(() => {
      // Quick retries, but never less patience in all than a loaded host or a USB adapter's latency can need.
      if (p.attempts < p.maxAttempts || (p.fixedTimeoutMs === null && performance.now() - p.firstSentAt < MIN_PATIENCE_MS)) {
        this.stats.retries++;
        this.send(p);
        return;
      }
      this.stats.timeouts++;
      this.line = withOutcome(this.line, p.attempts, false);
      this.finish(p);
      p.reject(new RequestTimeoutError(`no answer to ${M.REQUEST_NAMES[p.type] ?? p.type} (seq ${p.seq}) from ${this.o.path} after ${p.attempts} attempts (the last waited ${p.timeoutMs} ms)`));
    }, p.timeoutMs);
  }

  private finish(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    this.inFlight.delete(p.seq);
    this.waiting.shift()?.();
  }

  // ---- Receiving ----

  private onData(chunk: Buffer): void {
    this.lastRxMono = performance.now();
    this.decoder.push(chunk, (f) => this.onFrame(f));
  }

  private onFrame(f: Frame): void {
    if (M.isEventType(f.type)) return this.onEvent(f);
    if (!M.isResponseType(f.type)) return;
    const p = this.inFlight.get(f.seq);
    const answers = p && (f.type === M.responseType(p.type) || (f.type === ERR && f.payload[0] === p.type));
    if (!p || !answers) {
      this.stats.stale++;
      return;
    }
    if (p.attempts === 1) this.line = withRoundTrip(this.line, performance.now() - p.sentAt);
    this.line = withOutcome(this.line, p.attempts, true);
    this.finish(p);
    p.resolve(f);
  }

  private onEvent(f: Frame): void {
    try {
      if (f.type === Evt.BOOT) {
        const e = M.decodeBootEvent(f.payload);
        this.lastEventSeq = f.seq;
        if (this._state === 'open' && this.hello && e.bootId !== this.hello.bootId) void this.onMcuReset(e.bootId, e.resetCause).catch(() => undefined);
        return;
      }
      if (this.lastEventSeq !== null && f.seq !== ((this.lastEventSeq + 1) & 0xff)) {
        // Events were lost on the line: PING carries inputs and faults, so one catches up.
        this.stats.eventGaps++;
        if (this._state === 'open') void this.status().catch(() => undefined);
      }
      this.lastEventSeq = f.seq;
      switch (f.type) {
        case Evt.INPUT:
          this.absorbInputs(M.decodeInputEvent(f.payload).levels);
          break;
        case Evt.FAULT: {
          const e = M.decodeFaultEvent(f.payload);
          this.faults = e.faults;
          const change: FaultChange = { code: e.code, name: M.faultName(e.code), active: e.active, faults: M.faultNames(e.faults), value: e.milli / 1000 };
          this.log[e.active ? 'warn' : 'info'](change, e.active ? 'microcontroller reports a fault' : 'microcontroller fault cleared');
          this.emit('fault', change);
          break;
        }
        case Evt.WDT_WARN: {
          const remainingMs = M.decodeWdtWarn(f.payload);
          this.log.warn({ remainingMs }, 'hardware watchdog about to reset the board: the main loop has not fed it');
          this.emit('watchdog-warning', { remainingMs });
          break;
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, type: f.type }, 'unreadable event from the microcontroller');
    }
  }

  private absorbInputs(levels: number): void {
    const before = this.inputs;
    this.inputs = levels;
    if (before === levels) return;
    const changed = before === null ? levels : before ^ levels;
    this.log.info({ levels, changed }, 'digital inputs changed');
    this.emit('input', { levels, changed });
  }

  private absorbStatus(s: McuStatus): void {
    if (this._state === 'open' && this.hello && s.bootId !== this.hello.bootId) void this.onMcuReset(s.bootId, 'unknown').catch(() => undefined);
    this.absorbInputs(s.inputs);
    if (s.faults !== this.faults) {
      this.faults = s.faults;
      this.log.warn({ faults: M.faultNames(s.faults) }, 'microcontroller faults changed');
    }
  }

  /** The microcontroller rebooted: new session, then put relays, watchdog and tuner back. Single-flight. */
  private onMcuReset(bootId: number | null, cause: ResetCauseName): Promise<void> {
    if (this.resync) return this.resync;
    const conn = this.conn;
    this.stats.mcuResets++;
    this.log.warn({ bootId, cause }, 'microcontroller reset: handshaking and restoring relay state');
    this.emit('reset', { bootId: bootId ?? 0, cause });
    this.resync = (async () => {
      try {
        await this.handshake();
        await this.reconcile();
      } catch (err) {
        conn?.markLost(`could not restore the session after a microcontroller reset: ${(err as Error).message}`);
        throw err;
      } finally {
        this.resync = null;
      }
    })();
    return this.resync;
  }

  // ---- Connection ----

  private setState(s: BridgeState): void {
    if (s === this._state) return;
    this._state = s;
    this.log.info({ state: s }, `firmware bridge ${s}`);
    this.emit('state', s);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ ...this.o.reconnect, random: this.o.random });
    const aborted = new Promise<string>((resolve) => signal.addEventListener('abort', () => resolve('closed by the agent'), { once: true }));
    let heardBytes = 0;
    while (!signal.aborted) {
      this.setState('opening');
      try {
        const conn = await this.connect();
        if (signal.aborted) throw new LinkLostError('bridge closed while opening');
        backoff.reset();
        this.lastError = null;
        this.stats.connects++;
        this.setState('open');
        this.emit('open', this.hello!);
        const reason = await Promise.race([conn.lost, aborted]);
        if (!signal.aborted) {
          this.stats.linkLosses++;
          this.lastError = reason;
          this.setState('opening');
          this.log.warn({ reason }, 'firmware bridge link lost: reopening');
          this.emit('link-lost', { reason });
        }
      } catch (err) {
        const msg = (err as Error).message;
        if (!signal.aborted) {
          // Log edges, not every retry: the same failure repeating is one line.
          if (msg !== this.lastError) this.log.warn({ err: msg }, 'firmware bridge could not open');
          this.lastError = msg;
        }
      }
      const heardBack = this.decoder.stats.frames + Object.values(this.decoder.stats.errors).reduce((a, b) => a + b, 0) > heardBytes;
      heardBytes = this.decoder.stats.frames + Object.values(this.decoder.stats.errors).reduce((a, b) => a + b, 0);
      await this.teardown();
      if (signal.aborted) break;
      // A microcontroller that answered, if garbled, is there: try again at once rather than backing off further.
      if (heardBack) backoff.reset();
      await sleep(backoff.next(), signal).catch(() => undefined);
    }
    this.setState('closed');
  }

  private async connect(): Promise<Connection> {
    const where = await describeSerialPath(this.o.path);
    if (where.stableAlias && this.stats.connects === 0) this.log.info({ stableAlias: where.stableAlias }, 'configured serial path is not stable across replugs; prefer the /dev/serial/by-id name');
    const port = new SerialPort({ path: this.o.path, baudRate: this.o.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open ${this.o.path}: ${err.message}`)) : resolve())));
    let markLost!: (reason: string) => void;
    const conn: Connection = { port, device: where.device, lost: new Promise<string>((r) => (markLost = r)), markLost: () => undefined, isLost: false };
    conn.markLost = (reason) => {
      if (conn.isLost) return;
      conn.isLost = true;
      this.failPending(new LinkLostError(`link to ${this.o.path} lost: ${reason}`));
      markLost(reason);
    };
    this.conn = conn;
    port.on('data', (d: Buffer) => this.onData(d));
    port.on('close', () => conn.markLost('serial port closed (unplugged?)'));
    port.on('error', (err) => conn.markLost(`serial port error: ${err.message}`));
    // Bytes queued in the pty or adapter before we opened belong to nobody.
    await new Promise<void>((resolve) => port.flush(() => resolve()));
    this.decoder.reset();
    this.lastRxMono = performance.now();
    this.startHeartbeat(conn);
    await this.handshake();
    await this.reconcile();
    if (conn.isLost) throw new LinkLostError(`link to ${this.o.path} lost while opening`);
    return conn;
  }

  private async handshake(): Promise<void> {
    let f: Uint8Array;
    try {
      f = await this.exchange(Req.HELLO, M.encodeHelloRequest({ minVersion: PROTOCOL_VERSION, maxVersion: PROTOCOL_VERSION }), { attempts: { minAttempts: HANDSHAKE_ATTEMPTS, maxAttempts: HANDSHAKE_ATTEMPTS } });
    } catch (err) {
      if (err instanceof McuRefusedError && err.code === ErrCode.BAD_VALUE) {
        throw new BridgeError(`the microcontroller on ${this.o.path} does not speak protocol version ${PROTOCOL_VERSION}; update its firmware or the agent`);
      }
      throw err;
    }
    const h = M.decodeHelloResponse(f);
    if (h.version !== PROTOCOL_VERSION) throw new BridgeError(`the microcontroller on ${this.o.path} answered with protocol version ${h.version}, not ${PROTOCOL_VERSION}`);
    const first = this.hello === null;
    if (first || this.hello!.bootId !== h.bootId || this.hello!.firmware !== h.firmware) {
      this.log.info({ firmware: h.firmware, bootId: h.bootId, resetCause: h.resetCause, capabilities: h.capabilities, relays: h.relayCount, inputs: h.inputCount }, 'microcontroller handshake');
    }
    this.hello = h;
    this.lastEventSeq = null;
  }

  /** Reads back what the microcontroller has and drives it to what the agent wants. */
  private async reconcile(): Promise<void> {
    const s = M.decodeStatus(await this.exchange(Req.PING, new Uint8Array(0)));
    this.absorbStatus(s);
    if (this.has('relays')) {
      const found = M.decodeBitmap(await this.exchange(Req.RELAY_GET, new Uint8Array(0)), 'RELAY_GET response');
      const wrong = this.desiredMask & (found ^ this.desiredLevels);
      if (wrong) {
        const after = M.decodeBitmap(await this.exchange(Req.RELAY_SET, M.encodeRelaySet({ mask: wrong, levels: this.desiredLevels & wrong })), 'RELAY_SET response');
        const fixes = fixesOf(wrong, found, after);
        if ((after ^ this.desiredLevels) & this.desiredMask) throw new BridgeError(`relays did not take their levels while reconciling: want 0x${this.desiredLevels.toString(16)}, read 0x${after.toString(16)}`);
        this.log.warn({ relays: fixes }, 'relays differed from what the agent set: driven back');
        this.emit('reconciled', { relays: fixes });
      } else {
        this.emit('reconciled', { relays: [] });
      }
    }
    if (this.has('watchdog') && this.desiredWatchdog) await this.exchange(Req.WDT_SET, M.encodeWatchdogSet(this.desiredWatchdog));
    if (this.has('fm')) {
      if (this.desiredFm.tenKhz !== null) await this.exchange(Req.FM_TUNE, M.encodeFmTune(this.desiredFm.tenKhz));
      if (this.desiredFm.playing !== null) await this.exchange(Req.FM_PLAY, M.encodeFmPlay(this.desiredFm.playing));
    }
  }

  private startHeartbeat(conn: Connection): void {
    this.stopHeartbeat();
    const tick = Math.max(20, Math.floor(this.o.heartbeatMs / 4));
    this.heartbeat = setInterval(() => {
      if (conn.isLost) return this.stopHeartbeat();
      const quiet = performance.now() - this.lastRxMono;
      if (quiet >= this.o.deadAfterMs) {
        conn.markLost(`no byte from the microcontroller for ${Math.round(quiet)} ms`);
        return;
      }
      if (quiet < this.o.heartbeatMs || this.pinging || this.resync) return;
      this.pinging = true;
      // Retried like any request: on a noisy line a lost PING must not leave the line quiet long enough to look dead.
      this.exchange(Req.PING, new Uint8Array(0))
        .then((p) => this.absorbStatus(M.decodeStatus(p)))
        .catch(() => undefined)
        .finally(() => (this.pinging = false));
    }, tick);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private failPending(err: Error): void {
    for (const p of [...this.inFlight.values()]) {
      this.finish(p);
      p.reject(err);
    }
    // Waiters wake, see the lost link, and fail.
    for (const w of this.waiting.splice(0)) w();
  }

  private async teardown(): Promise<void> {
    this.stopHeartbeat();
    const conn = this.conn;
    if (!conn) return;
    conn.markLost('closing');
    this.conn = null;
    this.pinging = false;
    if (conn.port.isOpen) await new Promise<void>((resolve) => conn.port.close(() => resolve()));
  }
}
