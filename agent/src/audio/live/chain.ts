import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { wallClockMs } from '../clock.js';
import type { DecoderResult } from '../decoder.js';
import { BYTES_PER_FRAME, bytesToMs, msToBytes, pcmLevelDb } from '../pcm.js';
import { PcmInput } from './input.js';
import { FAILOVER_TUNING, initialState, step, type Action, type ChainState, type EndReason, type FailoverTuning, type Observation, type SourceObservation } from './policy.js';
import type { FmTuner, LiveChain, LiveChainDeps, LiveChainSpec, LiveSource, SourceSegment } from './types.js';

/**
 * startLiveChain(spec, deps, log): LiveChain, the adapter around the pure
 * failover policy (policy.ts). Every TICK_MS it measures each running
 * source (input.ts), asks the policy, and starts, stops and switches
 * sources as told; the player reads the chain like any decoder.
 *
 * Output never stops while the item lasts: when the source on air has no
 * audio (switching, a stall before it is caught, FM whose sound goes to the
 * amplifier in hardware, every source down) the chain gives silence, just
 * enough to keep FILL_LEAD_MS ahead of real time, so the sink's paced
 * timeline (and the dead-air meter behind it) stays the real one. A source
 * put on air first collects PRIME_MS of audio so it does not start in
 * stutters. What a source had buffered before a switch away is dropped,
 * never played later: nothing is heard twice.
 */

/** How often the policy looks. */
const TICK_MS = 50;
/** Silence is given only to keep this much output ahead of real time. */
const FILL_LEAD_MS = 40;
/** A source put on air waits for this much buffered audio (or PRIME_WAIT_MS) before it is read. */
const PRIME_MS = 120;
const PRIME_WAIT_MS = 400;
/** Live buffers' caps (trimmed to 40 % beyond): HTTP and RTP arrive continuously; HLS a whole segment at a time. */
const BUFFER_MS = { http: 1000, rtp: 1000, hls: 5000, file: 1000, fm: 0 } as const;
const SILENCE_DBFS = -50;

export function startLiveChain(spec: LiveChainSpec, deps: LiveChainDeps, log: Logger): LiveChain {
  if (spec.sources.length === 0) throw new Error('a live item needs at least one source');
  const ids = new Set(spec.sources.map((s) => s.id));
  if (ids.size !== spec.sources.length) throw new Error('live item: source ids must be unique');
  return new Chain(spec, deps, log);
}

type Input = PcmInput | FmInput;

/** The FM tuner as a source: tuned while it is on air, released after; it gives no PCM (its audio is analogue). */
class FmInput {
  readonly startedAt: number;
  readonly lastPcmAt = null;
  readonly silentMs = 0;
  ended: 'dropped' | null = null;
  constructor(
    private readonly tuner: FmTuner | undefined,
    source: LiveSource,
    now: number,
    log: Logger,
  ) {
    this.startedAt = now;
    const fail = (detail: string): void => {
      this.ended = 'dropped';
      log.warn({ source: source.id, detail }, 'live input failed');
    };
    if (!tuner) fail('this station has no FM tuner');
    else if (!source.fmKHz) fail(`source ${source.id}: no FM frequency`);
    else tuner.tune(source.fmKHz).catch((err: Error) => fail(`FM tuner: ${err.message}`));
  }
  bufferedBytes(): number {
    return 0;
  }
  read(): null {
    return null;
  }
  advance(): void {}
  onAir(): void {}
  async stop(): Promise<void> {
    if (this.tuner && !this.ended) await this.tuner.release().catch(() => undefined);
  }
}

class Chain extends EventEmitter implements LiveChain {
  readonly fadeInMs = 0;
  readonly fadeOutMs = 0;
  readonly ready: Promise<void>;
  readonly done: Promise<DecoderResult>;
  private readonly tuning: FailoverTuning;
  private readonly sources: LiveSource[];
  private readonly inputs: Array<Input | null>;
  private readonly everStarted: boolean[];
  private readonly files = new Map<number, Promise<string[]>>();
  private state: ChainState;
  private segs: SourceSegment[] = [];
  private lastClosed: SourceSegment | null = null;
  private readonly timer: NodeJS.Timeout;
  private finished = false;
  private resolveDone: (r: DecoderResult) => void = () => undefined;
  private markReady: () => void = () => undefined;
  private readonly createdAt = performance.now();
  /** Output so far, bytes; the item's length in bytes once the first read fixed it. */
  private emitted = 0;
  private limitBytes = Infinity;
  /** Monotonic ms at which output byte 0 was (or would have been) heard; null before the first read. */
  private anchor: number | null = null;
  /** The source on air has collected its pre-roll. */
  private primed = false;
  private activatedAt = 0;
  private lastLoudOutputAt: number;
  private lastTickAt = performance.now();

