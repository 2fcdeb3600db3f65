import type { LiveSourceKind } from './types.js';

/**
 * The failover policy of a live chain, as a pure step function:
 * (state, observation at `now`) -> (state, actions). The adapter (chain.ts)
 * feeds it what it measured on every source's decoded PCM every tick and
 * carries the actions out; nothing here touches a process or a clock.
 *
 * Rules (times are the defaults of FAILOVER_TUNING):
 * - A running source FAILS when its process ended or reported garbage, when
 *   no PCM came for `stallMs` (1 s; `startTimeoutMs`, 2 s, before its first
 *   PCM) or, for network sources, when `silenceMs` (1 s) of what it gave in
 *   a row was below the silence threshold.
 * - After `suspectMs` (300 ms) of either, the next source is PRE-STARTED so
 *   that at the switch it already has audio: dead air = the failing source's
 *   detection time + at most one tick, well inside 2 s. A pre-started source
 *   with no suspicion for `standbyHoldMs` is stopped again.
 * - When the active source fails, the chain switches to the next source in
 *   order whose back-off has expired (or to nothing: silence, while the
 *   probes go on).
 * - A failed source higher than the active one is RE-PROBED after a back-off
 *   of 5 s doubling per consecutive failure up to 60 s. A probe PROVES itself
 *   by `proveMs` (3 s) of healthy audio, times its consecutive failures (up
 *   to `maxProveMs`): a source that failed recently must prove itself longer
 *   (hysteresis). A proven source is RETURNED to when what the chain outputs
 *   has been quiet for `quietMs` (a pause between words or items), or after
 *   `returnWaitMs` at the latest; FM and silence are always quiet.
 * - A source healthy on air for `stableMs` forgets its failures.
 */
export interface FailoverTuning {
  stallMs: number;
  startTimeoutMs: number;
  silenceMs: number;
  suspectMs: number;
  standbyHoldMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  proveMs: number;
  maxProveMs: number;
  quietMs: number;
  returnWaitMs: number;
  stableMs: number;
}

export const FAILOVER_TUNING: FailoverTuning = {
  stallMs: 1000,
  startTimeoutMs: 2000,
  silenceMs: 1000,
  suspectMs: 300,
  standbyHoldMs: 10_000,
  backoffMs: 5000,
  maxBackoffMs: 60_000,
  proveMs: 3000,
  maxProveMs: 30_000,
  quietMs: 250,
  returnWaitMs: 10_000,
  stableMs: 60_000,
};

/** Why a source stopped being heard (SourceSegment.endReason). */
export type FailReason = 'stalled' | 'silent' | 'dropped' | 'garbage';
export type EndReason = FailReason | 'returned-to-main' | 'ended';

/** What the adapter measured on one source's decoder (monotonic ms). Ignored for a source that is not running. */
export interface SourceObservation {
  /** When its decoder (or tuner) was started. */
  startedAt: number;
  /** Last PCM from it (a source whose buffer is full counts as just now); null: none yet. */
  lastPcmAt: number | null;
  /**
   * Audio below the silence threshold at its playhead since the last audible
   * slice, in ms counted in samples (not wall time: a busy event loop must
   * not make a source silent).
   */
  silentMs: number;
  /** Its process ended (connection refused, server gone) or its decoder reported garbage. */
  ended: 'dropped' | 'garbage' | null;
}

export interface Observation {
  now: number;
  /** Indexed like the sources; null where no decoder runs. */
  sources: ReadonlyArray<SourceObservation | null>;
  /** How long what the chain itself has output has been quiet (the moment to return). */
  outputQuietMs: number;
}

export type Role = 'off' | 'active' | 'standby' | 'probe';

export interface SourceState {
  role: Role;
  /** Consecutive failures: the back-off exponent and the proof multiplier. */
  failures: number;
  /** A failed source is not started again (probe or fallback) before this. */
  retryAt: number;
  /** Healthy (no suspicion) since; null while suspect or off. */
  healthySince: number | null;
  /** A probe proved itself at; null: not (yet). */
  provenAt: number | null;
  /** A standby is stopped after this unless the active source is suspect again. */
  holdUntil: number;
}

