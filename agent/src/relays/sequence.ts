import type { RelaysConfig } from '../config/schema.js';
import { sleep } from '../lib/backoff.js';
import type { RelayBank, RelayCurrent } from './bank.js';

/**
 * The power sequence around a broadcast, as plain data:
 *
 *   amplifier on → warm-up → zones on → (zone lead) → audio … audio end →
 *   tail → zones off → amplifier off
 *
 * Planned backwards from the instant the audio must start, so a scheduled
 * item is heard on time; the scheduler wakes `leadTimeMs()` ahead. Times are
 * wall clock milliseconds. The planners are pure; `runSteps` carries a plan
 * out.
 */
export interface Step {
  atMs: number;
  output: string;
  on: boolean;
}

export interface PowerUpPlan {
  steps: Step[];
  /** When the audio may start: the requested instant, or later if the sequence cannot finish by then. */
  audioStartMs: number;
}

/**
 * Relay contacts take up to ~10-25 ms to open after the coil is released;
 * an amplifier is switched off only after its zones' contacts have opened,
 * so its power-off thump never reaches a horn.
 */
export const AMP_OFF_AFTER_ZONES_MS = 50;

/** How long before the audio the sequence must begin, with every amplifier cold. */
export function leadTimeMs(zones: readonly string[], cfg: RelaysConfig): number {
  const amps = ampsFor(zones, cfg);
  if (amps.size === 0) return 0;
  return cfg.zoneLeadMs + Math.max(...[...amps].map((a) => warmupOf(a, cfg)));
}

export function planPowerUp(args: {
  zones: readonly string[];
  cfg: RelaysConfig;
  audioStartMs: number;
  nowMs: number;
  current: RelayCurrent;
}): PowerUpPlan {
  const { cfg, nowMs, current } = args;
  const wanted = new Set(args.zones);
  const needAmps = ampsFor(args.zones, cfg);
  const sure = (name: string): boolean => current[name]?.on === true && !current[name]?.uncertain;
  const maybeOn = (name: string): boolean => current[name]?.on === true || current[name]?.uncertain === true;

  // A wanted zone is ready only if it and its amplifier are surely on;
  // otherwise it goes through the whole sequence, and if it might be on
  // while its amplifier is not, it is opened first so the warm-up thump
  // stays out of the horns.
  const zoneReady = (z: { name: string; amplifier: string }): boolean => sure(z.name) && sure(z.amplifier);
  const zonesOff = cfg.zones.filter((z) => maybeOn(z.name) && (!wanted.has(z.name) || !sure(z.amplifier)));
  const ampsOff = cfg.amplifiers.filter((a) => maybeOn(a.name) && !needAmps.has(a.name));
  const offAt = nowMs;
  const ampOffAt = zonesOff.length > 0 ? nowMs + AMP_OFF_AFTER_ZONES_MS : nowMs;

  // Earliest instant each needed amplifier can be warm, then the earliest
  // audio start that every wanted zone allows.
  const ampWarmEarliest = new Map<string, number>();
  for (const a of needAmps) {
    const since = sure(a) ? current[a]!.sinceMs : nowMs;
    ampWarmEarliest.set(a, since + warmupOf(a, cfg));
  }
  let audioStartMs = Math.max(args.audioStartMs, nowMs);
  for (const z of zonesOf(args.zones, cfg)) {
    const warm = ampWarmEarliest.get(z.amplifier)!;
    audioStartMs = Math.max(audioStartMs, zoneReady(z) ? warm : Math.max(warm, nowMs) + cfg.zoneLeadMs);
  }

  const steps: Array<Step & { rank: number }> = [
    ...zonesOff.map((z) => ({ atMs: offAt, output: z.name, on: false, rank: 0 })),
    ...ampsOff.map((a) => ({ atMs: ampOffAt, output: a.name, on: false, rank: 1 })),
  ];
  const ampWarmAt = new Map<string, number>();
  for (const a of needAmps) {
    if (sure(a)) {
      ampWarmAt.set(a, current[a]!.sinceMs + warmupOf(a, cfg));
      continue;
    }
    const at = Math.max(nowMs, audioStartMs - cfg.zoneLeadMs - warmupOf(a, cfg));
    steps.push({ atMs: at, output: a, on: true, rank: 2 });
    ampWarmAt.set(a, at + warmupOf(a, cfg));
  }
  for (const z of zonesOf(args.zones, cfg)) {
    if (zoneReady(z)) continue;
    steps.push({ atMs: Math.max(ampWarmAt.get(z.amplifier)!, audioStartMs - cfg.zoneLeadMs, nowMs), output: z.name, on: true, rank: 3 });
  }
  return { steps: ordered(steps), audioStartMs };
}

