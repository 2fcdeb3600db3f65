/**
 * PURE: the self-update's decisions, as plain functions of plain data
 * (agent/test/update-logic.test.ts): may the station switch now, what the
 * boot check does at each start, whether a release on trial is committed or
 * rolled back, and what an agent does at start with the marker it finds.
 *
 * The marker (`<state>/update/marker.json`) is the one record of an update
 * in progress; it is written (atomically) before every step it describes.
 *   trial         `current` points at `to`; not committed yet; `starts`
 *                 counts the boot check's starts of it
 *   rolling-back  `current` points at `from` again; the database still has
 *                 to be brought back to `from`'s schema
 *   rolled-back   done; `reason` says why; `reported` once told the province
 *   committed     `to` stays; `reported` once told the province
 */

export type MarkerState = 'trial' | 'rolling-back' | 'rolled-back' | 'committed';

export interface UpdateMarker {
  state: MarkerState;
  from: string;
  to: string;
  switchedMs: number;
  /** Starts of `to` seen by the boot check (systemd's ExecStartPre). */
  starts: number;
  /** The online backup taken just before the switch (null: none was needed). */
  backup: string | null;
  /** PRAGMA user_version before the switch: what `from` can open. */
  schemaBefore: number;
  /** The last play-log row before the switch: the trial judges the rows after it. */
  playLogSeq: number;
  reason?: string;
  reported?: boolean;
  /** Versions rolled back on this station: announced again, they are refused. */
  failed: string[];
}

// --- the gap -------------------------------------------------------------------

export interface GateInput {
  onAir: string | null;
  /** An active emergency or alert (between its repeats too). */
  emergency: string | null;
  /** Requests waiting to play now. */
  queued: number;
  /** Milliseconds until the next scheduled programme starts (null: none in sight). */
  nextProgrammeInMs: number | null;
  gapMs: number;
}

export type GateVerdict = { go: true } | { go: false; why: string };

/** The switch (a restart of a few seconds) happens only in a gap: never over a broadcast, never during an emergency. */
export function gateVerdict(g: GateInput): GateVerdict {
  if (g.emergency) return { go: false, why: `emergency active (${g.emergency})` };
  if (g.onAir) return { go: false, why: `on air (${g.onAir})` };
  if (g.queued > 0) return { go: false, why: `${g.queued} request(s) waiting to play` };
  if (g.nextProgrammeInMs !== null && g.nextProgrammeInMs < g.gapMs) return { go: false, why: `a programme starts in ${Math.max(0, Math.round(g.nextProgrammeInMs / 1000))} s` };
  return { go: true };
}

// --- the boot check --------------------------------------------------------------

export type BootAction =
  | { kind: 'none' }
  | { kind: 'count'; marker: UpdateMarker }
  | { kind: 'switch-back'; marker: UpdateMarker; to: string };

/**
 * What the boot check does before each start of the agent. It runs from
 * the previous release (the one known to have worked), so a new release
 * that dies before it can judge itself is still caught: after `maxStarts`
 * starts without a commit, `current` goes back to `from`.
 */
export function bootAction(marker: UpdateMarker | null, current: string | null, maxStarts: number): BootAction {
  if (!marker || marker.state !== 'trial') return { kind: 'none' };
  if (current !== marker.to) {
    // The switch never completed (power cut between marker and symlink), or someone switched by hand.
    return { kind: 'switch-back', to: marker.from, marker: rollingBack(marker, `the switch to ${marker.to} did not complete (current is ${current ?? 'missing'})`) };
  }
  const starts = marker.starts + 1;
  if (starts > maxStarts) {
    return { kind: 'switch-back', to: marker.from, marker: rollingBack({ ...marker, starts }, `${marker.to} started ${marker.starts} times without committing (crash loop)`) };
  }
  return { kind: 'count', marker: { ...marker, starts } };
}

/** The marker of a release given up: `to` is never taken again on this station. */
export function rollingBack(marker: UpdateMarker, reason: string): UpdateMarker {
  return { ...marker, state: 'rolling-back', reason, reported: false, failed: marker.failed.includes(marker.to) ? marker.failed : [...marker.failed, marker.to] };
}

// --- the trial -------------------------------------------------------------------

