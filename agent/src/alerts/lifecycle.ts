import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { RELEASED_NOT_BEFORE_MS, PROVINCE_SKEW_MS } from '../clock/trust.js';
import type { AlertInfo, AlertStatus, CapAlert } from './alert.js';
import { type AlertAreaConfig, type AreaTarget, zonesForInfos } from './area.js';

/**
 * The lifecycle of a public alert at the station, as plain functions over data
 * (no I/O, no timers): the adapter gathers the facts, calls these, and acts.
 *
 * - `timeBounds(facts)`: what the station knows about "now": a lower bound
 *   (an instant certainly passed) and an upper bound (null when the clock is
 *   not trusted). Every time below is on this axis; a `wakeAtMs` becomes a
 *   timer of `wakeAtMs - bounds.lowerMs` milliseconds (`wakeDelayMs`).
 * - `alertActivity(alert, ctx)`: THE decision "is this alert active now",
 *   for the speakers and the board alike: state, reason, which outputs
 *   (public zones, the local monitor, none), which zones, which info blocks,
 *   and when the answer can next change.
 * - `applyAlertMessage(registry, incoming)`: what a message does to the
 *   alerts already known (add, replace, withdraw, remember a reference that
 *   overtook its alert), as data; `applyEffects` folds it into the registry.
 * - `repeatSchedule(alert, ...)`: when an active alert plays again (the
 *   next repeat is not in `wakeAtMs`, which changes only with the state).
 */

// ---------------------------------------------------------------- time

export interface TimeBounds {
  /** The latest instant certainly passed (the province's signed time plus elapsed monotonic time, or a trusted wall clock). */
  lowerMs: number;
  /** The latest instant it can be: the wall clock when trusted; null when nothing bounds it. */
  upperMs: number | null;
  trusted: boolean;
}

export interface ClockFactsForAlerts {
  wallMs: number;
  /** clock/trust.ts assessClock(...).trusted. */
  clockTrusted: boolean;
  /** sync/guard.ts ProvinceClock.lowerBound(): 0 or null when nothing was heard. */
  provinceLowerMs: number | null;
  /** No loa built from this source runs before this instant. */
  releasedMs?: number;
}

/**
 * A trusted clock gives both bounds ≈ now (never below what the province
 * proved). An untrusted one gives only the province's bound: a clock years
 * behind cannot revive an expired alert, and a clock years ahead cannot
 * expire a fresh one, because the wall time is not used at all.
 */
export function timeBounds(f: ClockFactsForAlerts): TimeBounds {
  const proven = Math.max(f.provinceLowerMs ?? 0, f.releasedMs ?? RELEASED_NOT_BEFORE_MS);
  if (f.clockTrusted) {
    const now = Math.max(f.wallMs, proven);
    return { lowerMs: now, upperMs: now, trusted: true };
  }
  return { lowerMs: proven, upperMs: null, trusted: false };
}

/** Milliseconds until `wakeAtMs` on the bounds' axis (0 when already due). */
export function wakeDelayMs(wakeAtMs: number, bounds: TimeBounds): number {
  return Math.max(0, wakeAtMs - bounds.lowerMs);
}

// ---------------------------------------------------------------- policy

export const AlertPolicySchema = strict.object({
  /** Where status Exercise goes: the village zones, the local monitor and log only, or nowhere. */
  exercise: z.enum(['public', 'monitor', 'ignore']).default('monitor'),
  /**
   * Lifetime of an alert that gives no `expires` (CAP makes it optional):
   * from its `effective` (else `sent`). A day keeps a flood warning on the
   * board through the night without leaving a stale one there for ever.
   */
  defaultLifetimeMinutes: z.number().int().min(1).max(10_080).default(1440),
});
export type AlertPolicy = z.infer<typeof AlertPolicySchema>;
export const DEFAULT_ALERT_POLICY: AlertPolicy = AlertPolicySchema.parse({});