/** After the audio: the tail, then zones off, then (once their contacts are open) amplifiers off. */
export function planPowerDown(args: { audioEndMs: number; cfg: RelaysConfig; current: RelayCurrent }): Step[] {
  const { cfg, current } = args;
  const maybeOn = (name: string): boolean => current[name]?.on === true || current[name]?.uncertain === true;
  const at = args.audioEndMs + cfg.tailMs;
  const zones = cfg.zones.filter((z) => maybeOn(z.name));
  const amps = cfg.amplifiers.filter((a) => maybeOn(a.name));
  const ampAt = zones.length > 0 ? at + AMP_OFF_AFTER_ZONES_MS : at;
  return [...zones.map((z) => ({ atMs: at, output: z.name, on: false })), ...amps.map((a) => ({ atMs: ampAt, output: a.name, on: false }))];
}

export interface DoneStep extends Step {
  /** When the switch completed (wall clock ms). */
  doneMs: number;
}

/**
 * A switch done this much after its step is on time: a driver's own time
 * (gpioset is a process, 5-15 ms on a Pi), which must not make every
 * programme start late. Later than that, what follows is pushed back.
 */
export const STEP_SLACK_MS = 20;

/**
 * Carries out a plan in order, each step no earlier than its time. Steps
 * already due run at once. A step done late (a slow line, a loaded machine)
 * pushes every later step back by as much, and `pushedMs` says by how much
 * the audio must follow: an amplifier's warm-up and a zone's lead are never
 * cut short. On abort it rejects with the signal's reason; steps done stay
 * done (the caller plans the power-down). A failed switch rejects too: the
 * bank has logged it and marked the output uncertain.
 */
export async function runSteps(
  bank: Pick<RelayBank, 'set'>,
  steps: readonly Step[],
  signal?: AbortSignal,
  now: () => number = Date.now,
): Promise<{ done: DoneStep[]; pushedMs: number }> {
  const done: DoneStep[] = [];
  let pushedMs = 0;
  for (const step of steps) {
    signal?.throwIfAborted();
    const atMs = step.atMs + pushedMs;
    // Timers may fire a millisecond early; loop until the clock agrees.
    for (let wait = atMs - now(); wait > 0; wait = atMs - now()) await sleep(Math.ceil(wait), signal);
    await bank.set(step.output, step.on);
    const doneMs = now();
    if (doneMs - atMs > STEP_SLACK_MS) pushedMs += doneMs - atMs;
    done.push({ ...step, doneMs });
  }
  return { done, pushedMs };
}

function zonesOf(names: readonly string[], cfg: RelaysConfig): RelaysConfig['zones'] {
  const unique = [...new Set(names)];
  return unique.map((n) => {
    const z = cfg.zones.find((zone) => zone.name === n);
    if (!z) throw new Error(`no zone named "${n}"; configured zones: ${cfg.zones.map((zone) => zone.name).join(', ')}`);
    return z;
  });
}

function ampsFor(zones: readonly string[], cfg: RelaysConfig): Set<string> {
  return new Set(zonesOf(zones, cfg).map((z) => z.amplifier));
}

function warmupOf(amp: string, cfg: RelaysConfig): number {
  return cfg.amplifiers.find((a) => a.name === amp)!.warmupMs;
}

/** By time; at the same time zones open before amplifiers go off, amplifiers come on before zones close. */
function ordered(steps: Array<Step & { rank: number }>): Step[] {
  return steps.sort((a, b) => a.atMs - b.atMs || a.rank - b.rank).map(({ atMs, output, on }) => ({ atMs, output, on }));
}