export interface ChainState {
  kinds: readonly LiveSourceKind[];
  active: number | null;
  sources: SourceState[];
}

export type Action =
  | { type: 'start'; source: number; role: Exclude<Role, 'off'> }
  | { type: 'stop'; source: number }
  /** The segment of the active source ends for `reason`; `to` is heard next (null: silence). */
  | { type: 'switch'; from: number | null; to: number | null; reason: EndReason };

export interface Step {
  state: ChainState;
  actions: Action[];
}

/** The chain's first state: the main source starts at once. */
export function initialState(kinds: readonly LiveSourceKind[]): Step {
  const sources = kinds.map(() => ({ role: 'off' as Role, failures: 0, retryAt: 0, healthySince: null, provenAt: null, holdUntil: 0 }));
  if (kinds.length === 0) return { state: { kinds, active: null, sources }, actions: [] };
  sources[0]!.role = 'active';
  return { state: { kinds, active: 0, sources }, actions: [{ type: 'start', source: 0, role: 'active' }, { type: 'switch', from: null, to: 0, reason: 'ended' }] };
}

/** Back-off before the next try after `failures` consecutive failures. */
export function backoffMs(failures: number, t: FailoverTuning = FAILOVER_TUNING): number {
  return Math.min(t.maxBackoffMs, t.backoffMs * 2 ** Math.max(0, failures - 1));
}

/** How long a probe must be healthy, given its consecutive failures. */
export function proveMs(failures: number, t: FailoverTuning = FAILOVER_TUNING): number {
  return Math.min(t.maxProveMs, t.proveMs * Math.max(1, failures));
}

/** Silence is judged only on what a network source sends; a cached file has its own pauses, FM is not ours to hear. */
function judgesSilence(kind: LiveSourceKind): boolean {
  return kind === 'http' || kind === 'hls' || kind === 'rtp';
}

interface Health {
  failed: FailReason | null;
  suspect: boolean;
}

export function health(kind: LiveSourceKind, o: SourceObservation, now: number, t: FailoverTuning = FAILOVER_TUNING): Health {
  if (o.ended) return { failed: o.ended, suspect: true };
  if (kind === 'fm') return { failed: null, suspect: false };
  const sincePcm = now - (o.lastPcmAt ?? o.startedAt);
  if (sincePcm >= (o.lastPcmAt === null ? t.startTimeoutMs : t.stallMs)) return { failed: 'stalled', suspect: true };
  const sinceAudible = judgesSilence(kind) && o.lastPcmAt !== null ? o.silentMs : 0;
  if (sinceAudible >= t.silenceMs) return { failed: 'silent', suspect: true };
  // Speech pauses: silence is suspect only from half its limit.
  return { failed: null, suspect: o.lastPcmAt === null || sincePcm >= t.suspectMs || sinceAudible >= t.silenceMs / 2 };
}