/** A `sent` further than this beyond the upper bound is suspect (the same tolerance as the province's clock). */
export const MAX_SENT_AHEAD_MS = PROVINCE_SKEW_MS;

// ---------------------------------------------------------------- activity

export type ActivityState = 'active' | 'pending-onset' | 'expired' | 'cancelled' | 'superseded' | 'held-off' | 'monitor-only' | 'ignored';
export type Outputs = 'public' | 'monitor' | 'none';
export type RegistryState = 'live' | 'cancelled' | 'superseded';

export interface AlertStation {
  id: string;
  /** The station's groups (sync.groups): a Restricted/Private alert addressed to one of them is for this station. */
  groups: readonly string[];
  /** Languages configured, Vietnamese first ("vi", "hmn", ...). */
  languages: readonly string[];
  /** relays.zones names. */
  zones: readonly string[];
  /** alerts.area; absent: every alert is station-wide. */
  area?: AlertAreaConfig;
}

export interface ActivityContext {
  bounds: TimeBounds;
  policy: AlertPolicy;
  station: AlertStation;
  /** The alert's state in the registry (applyAlertMessage); live when absent. */
  registry?: RegistryState;
  /** A local stop (`loa stop --all`, the stop button) holds this alert off until then (bounds' axis). */
  heldOffUntilMs?: number | null;
}

export interface Activity {
  state: ActivityState;
  /** Short English, for the log and `loa status`. */
  reason: string;
  outputs: Outputs;
  /** Where it plays when outputs is public; kind none otherwise. */
  target: AreaTarget;
  /** Indices into alert.info of the blocks in force now, in the station's language order (speech plan and board use these). */
  infos: number[];
  /** When the answer can next change (onset, expiry, end of hold-off); absent: only a new message changes it. */
  wakeAtMs?: number;
  /** When the alert ends here by itself (its last block's expiry): given while it is pending, held off or in force. */
  endsAtMs?: number;
}

/** ISO time for reasons; never throws (a reason must not be what takes the station off air). */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** Every time in the alert is a finite number (the parser's job; checked again since a NaN compares false both ways). */
function timesAreFinite(alert: CapAlert): boolean {
  const times = [alert.sentMs, ...alert.info.flatMap((i) => [i.effectiveMs, i.onsetMs, i.expiresMs])];
  return times.every((t) => t === undefined || Number.isFinite(t));
}

const NOWHERE: AreaTarget = { kind: 'none', reason: 'no outputs' };

/** Primary language subtag, lower case: "vi-VN" → "vi". */
export function primaryLanguage(tag: string): string {
  return tag.trim().split(/[-_]/)[0]!.toLowerCase();
}

/**
 * Info blocks for this station's languages, in the station's order (then
 * the alert's); when none is in a configured language, all of them: the
 * alert still concerns the station (board, pre-recorded message by event
 * code) even if its text is in no language the station speaks.
 */
export function selectInfos(alert: CapAlert, languages: readonly string[]): number[] {
  const wanted = languages.map(primaryLanguage);
  const rank = (info: AlertInfo): number => wanted.indexOf(primaryLanguage(info.language));
  const chosen = alert.info.map((info, i) => ({ i, r: rank(info) })).filter((x) => x.r >= 0);
  if (chosen.length === 0) return alert.info.map((_, i) => i);
  return chosen.sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.i);
}

/**
 * The window an info block is in force: from max(effective, onset) to
 * expires (else the default lifetime from effective, else sent). startMs is
 * null when it is in force as soon as it is received: an authentic message
 * proves its own `sent` has passed, so a start at or before `sent` never
 * waits on a clock that cannot tell (an untrusted clock, nothing heard yet).
 */