export interface TrialInput {
  /** Since this start of the new release (monotonic). */
  runningMs: number;
  /** Since the switch (wall clock; the restart and earlier starts included). */
  sinceSwitchMs: number;
  commitAfterMs: number;
  trialMaxMs: number;
  /** Null: the station has no province link to judge. */
  linkUp: boolean | null;
  /** Play-log rows since the switch that say missed or failed. */
  missedOrFailed: number;
  /** The conductor answered its last ping. */
  conductorResponsive: boolean;
  /** Errors nobody caught (daemon/fault-guard.ts) in this run. */
  faults: number;
}

export type TrialVerdict = { kind: 'wait'; why: string } | { kind: 'commit' } | { kind: 'rollback'; reason: string };

/** A release is committed after `commitAfterMs` of health: playing on schedule, link up, no crash, nothing caught. */
export function trialVerdict(t: TrialInput): TrialVerdict {
  if (t.missedOrFailed > 0) return { kind: 'rollback', reason: `${t.missedOrFailed} programme item(s) missed or failed since the switch` };
  if (!t.conductorResponsive) return { kind: 'rollback', reason: 'the conductor stopped answering' };
  if (t.faults > 0) return { kind: 'rollback', reason: `${t.faults} internal error(s) caught since the start` };
  if (t.runningMs < t.commitAfterMs) return { kind: 'wait', why: `healthy for ${Math.round(t.runningMs / 1000)} of ${Math.round(t.commitAfterMs / 1000)} s` };
  if (t.linkUp === false) {
    if (t.sinceSwitchMs >= t.trialMaxMs) return { kind: 'rollback', reason: `the province link has not come up within ${Math.round(t.trialMaxMs / 1000)} s of the switch` };
    return { kind: 'wait', why: 'waiting for the province link' };
  }
  return { kind: 'commit' };
}

// --- at the agent's start ----------------------------------------------------------

export type StartupAction =
  | { kind: 'none' }
  /** This is `from` after a rollback: bring the database back to its schema before opening it. */
  | { kind: 'restore' }
  /** This is `to` on trial: watch its health. */
  | { kind: 'trial' }
  /** An outcome the province has not been told yet. */
  | { kind: 'report' };

export function startupAction(marker: UpdateMarker | null, running: string): StartupAction {
  if (!marker) return { kind: 'none' };
  if (marker.state === 'rolling-back' && running === marker.from) return { kind: 'restore' };
  if (marker.state === 'trial' && running === marker.to) return { kind: 'trial' };
  if ((marker.state === 'rolled-back' || marker.state === 'committed') && !marker.reported) return { kind: 'report' };
  return { kind: 'none' };
}

// --- announcements -----------------------------------------------------------------

export interface OfferInput {
  version: string;
  running: string;
  /** The version `<root>/current` points at (null: no install layout there). */
  current: string | null;
  /** The database's schema now. */
  schemaNow: number;
  schema: { min: number; max: number };
  marker: UpdateMarker | null;
  /** A version being fetched or waiting for its gap. */
  busyWith: string | null;
  bytes: number;
  maxBytes: number;
}

/** Refusal reason for an announced release, or null: go ahead. */
export function offerRefusal(o: OfferInput): string | null {
  if (o.version === o.running) return `${o.version} is already running`;
  // Rolling back needs the running release where `current` can point back to it.
  if (o.current !== o.running) return `this agent (${o.running}) does not run from the install root's current release (${o.current ?? 'none'}): updates need the /opt/loa layout`;
  if (o.busyWith === o.version) return `${o.version} is already being installed`;
  if (o.busyWith) return `busy installing ${o.busyWith}`;
  if (o.marker?.state === 'trial' || o.marker?.state === 'rolling-back') return `an update (${o.marker.from} → ${o.marker.to}) is still ${o.marker.state === 'trial' ? 'on trial' : 'rolling back'}`;
  if (o.marker?.failed.includes(o.version)) return `${o.version} was rolled back on this station before: publish a new version`;
  // An older release must never meet a newer database.
  if (o.schemaNow > o.schema.max) return `${o.version} opens database schemas up to ${o.schema.max}; this station's is ${o.schemaNow}`;
  if (o.schemaNow < o.schema.min) return `${o.version} needs database schema ${o.schema.min} or later; this station's is ${o.schemaNow}: install an intermediate release first`;
  if (o.bytes > o.maxBytes) return `bundle of ${o.bytes} bytes is larger than update.maxBundleMb allows (${o.maxBytes})`;
  return null;
}