  constructor(
    private readonly spec: LiveChainSpec,
    private readonly deps: LiveChainDeps,
    private readonly log: Logger,
  ) {
    super();
    this.tuning = { ...FAILOVER_TUNING, ...spec.tuning };
    this.sources = spec.sources;
    this.inputs = this.sources.map(() => null);
    this.everStarted = this.sources.map(() => false);
    this.lastLoudOutputAt = this.createdAt;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.sources.forEach((s, i) => {
      if (s.kind === 'file') this.files.set(i, this.resolveFiles(s));
    });
    // Nothing on air within this long: the player starts anyway and hears silence while the chain fails over.
    const readyTimer = setTimeout(() => this.markReady(), this.tuning.startTimeoutMs + 500);
    void this.ready.then(() => clearTimeout(readyTimer));
    const first = initialState(this.sources.map((s) => s.kind));
    this.state = first.state;
    this.apply(first.actions);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    if (spec.signal) {
      if (spec.signal.aborted) this.finish({ ok: true });
      else spec.signal.addEventListener('abort', () => this.finish({ ok: true }), { once: true });
    }
  }

  segments(): readonly SourceSegment[] {
    return this.segs;
  }

  get ended(): boolean {
    return this.finished;
  }

  bufferedBytes(): number {
    const input = this.onAir();
    return input ? input.bufferedBytes() : 0;
  }

  read(maxBytes: number): Buffer | null {
    if (this.finished) return null;
    const now = performance.now();
    if (this.anchor === null) this.startOutput(now);
    const remaining = this.limitBytes - this.emitted;
    if (remaining <= 0) {
      this.finish({ ok: true });
      return null;
    }
    const max = Math.min(maxBytes, remaining) - (Math.min(maxBytes, remaining) % BYTES_PER_FRAME);
    if (max <= 0) return null;
    const input = this.onAir();
    if (input && !this.primed && (input.bufferedBytes() >= msToBytes(PRIME_MS) || (input.bufferedBytes() > 0 && now - this.activatedAt >= PRIME_WAIT_MS))) {
      this.primed = true;
      input.onAir();
    }
    const pcm = input && this.primed ? input.read(max) : null;
    if (pcm) {
      if (pcmLevelDb(pcm) > SILENCE_DBFS) this.lastLoudOutputAt = now;
      return this.emit_(pcm);
    }
    // Silence only to stay FILL_LEAD_MS ahead of the sink: more would delay the next source.
    let lead = this.anchor! + bytesToMs(this.emitted) - now;
    if (lead < 0) {
      this.anchor = now - bytesToMs(this.emitted); // the sink ran dry (nobody read): that time is past
      lead = 0;
    }
    if (lead >= FILL_LEAD_MS / 2) return null;
    const bytes = Math.min(max, msToBytes(FILL_LEAD_MS - lead));
    return bytes > 0 ? this.emit_(Buffer.alloc(bytes)) : null;
  }