export function infoWindow(alert: CapAlert, info: AlertInfo, policy: AlertPolicy): { startMs: number | null; endMs: number; defaulted: boolean } {
  const start = Math.max(info.effectiveMs ?? -Infinity, info.onsetMs ?? -Infinity);
  const startMs = start > alert.sentMs ? start : null;
  if (info.expiresMs !== undefined) return { startMs, endMs: info.expiresMs, defaulted: false };
  const from = info.effectiveMs ?? alert.sentMs;
  return { startMs, endMs: from + policy.defaultLifetimeMinutes * 60_000, defaulted: true };
}

function statusOutputs(status: AlertStatus, policy: AlertPolicy): { outputs: Outputs; reason: string } {
  switch (status) {
    case 'Actual':
      return { outputs: 'public', reason: 'Actual' };
    case 'Exercise':
      if (policy.exercise === 'public') return { outputs: 'public', reason: 'Exercise (public by configuration)' };
      if (policy.exercise === 'monitor') return { outputs: 'monitor', reason: 'Exercise: local monitor and log only' };
      return { outputs: 'none', reason: 'Exercise ignored by configuration' };
    case 'Test':
      return { outputs: 'monitor', reason: 'Test: local monitor and log only' };
    case 'System':
      return { outputs: 'none', reason: 'status System is never played' };
    case 'Draft':
      return { outputs: 'none', reason: 'status Draft is never played' };
  }
}

/**
 * CAP `addresses`: space-separated, a name with spaces in double quotes.
 * A Restricted or Private alert reaches the public speakers only when it
 * names this station (its id or one of its groups); otherwise it goes to the
 * local monitor and log. `restriction` is free text and decides nothing.
 */
export function parseAddresses(addresses: string | undefined): string[] {
  if (!addresses) return [];
  return [...addresses.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2] ?? '').trim()).filter((s) => s.length > 0);
}

function scopeOutputs(alert: CapAlert, station: AlertStation): { outputs: Outputs; reason?: string } {
  if (alert.scope === 'Public') return { outputs: 'public' };
  const names = new Set([station.id, ...station.groups]);
  const named = parseAddresses(alert.addresses).find((a) => names.has(a));
  if (named !== undefined) return { outputs: 'public', reason: `${alert.scope}, addressed to ${named}` };
  return { outputs: 'monitor', reason: `scope ${alert.scope}, not addressed to this station: local monitor only` };
}

/** Status and scope each allow public or monitor here (none has returned before): the narrower wins. */
const narrower = (a: Outputs, b: Outputs): Outputs => (a === 'monitor' || b === 'monitor' ? 'monitor' : 'public');