export function step(prev: ChainState, obs: Observation, t: FailoverTuning = FAILOVER_TUNING): Step {
  const { now } = obs;
  const state: ChainState = { kinds: prev.kinds, active: prev.active, sources: prev.sources.map((s) => ({ ...s })) };
  const actions: Action[] = [];
  const n = state.sources.length;
  const eligible = (i: number): boolean => state.sources[i]!.retryAt <= now;
  const stop = (i: number): void => {
    const s = state.sources[i]!;
    if (s.role === 'off') return;
    s.role = 'off';
    s.healthySince = null;
    s.provenAt = null;
    actions.push({ type: 'stop', source: i });
  };
  const fail = (i: number): void => {
    const s = state.sources[i]!;
    stop(i);
    s.failures++;
    s.retryAt = now + backoffMs(s.failures, t);
  };
  const switchTo = (to: number | null, reason: EndReason): void => {
    const from = state.active;
    if (to !== null) {
      const s = state.sources[to]!;
      if (s.role === 'off') actions.push({ type: 'start', source: to, role: 'active' });
      s.role = 'active';
      s.provenAt = null;
    }
    state.active = to;
    actions.push({ type: 'switch', from, to, reason });
  };
  /** The next source below `after` that may be tried now; a running standby counts. */
  const nextBelow = (after: number): number | null => {
    for (let j = after + 1; j < n; j++) if (state.sources[j]!.role !== 'off' || eligible(j)) return j;
    return null;
  };

  // 1. Judge every running source.
  let activeSuspect = false;
  for (let i = 0; i < n; i++) {
    const s = state.sources[i]!;
    const o = obs.sources[i];
    if (s.role === 'off' || !o) continue;
    const h = health(state.kinds[i]!, o, now, t);
    if (h.failed) {
      const wasActive = state.active === i;
      fail(i);
      if (wasActive) {
        switchTo(nextBelow(i), h.failed);
        if (state.active !== null && state.active !== i) activeSuspect = true;
      }
      continue;
    }
    s.healthySince = h.suspect ? null : (s.healthySince ?? now);
    if (state.active === i) {
      if (h.suspect) activeSuspect = true;
      else if (s.failures > 0 && s.healthySince !== null && now - s.healthySince >= t.stableMs) s.failures = 0;
    }
    if (s.role === 'probe' && s.provenAt === null && s.healthySince !== null && now - s.healthySince >= proveMs(s.failures, t)) s.provenAt = now;
    if (s.role === 'probe' && s.provenAt !== null && s.healthySince === null) {
      // A proven probe that falters is not good enough to return to.
      fail(i);
    }
  }

  // 2. Nothing on air: try the first source that may be tried (any sound beats dead air).
  if (state.active === null) {
    for (let i = 0; i < n; i++) {
      if (eligible(i) || state.sources[i]!.role !== 'off') {
        switchTo(i, 'ended');
        activeSuspect = true;
        break;
      }
    }
  }

  // 3. Return to the highest proven source above the active one, at a quiet moment.
  const active = state.active;
  if (active !== null) {
    for (let i = 0; i < active; i++) {
      const s = state.sources[i]!;
      if (s.role !== 'probe' || s.provenAt === null) continue;
      const quiet = state.kinds[active] === 'fm' || obs.outputQuietMs >= t.quietMs || now - s.provenAt >= t.returnWaitMs;
      if (quiet) {
        stop(active);
        switchTo(i, 'returned-to-main');
      }
      break;
    }
  }

  // 4. Pre-start the next source while the active one is suspect; let a standby go when it is not.
  const current = state.active;
  for (let j = 0; j < n; j++) {
    const s = state.sources[j]!;
    if (s.role === 'standby' && (current === null || j < current || (!activeSuspect && now >= s.holdUntil))) stop(j);
  }
  if (current !== null && activeSuspect) {
    const j = nextBelow(current);
    // Tuning FM early would put its sound on the amplifier over the active source.
    if (j !== null && state.kinds[j] !== 'fm') {
      const s = state.sources[j]!;
      if (s.role === 'off') {
        s.role = 'standby';
        actions.push({ type: 'start', source: j, role: 'standby' });
      }
      if (s.role === 'standby') s.holdUntil = now + t.standbyHoldMs;
    }
  }

  // 5. Re-probe failed sources above the active one once their back-off is over.
  const top = state.active ?? n;
  for (let i = 0; i < top; i++) {
    const s = state.sources[i]!;
    if (s.role === 'off' && eligible(i) && s.failures > 0) {
      s.role = 'probe';
      actions.push({ type: 'start', source: i, role: 'probe' });
    }
  }
  // Probes below the active one are pointless (it is better than them).
  for (let i = top + 1; i < n; i++) if (state.sources[i]!.role === 'probe') stop(i);

  return { state, actions };
}