  waitForData(): Promise<void> {
    if (this.finished) return Promise.resolve();
    const input = this.onAir();
    if (input && this.primed && input.bufferedBytes() >= BYTES_PER_FRAME) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, 5));
  }

  kill(): void {
    this.finish({ ok: false, reason: 'killed' });
  }

  private emit_(pcm: Buffer): Buffer {
    this.emitted += pcm.length;
    if (this.emitted >= this.limitBytes) queueMicrotask(() => this.finish({ ok: true }));
    return pcm;
  }

  /** The first read fixes the item's length: its duration, or what is left until `untilMs`. */
  private startOutput(now: number): void {
    this.anchor = now;
    let ms = this.spec.durationMs ?? Infinity;
    if (this.spec.untilMs !== undefined) ms = Math.min(ms, this.spec.untilMs - wallClockMs());
    this.limitBytes = Number.isFinite(ms) ? Math.max(0, msToBytes(ms)) : Infinity;
    this.markReady();
  }

  /** The input whose PCM is read: the active one, once the player reads. */
  private onAir(): Input | null {
    const a = this.state.active;
    return a === null ? null : this.inputs[a] ?? null;
  }

  private tick(): void {
    if (this.finished) return;
    try {
      if (this.spec.untilMs !== undefined && wallClockMs() >= this.spec.untilMs) {
        this.finish({ ok: true });
        return;
      }
      const now = performance.now();
      // The event loop was held up (a busy machine): what arrived meanwhile is not read yet,
      // so this tick would see a stall that is not one. Judge at the next.
      const blocked = now - this.lastTickAt > 5 * TICK_MS;
      this.lastTickAt = now;
      const reading = this.anchor !== null;
      this.inputs.forEach((input, i) => {
        if (input && !(reading && i === this.state.active)) input.advance();
      });
      const active = this.state.active;
      if (active !== null && this.inputs[active]?.lastPcmAt != null) this.markReady();
      if (blocked) return;
      const obs: Observation = {
        now,
        sources: this.inputs.map((input): SourceObservation | null =>
          input
            ? {
                startedAt: input.startedAt,
                lastPcmAt: input.bufferedBytes() > 0 ? now : input.lastPcmAt,
                silentMs: input.silentMs,
                ended: input.ended,
              }
            : null,
        ),
        outputQuietMs: now - this.lastLoudOutputAt,
      };
      const next = step(this.state, obs, this.tuning);
      this.state = next.state;
      this.apply(next.actions);
    } catch (err) {
      this.log.error({ err }, 'live chain: tick failed');
    }
  }

  private apply(actions: Action[]): void {
    for (const a of actions) {
      if (a.type === 'start') this.startInput(a.source, a.role);
      else if (a.type === 'stop') this.stopInput(a.source);
      else this.switchSegment(a.from, a.to, a.reason);
    }
  }

  private startInput(i: number, role: string): void {
    if (this.inputs[i]) return;
    const source = this.sources[i]!;
    const now = performance.now();
    const restart = this.everStarted[i]!;
    this.everStarted[i] = true;
    this.inputs[i] =
      source.kind === 'fm'
        ? new FmInput(this.deps.fm, source, now, this.log)
        : new PcmInput({
            source,
            ...(this.files.has(i) ? { files: this.files.get(i)! } : {}),
            restart,
            bufferMs: BUFFER_MS[source.kind],
            silenceDbfs: SILENCE_DBFS,
            gainDb: this.spec.gainDb ?? 0,
            ffmpegPath: this.deps.ffmpegPath ?? 'ffmpeg',
            now: () => performance.now(),
            log: this.log,
          });
    this.log.debug({ source: source.id, role, restart }, 'live chain: source started');
  }

  private stopInput(i: number): void {
    const input = this.inputs[i];
    this.inputs[i] = null;
    if (input) void input.stop();
  }

  private switchSegment(from: number | null, to: number | null, reason: EndReason): void {
    const at = wallClockMs();
    const open = this.segs.at(-1);
    if (from !== null && open && open.endMs === null) {
      open.endMs = at;
      open.endReason = reason;
      this.lastClosed = open;
      // A failure's detail was logged by the input itself ('live input failed').
      this.log.info({ source: open.sourceId, reason }, 'live chain: source left');
    }
    this.primed = false;
    this.activatedAt = performance.now();
    if (to === null) {
      this.log.warn('live chain: no source can play now: silence until one comes back');
      return;
    }
    const source = this.sources[to]!;
    const seg: SourceSegment = { sourceId: source.id, kind: source.kind, startMs: at, endMs: null };
    this.segs.push(seg);
    this.log.info({ source: source.id, kind: source.kind }, 'live chain: source on air');
    const left = this.lastClosed;
    // The first one comes from the constructor: told once the caller could listen.
    if (this.segs.length === 1) queueMicrotask(() => this.emit('switch', left, seg));
    else this.emit('switch', left, seg);
  }

  private async resolveFiles(s: LiveSource): Promise<string[]> {
    const paths: string[] = [];
    for (const id of s.contents ?? []) {
      try {
        const p = await this.deps.resolveFile(id);
        if (p) paths.push(p);
        else this.log.warn({ source: s.id, content: id }, 'live chain: fallback content is not in the cache');
      } catch (err) {
        this.log.warn({ source: s.id, content: id, err: (err as Error).message }, 'live chain: fallback content cannot be resolved');
      }
    }
    return paths;
  }

  private finish(result: DecoderResult): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    const open = this.segs.at(-1);
    if (open && open.endMs === null) {
      open.endMs = wallClockMs();
      open.endReason = 'ended';
    }
    for (let i = 0; i < this.inputs.length; i++) this.stopInput(i);
    this.markReady();
    this.resolveDone(result);
  }
}