export function alertActivity(alert: CapAlert, ctx: ActivityContext): Activity {
  const { bounds, policy, station } = ctx;
  const done = (state: ActivityState, reason: string, wakeAtMs?: number, endsAtMs?: number): Activity => ({
    state, reason, outputs: 'none', target: NOWHERE, infos: [],
    ...(wakeAtMs !== undefined ? { wakeAtMs } : {}),
    ...(endsAtMs !== undefined ? { endsAtMs } : {}),
  });

  if (alert.msgType === 'Ack' || alert.msgType === 'Error') return done('ignored', `msgType ${alert.msgType} is never played`);
  if (alert.msgType === 'Cancel') return done('ignored', 'a Cancel ends the alerts it references; it is not played');
  if (!timesAreFinite(alert)) return done('ignored', 'malformed times');
  const byStatus = statusOutputs(alert.status, policy);
  if (byStatus.outputs === 'none') return done('ignored', byStatus.reason);
  if (bounds.upperMs !== null && alert.sentMs > bounds.upperMs + MAX_SENT_AHEAD_MS) {
    return done('ignored', `suspect: sent ${iso(alert.sentMs)} is in the future`);
  }
  if (ctx.registry === 'cancelled') return done('cancelled', 'cancelled by the sender');
  if (ctx.registry === 'superseded') return done('superseded', 'replaced by an update');
  if (alert.info.length === 0) return done('ignored', 'no info block: nothing to say');

  const byLanguage = selectInfos(alert, station.languages);
  const here = byLanguage.filter((i) => zonesForInfos([alert.info[i]!], station.area, station.zones).kind !== 'none');
  if (here.length === 0) return done('ignored', 'area not this station');

  // Several info blocks: the alert is in force while any of this station's blocks is; it ends when the last one does.
  const now = bounds.lowerMs;
  const windows = here.map((i) => ({ i, ...infoWindow(alert, alert.info[i]!, policy) }));
  const started = (w: { startMs: number | null }): boolean => w.startMs === null || w.startMs <= now;
  // A block whose start is not before its end is never in force (onset after expiry).
  const live = windows.filter((w) => w.startMs === null || w.startMs < w.endMs);
  const inForce = live.filter((w) => started(w) && now < w.endMs);
  const upcoming = live.filter((w): w is (typeof live)[number] & { startMs: number } => !started(w));
  const lastEnd = Math.max(...windows.map((w) => w.endMs));
  const endsAtMs = live.length > 0 ? Math.max(...live.map((w) => w.endMs)) : lastEnd;
  const boundaries = live.flatMap((w) => [w.startMs ?? -Infinity, w.endMs]).filter((t) => t > now);
  const nextChange = boundaries.length > 0 ? Math.min(...boundaries) : undefined;

  if (inForce.length === 0 && upcoming.length === 0) {
    const defaulted = windows.every((w) => w.defaulted) ? ` (no expires: ${policy.defaultLifetimeMinutes} min lifetime)` : '';
    return done('expired', `expired ${iso(lastEnd)}${defaulted}`);
  }
  if (inForce.length === 0) {
    const startMs = Math.min(...upcoming.map((w) => w.startMs));
    return done('pending-onset', `in force from ${iso(startMs)}`, startMs, endsAtMs);
  }
  if (ctx.heldOffUntilMs != null && now < ctx.heldOffUntilMs) {
    return done('held-off', `held off by a local stop until ${iso(ctx.heldOffUntilMs)}`, Math.min(ctx.heldOffUntilMs, endsAtMs), endsAtMs);
  }

  const infos = inForce.map((w) => w.i);
  const byScope = scopeOutputs(alert, station);
  const outputs = narrower(byStatus.outputs, byScope.outputs);
  const reason = [byStatus.reason, byScope.reason].filter(Boolean).join('; ');
  const wake = nextChange !== undefined ? { wakeAtMs: nextChange } : {};
  if (outputs === 'monitor') return { state: 'monitor-only', reason, outputs, target: NOWHERE, infos, ...wake, endsAtMs };
  const target = zonesForInfos(infos.map((i) => alert.info[i]!), station.area, station.zones);
  return { state: 'active', reason: `${reason}; ${target.reason}`, outputs, target, infos, ...wake, endsAtMs };
}

// ---------------------------------------------------------------- registry

/** CAP names a message by sender, identifier and sent; so do references. */
export function alertKey(a: { sender: string; identifier: string; sentMs: number }): string {
  return `${a.sender},${a.identifier},${a.sentMs}`;
}

export interface KnownAlert {
  key: string;
  alert: CapAlert;
  state: RegistryState;
  /** The message that cancelled or superseded it. */
  endedBy?: string;
}

/** A Cancel or Update that arrived before the alert it references (a lossy link reorders). */
export interface Overtaken {
  /** The referenced alert's key. */
  key: string;
  by: string;
  kind: 'cancelled' | 'superseded';
  /** sent of the overtaking message, for pruning oldest first. */
  sentMs: number;
  status: AlertStatus;
}

export interface AlertRegistry {
  alerts: readonly KnownAlert[];
  overtaken: readonly Overtaken[];
}

export interface Effects {
  /** The incoming message, to keep (state may already be ended when a reference overtook it). */
  add?: KnownAlert;
  /** Live alerts now replaced by the incoming Update: stop `old` (even mid-play) and play `by`. */
  replace: Array<{ old: string; by: string }>;
  /** Live alerts the incoming Cancel ends: stop if playing, drop if queued. */
  withdraw: string[];
  /** References to alerts not (yet) seen, to remember. */
  remember: Overtaken[];
  /** Remembered references to forget (used, or beyond the bound). */
  forget: string[];
  /** Nothing to do, and why (duplicate, Ack, ...). */
  ignore?: string;
  /** Log lines about individual references (status mismatch, stale update). */
  notes: string[];
}

