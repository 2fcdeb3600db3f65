import type { RelaysConfig } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import type { Level, RelayDriver } from './driver.js';

/**
 * The one owner of the relay outputs (amplifier power and village zones).
 * It maps names to lines, turns logical on/off into physical levels
 * (active-low relay boards close on a low pin), and makes sure every output
 * starts and ends in the safe state: off.
 *
 * Invariant: between `open()` and `close()` the bank's record of each
 * output matches what it last wrote successfully; an output whose write
 * failed is unknown and is written again on the next `set()`.
 */
export type OutputKind = 'amplifier' | 'zone';

export interface RelayOutput {
  name: string;
  kind: OutputKind;
  line: number;
  activeLow: boolean;
}

/**
 * Which outputs are on now and since when (wall clock ms); the sequence
 * planner's input. `uncertain` marks an output whose last switch failed: the
 * planner switches it again whatever `on` says.
 */
export interface OutputNow {
  on: boolean;
  sinceMs: number;
  uncertain?: true;
}
export type RelayCurrent = Readonly<Record<string, OutputNow>>;

export function outputsOf(cfg: RelaysConfig): RelayOutput[] {
  return [
    ...cfg.amplifiers.map((a) => ({ name: a.name, kind: 'amplifier' as const, line: a.line, activeLow: a.activeLow })),
    ...cfg.zones.map((z) => ({ name: z.name, kind: 'zone' as const, line: z.line, activeLow: z.activeLow })),
  ];
}

/** Logical on/off to the pin level: active-low boards close the relay on a low pin. */
export function levelFor(output: Pick<RelayOutput, 'activeLow'>, on: boolean): Level {
  return on !== output.activeLow ? 1 : 0;
}

export function isOnAt(output: Pick<RelayOutput, 'activeLow'>, level: Level): boolean {
  return (level === 1) !== output.activeLow;
}

export class RelayBank {
  private readonly byName: Map<string, RelayOutput>;
  private readonly known = new Map<string, { on: boolean; sinceMs: number } | 'unknown'>();
  private opened = false;
  private readonly now: () => number;

  constructor(
    cfg: RelaysConfig,
    private readonly driver: RelayDriver,
    private readonly opts: { log: Logger; now?: () => number },
  ) {
    this.byName = new Map(outputsOf(cfg).map((o) => [o.name, o]));
    this.now = opts.now ?? Date.now;
  }

  get driverKind(): string {
    return this.driver.kind;
  }

  /** Whether `state()` reads the lines themselves (see RelayDriver.readsLine). */
  get readsLine(): boolean {
    return this.driver.readsLine !== false;
  }

  outputs(): RelayOutput[] {
    return [...this.byName.values()];
  }

  /** Claims every line and drives it off before anything else can happen. */
  async open(): Promise<void> {
    const outputs = this.outputs();
    await this.driver.open(outputs.map((o) => ({ line: o.line, initial: levelFor(o, false) })));
    const at = this.now();
    for (const o of outputs) this.known.set(o.name, { on: false, sinceMs: at });
    this.opened = true;
    this.opts.log.info({ driver: this.driver.kind, outputs: outputs.map((o) => o.name) }, 'relay outputs open, all off');
  }

  async set(name: string, on: boolean): Promise<void> {
    const output = this.output(name);
    if (!this.opened) throw new Error(`relay bank is not open; cannot switch "${name}" ${on ? 'on' : 'off'}`);
    const before = this.known.get(name);
    if (before !== 'unknown' && before?.on === on) return;
    try {
      await this.driver.write(output.line, levelFor(output, on));
    } catch (err) {
      this.known.set(name, 'unknown');
      this.opts.log.error({ err, relay: name, line: output.line, on, driver: this.driver.kind }, 'relay switch failed');
      throw err;
    }
    this.known.set(name, { on, sinceMs: this.now() });
    this.opts.log.info({ relay: name, kind: output.kind, line: output.line, on }, on ? 'relay on' : 'relay off');
  }

  /** Logical state read back from the driver (the pins), not from the bank's record. */
  async state(): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {};
    for (const o of this.outputs()) out[o.name] = isOnAt(o, await this.driver.read(o.line));
    return out;
  }

  /** What the bank last switched, for planning; an output whose last write failed is `uncertain`. */
  current(): RelayCurrent {
    const out: Record<string, OutputNow> = {};
    for (const o of this.outputs()) {
      const k = this.known.get(o.name);
      out[o.name] = k === undefined ? { on: false, sinceMs: 0 } : k === 'unknown' ? { on: true, sinceMs: this.now(), uncertain: true } : { ...k };
    }
    return out;
  }

  /**
   * Zones first, then amplifiers, so no horn hears an amplifier's power-off
   * thump. Tries every output even if one fails, then reports the failures.
   */
  async allOff(): Promise<void> {
    const order = [...this.outputs().filter((o) => o.kind === 'zone'), ...this.outputs().filter((o) => o.kind === 'amplifier')];
    const failed: string[] = [];
    for (const o of order) {
      await this.set(o.name, false).catch((err: Error) => failed.push(`${o.name}: ${err.message}`));
    }
    if (failed.length > 0) throw new Error(`could not switch off relay outputs: ${failed.join('; ')}`);
  }

  /** All off, then releases the lines. The driver is released even if switching off failed. */
  async close(): Promise<void> {
    if (!this.opened) return;
    try {
      await this.allOff();
    } finally {
      this.opened = false;
      await this.driver.close();
      this.opts.log.info({ driver: this.driver.kind }, 'relay outputs closed');
    }
  }

  private output(name: string): RelayOutput {
    const o = this.byName.get(name);
    if (!o) throw new Error(`no relay output named "${name}"; known outputs: ${[...this.byName.keys()].join(', ')}`);
    return o;
  }
}