/** Remembered overtaking references kept at most (oldest by sent dropped first). */
export const MAX_OVERTAKEN = 1000;

const noEffects = (): Effects => ({ replace: [], withdraw: [], remember: [], forget: [] , notes: [] });

/**
 * What `incoming` does to the registry.
 * - Alert: added (unless a Cancel or Update of it overtook it: then added already ended).
 * - Update: replaces the live alerts it references, following an already
 *   superseded reference to its live successor; an Update older than that
 *   successor is stale and kept as superseded. An Update none of whose
 *   references is known is a new alert (the original was lost: playing the
 *   newer information beats playing nothing); its references are remembered
 *   so a late original stays silent.
 * - Cancel: withdraws the live alerts it references (following successors);
 *   unknown references are remembered. A Cancel is final for messages sent
 *   up to it; an Update sent after the Cancel is a new alert.
 * - References cross no status: a Test or Exercise message never ends an Actual one.
 *   They match the (sender, identifier, sent) they name, whoever sends them:
 *   that the sender may speak is the envelope's (signature, feed key) to say.
 * - Duplicates (same key), Ack, Error, System and Draft change nothing.
 */
export function applyAlertMessage(registry: AlertRegistry, incoming: CapAlert): Effects {
  const fx = noEffects();
  const key = alertKey(incoming);
  if (incoming.msgType === 'Ack' || incoming.msgType === 'Error') return { ...fx, ignore: `msgType ${incoming.msgType}: nothing to apply` };
  if (incoming.status === 'System' || incoming.status === 'Draft') return { ...fx, ignore: `status ${incoming.status}: nothing to apply` };
  const byKey = new Map(registry.alerts.map((a) => [a.key, a]));
  if (byKey.has(key)) return { ...fx, ignore: 'duplicate' };

  // What stands for an entry now: follow superseded links to the live or cancelled ends of the chain.
  type End = { key: string; state: 'live'; sentMs: number } | { key: string; state: 'cancelled'; cancelledBy: string | undefined };
  const terminals = (k: string, seen = new Set<string>()): End[] => {
    const a = byKey.get(k);
    if (!a || seen.has(k)) return [];
    seen.add(k);
    if (a.state === 'live') return [{ key: a.key, state: 'live', sentMs: a.alert.sentMs }];
    if (a.state === 'cancelled') return [{ key: a.key, state: 'cancelled', cancelledBy: a.endedBy }];
    return a.endedBy ? terminals(a.endedBy, seen) : [];
  };
  const overtakenBy = registry.overtaken.find((o) => o.key === key && o.status === incoming.status);
  if (overtakenBy) {
    fx.add = { key, alert: incoming, state: overtakenBy.kind, endedBy: overtakenBy.by };
    fx.forget.push(key);
    fx.notes.push(`${overtakenBy.kind} before it arrived (by ${overtakenBy.by})`);
    if (incoming.msgType !== 'Cancel') return bound(registry, fx);
  }
  if (incoming.msgType === 'Alert') {
    fx.add = { key, alert: incoming, state: 'live' };
    return bound(registry, fx);
  }

  const isCancel = incoming.msgType === 'Cancel';
  let stale: string | undefined;
  let cancelledWith: string | undefined;
  const remembered = new Set<string>();
  const memos = new Map(registry.overtaken.filter((o) => o.status === incoming.status).map((o) => [o.key, o]));
  for (const r of incoming.references) {
    const k = alertKey(r);
    const known = byKey.get(k);
    let ends: End[];
    if (known) {
      if (known.alert.status !== incoming.status) {
        fx.notes.push(`reference ${k} ignored: status ${known.alert.status}, not ${incoming.status}`);
        continue;
      }
      ends = terminals(k);
    } else {
      // Not seen, but perhaps already referenced: what stands for it then is what referenced it.
      const memo = memos.get(k);
      const memoBy = memo ? byKey.get(memo.by) : undefined;
      if (memo?.kind === 'superseded' && memoBy) ends = terminals(memoBy.key);
      else if (memo?.kind === 'cancelled' && memoBy) ends = [{ key: k, state: 'cancelled', cancelledBy: memoBy.key }];
      else ends = [];
      // A Cancel's memory outranks an Update's: the late original must stay silent either way, and cancelled says why.
      if (!remembered.has(k) && !(memo?.kind === 'cancelled' && !isCancel)) {
        remembered.add(k);
        fx.remember.push({ key: k, by: key, kind: isCancel ? 'cancelled' : 'superseded', sentMs: incoming.sentMs, status: incoming.status });
      }
    }
    for (const end of ends) {
      if (end.state === 'cancelled') {
        const canceller = end.cancelledBy !== undefined ? byKey.get(end.cancelledBy) : undefined;
        if (isCancel) fx.notes.push(`${end.key} was already cancelled`);
        else if (canceller && canceller.alert.sentMs >= incoming.sentMs) cancelledWith = canceller.key;
      } else if (isCancel) {
        if (!fx.withdraw.includes(end.key)) fx.withdraw.push(end.key);
      } else if (end.sentMs > incoming.sentMs) {
        stale = end.key;
      } else if (!fx.replace.some((x) => x.old === end.key)) {
        fx.replace.push({ old: end.key, by: key });
      }
    }
  }

  if (isCancel) {
    if (fx.withdraw.length === 0 && fx.remember.length === 0) fx.ignore = 'nothing left to cancel';
    // The Cancel itself is kept (never live), so a replay is a duplicate and a late Update can be ordered against it.
    fx.add = { key, alert: incoming, state: 'cancelled', endedBy: key };
    return bound(registry, fx);
  }
  if (stale !== undefined) {
    fx.notes.push(`stale update: ${stale} is newer`);
    fx.replace = [];
    fx.add = { key, alert: incoming, state: 'superseded', endedBy: stale };
  } else if (fx.replace.length === 0 && cancelledWith !== undefined) {
    fx.notes.push(`its alert was cancelled (by ${cancelledWith}) before it was sent`);
    fx.add = { key, alert: incoming, state: 'cancelled', endedBy: cancelledWith };
  } else {
    fx.add = { key, alert: incoming, state: 'live' };
    if (fx.replace.length === 0) fx.notes.push('references no live alert: played as a new alert');
  }
  return bound(registry, fx);
}

function bound(registry: AlertRegistry, fx: Effects): Effects {
  if (fx.remember.length > MAX_OVERTAKEN) {
    fx.notes.push(`${fx.remember.length - MAX_OVERTAKEN} references to unseen alerts not remembered (at most ${MAX_OVERTAKEN})`);
    fx.remember = fx.remember.slice(0, MAX_OVERTAKEN);
  }
  const forget = new Set(fx.forget);
  const renewed = new Set(fx.remember.map((r) => r.key));
  const kept = registry.overtaken.filter((o) => !forget.has(o.key) && !renewed.has(o.key));
  const excess = kept.length + fx.remember.length - MAX_OVERTAKEN;
  if (excess > 0) {
    const oldest = [...kept].sort((a, b) => a.sentMs - b.sentMs).slice(0, excess);
    fx.forget.push(...oldest.map((o) => o.key));
  }
  return fx;
}

/** The registry after the effects (what the adapter persists in one transaction). */
export function applyEffects(registry: AlertRegistry, fx: Effects): AlertRegistry {
  const ended = new Map<string, { state: RegistryState; by: string }>();
  for (const r of fx.replace) ended.set(r.old, { state: 'superseded', by: r.by });
  for (const k of fx.withdraw) ended.set(k, { state: 'cancelled', by: fx.add?.key ?? k });
  const alerts = registry.alerts.map((a) => {
    const e = ended.get(a.key);
    return e ? { ...a, state: e.state, endedBy: e.by } : a;
  });
  if (fx.add) alerts.push(fx.add);
  const forget = new Set(fx.forget);
  const renewed = new Set(fx.remember.map((r) => r.key));
  const overtaken = [...registry.overtaken.filter((o) => !forget.has(o.key) && !renewed.has(o.key)), ...fx.remember.filter((o) => !forget.has(o.key))];
  return { alerts, overtaken };
}

/**
 * The registry without what can no longer matter: ended or expired entries
 * (and remembered references) older than `keepMs` before the lower bound.
 * Kept that long, a replay of an old message is still a duplicate.
 */
export function pruneRegistry(registry: AlertRegistry, bounds: TimeBounds, policy: AlertPolicy, keepMs = 7 * 86_400_000): AlertRegistry {
  const horizon = bounds.lowerMs - keepMs;
  const lastEnd = (a: CapAlert): number => Math.max(a.sentMs, ...a.info.map((i) => infoWindow(a, i, policy).endMs));
  return {
    alerts: registry.alerts.filter((k) => lastEnd(k.alert) >= horizon),
    overtaken: registry.overtaken.filter((o) => o.sentMs >= horizon),
  };
}

// ---------------------------------------------------------------- repeat

/** The parameter by which the province asks for repeats: play again every N minutes until expiry. */
export const REPEAT_PARAMETER = 'LOA_REPEAT_MINUTES';
export const MAX_REPEAT_MINUTES = 1440;

export interface RepeatPlan {
  /** When to play next (bounds' axis), or null: no more plays. */
  nextPlayMs: number | null;
  /** When the alert ends by itself (the board clears): its last info block's end. */
  endsAtMs: number;
  reason: string;
}

/**
 * Next play of an active alert whose last play ended at `lastPlayEndMs`.
 * The interval is the LOA_REPEAT_MINUTES parameter of the first in-force
 * info block that has one (1..1440 whole minutes), else `defaultMinutes`
 * (the province's setting; absent: play once). A play that would start at or
 * after the end is not made.
 */
export function repeatSchedule(
  alert: CapAlert,
  infos: readonly number[],
  lastPlayEndMs: number,
  policy: AlertPolicy,
  defaultMinutes?: number,
): RepeatPlan {
  const blocks = infos.map((i) => alert.info[i]).filter((x): x is AlertInfo => x !== undefined);
  const endsAtMs = blocks.length > 0 ? Math.max(...blocks.map((b) => infoWindow(alert, b, policy).endMs)) : alert.sentMs;
  const param = blocks.flatMap((b) => b.parameters).find((p) => p.valueName === REPEAT_PARAMETER);
  let minutes: number | undefined = defaultMinutes;
  let source = 'station default';
  if (param) {
    const v = param.value.trim();
    const n = /^\d{1,4}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= MAX_REPEAT_MINUTES)) return { nextPlayMs: null, endsAtMs, reason: `${REPEAT_PARAMETER} "${param.value}" is not 1-${MAX_REPEAT_MINUTES}: played once` };
    minutes = n;
    source = REPEAT_PARAMETER;
  }
  if (minutes === undefined) return { nextPlayMs: null, endsAtMs, reason: 'no repeat asked: played once' };
  if (!Number.isFinite(lastPlayEndMs)) return { nextPlayMs: null, endsAtMs, reason: 'no valid time of the last play' };
  const next = lastPlayEndMs + minutes * 60_000;
  if (next >= endsAtMs) return { nextPlayMs: null, endsAtMs, reason: `next repeat would be after the end (${iso(endsAtMs)})` };
  return { nextPlayMs: next, endsAtMs, reason: `every ${minutes} min (${source})` };
}
