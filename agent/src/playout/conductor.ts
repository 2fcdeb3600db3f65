import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Occurrence, Programme, InterruptionPolicy, BulletinClass } from '../domain/types.js';
import { classOf } from '../domain/types.js';
import type { StationRequest } from '../domain/request.js';
import { decide, type Candidate, type OccurrenceRecord, type ResumePoint } from '../schedule/arbiter.js';
import { expandOccurrences } from '../schedule/planner.js';
import { expand, planSession, usableZones, type PlanSubject, type PlanWarning } from '../schedule/session-plan.js';
import type { StationStore, PlayLogRow, PendingRequestRow, RequestState } from '../store/station-store.js';
import { WriteBehind } from '../store/write-behind.js';
import { sleep } from '../lib/backoff.js';
import { gateVerdict } from '../update/trial.js';
import { isPlannedLive, liveProof, runSession, rowIdentity, type PlannedItem, type SessionPlan, type SessionPorts, type SessionOutcome } from './session.js';

/** What the province's target may change while the station runs. */
export interface StationSettings {
  /** Per zone: volume trim 0-100, and whether the schedule may use it at all (a broken horn line). */
  zones: Array<{ name: string; volume: number; enabled: boolean }>;
  graceMs: number;
  emergencyVolume: number;
  /** 0-100 on top of programme and zone volume. */
  masterVolume: number;
}

/** What is on air, for the CLI, the province and the board. */
export interface NowPlaying {
  key: string;
  label: string;
  priority: number;
  zones: string[];
  origin: string;
  startedMs: number;
  display?: { text: string; instructions: string };
  /** A live item on air now: what it relays and what the board says of it. */
  live?: { label: string; display?: string };
}

export interface ConductorOptions {
  store: StationStore;
  ports: SessionPorts;
  log: Logger;
  timezone: string;
  interruption: Record<BulletinClass, InterruptionPolicy>;
  settings: StationSettings;
  /** Cached chime content and the classes it precedes, if enabled. */
  chime: { content: string; classes: BulletinClass[] } | null;
  /** Pre-roll allowance on top of the relay lead: decoder spawn and verification. */
  prerollMs: number;
  volumeGainDb: (volumePercent: number) => number;
  clock: { trusted: boolean; label(): string };
  now?: () => number;
}

/** Held by the updater while it switches releases; `revoked` aborts when a session starts. */
export interface UpdateLock {
  revoked: AbortSignal;
  release(): void;
}

/** A session's transitions, for the board, the tests and the demo. */
export interface SessionEvent {
  key: string;
  label: string;
  state: 'started' | 'completed' | 'stopped' | 'interrupted' | 'failed';
}

export interface ConductorEvents {
  session: [SessionEvent];
  /** A play-log row, once it is stored. */
  played: [PlayLogRow];
  /** A live item of the session on air began or ended (nowPlaying().live says which). */
  live: [{ key: string }];
}

interface Current {
  key: string;
  priority: number;
  plan: SessionPlan;
  candidate: Candidate;
  controller: AbortController;
  /** The session has stopped (no more audio from it); its records may still wait, see `holdRecords`. */
  released: Promise<void>;
  /** Its records are written: play-log rows, request and occurrence states. */
  done: Promise<void>;
  /** Delays the rest of its records until `until` settles (a preemption's first sample). */
  holdRecords(until: Promise<void>): void;
  startedMs: number;
  live?: { label: string; display?: string };
}

const DAY = 86_400_000;
/** How far back occurrences are accounted for (missed rows after a long outage). */
const LOOKBACK_MS = 7 * DAY;
const LOOKAHEAD_MS = 8 * DAY;

/**
 * The conductor owns "what plays now". It asks the pure arbiter, runs one
 * session at a time, records everything, and sleeps until the next deadline
 * instead of polling. Every decision runs through one queue, so two triggers
 * (a timer and an operator request) can never start two sessions.
 *
 * Emits `ConductorEvents` for observers.
 */
export class Conductor extends EventEmitter<ConductorEvents> {
  private programmes = new Map<string, Programme & { knownSinceMs: number }>();
  private scheduleProblems: string[] = [];
  private current: Current | null = null;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private powerDown: AbortController | null = null;
  private relayTestRun: { key: string; controller: AbortController } | null = null;
  private stopped = false;
  private hold: Hold | null = null;
  private holdTimer: NodeJS.Timeout | null = null;
  private updateHold: AbortController | null = null;
  private readonly now: () => number;

  constructor(private readonly o: ConductorOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.behind = new WriteBehind(o.log);
  }

  // --- records through the write-behind --------------------------------------
  // A full or read-only SD card must not take the station off air: what the disk will not take is held in
  // memory (WriteBehind) and the decisions read it from there, so nothing is played twice meanwhile.

  private readonly behind: WriteBehind;
  private readonly unsavedMarks = new Map<string, OccurrenceRecord>();
  private readonly unsavedRequests = new Map<string, { state: RequestState; added?: PendingRequestRow }>();
  /** Keys for records that never replace one another (rows, events). */
  private recordSeq = 0;

  private markOccurrence(o: { id: string; programmeId: string; startMs: number }, state: OccurrenceRecord['state'], resume: ResumePoint, nowMs: number, also?: () => void): void {
    const record: OccurrenceRecord = { state, resume, updatedMs: nowMs };
    const written = this.behind.run(`occurrence:${o.id}`, () => {
      this.o.store.db.transaction(() => {
        this.o.store.markOccurrence(o, state, resume, nowMs);
        also?.();
      })();
      if (this.unsavedMarks.get(o.id) === record) this.unsavedMarks.delete(o.id);
    });
    if (!written) this.unsavedMarks.set(o.id, record);
  }

  private setRequestState(id: string, state: RequestState, nowMs: number, resume?: ResumePoint): void {
    // A request the disk has not taken yet stays known (its document) until it has.
    const added = this.unsavedRequests.get(id)?.added;
    const entry = { state, ...(added ? { added } : {}) };
    const written = this.behind.run(`request-state:${id}`, () => {
      this.o.store.setRequestState(id, state, nowMs, resume);
      if (this.unsavedRequests.get(id) === entry) this.unsavedRequests.delete(id);
    });
    if (!written) this.unsavedRequests.set(id, entry);
  }

  private addRequest(request: StationRequest, nowMs: number): void {
    const entry = { state: 'pending' as RequestState, added: { request, createdMs: nowMs } };
    const written = this.behind.run(`request-add:${request.id}`, () => {
      this.o.store.addRequest(request, nowMs);
      const now = this.unsavedRequests.get(request.id);
      if (now === entry) this.unsavedRequests.delete(request.id);
      else if (now) delete now.added;
    });
    if (!written) this.unsavedRequests.set(request.id, entry);
  }

  private logPlays(rows: PlayLogRow[], nowMs: number): void {
    if (rows.length > 0) this.behind.run(`rows:${++this.recordSeq}`, () => this.o.store.logPlays(rows, nowMs));
  }

  private recordEvent(...args: Parameters<StationStore['recordEvent']>): void {
    this.behind.run(`event:${++this.recordSeq}`, () => this.o.store.recordEvent(...args));
  }

  private occurrenceRecords(sinceMs: number): Map<string, OccurrenceRecord> {
    const records = this.o.store.occurrenceRecords(sinceMs);
    for (const [id, r] of this.unsavedMarks) records.set(id, r);
    return records;
  }

  private pendingRequests(mode: StationRequest['mode']): PendingRequestRow[] {
    const stored = this.o.store.pendingRequests(mode).filter((r) => (this.unsavedRequests.get(r.request.id)?.state ?? 'pending') === 'pending');
    const added = [...this.unsavedRequests.values()].filter((u) => u.state === 'pending' && u.added?.request.mode === mode).map((u) => u.added!);
    return [...stored, ...added];
  }

  private requestState(id: string): RequestState | null {
    return this.unsavedRequests.get(id)?.state ?? this.o.store.requestState(id);
  }

  /** The state disk refusing writes, for `loa status`. */
  get storageProblem(): string | null {
    return this.behind.problem();
  }

  start(): void {
    this.reloadSchedule();
    this.loadHold();
    this.recoverUnfinished();
    this.kick('start');
  }

  /**
   * Sessions that were on air when the agent died (crash, power cut). The
   * item cut off gets its play-log row. The session may go on only within
   * the grace window counted from its last recorded progress (an item
   * done, or the first return of the item a cut left unfinished), never
   * from the restart, however often the power fails: a
   * 06:00 programme resumes minutes late or not at all. A request goes on
   * only until it expires; one without its own expiry gets the same window.
   * With the clock untrusted the window cannot be judged here: the records
   * keep the time of the cut, and the arbiter (programmes) or the expiry
   * check (requests) decide once the clock is trusted.
   */
  private recoverUnfinished(): void {
    const now = this.now();
    const trusted = this.o.clock.trusted;
    const graceMs = this.o.settings.graceMs;
    const reason = 'agent stopped while on air (crash or power loss)';
    const unfinished = this.o.store.unfinished();
    for (const o of unfinished.occurrences) {
      const p = this.programmes.get(o.programmeId);
      const items = p ? expand(p.items) : [];
      const item = items.find((it) => it.origin.kind === 'item' && it.origin.index === o.resume.item);
      // Cut after its last item had played: nothing is left to resume (no relays switched for nothing).
      const finished = p !== undefined && o.resume.item >= items.length;
      // A live relay still on the air in the world is rejoined to its end, whatever the grace window.
      const rejoin = trusted && o.resume.untilMs !== undefined && now < o.resume.untilMs;
      const late = trusted && now > o.updatedMs + graceMs && !rejoin;
      // Too late: the cut item has its row here and the arbiter records the rest as missed.
      const resume = late && item ? { item: o.resume.item + 1, offsetMs: 0 } : o.resume;
      this.o.store.db.transaction(() => {
        this.o.store.markOccurrence(o, finished ? 'done' : 'interrupted', resume, rejoin ? now : o.updatedMs);
        if (item) {
          this.o.store.logPlays([{
            source: 'schedule', programmeId: o.programmeId, occurrenceId: o.id, ...itemProof(item), priority: p!.priority,
            scheduledMs: o.startMs, zones: this.knownZones(p!.zones), volume: p!.volume, result: 'interrupted',
            reason: late ? `${reason}; not resumed: the grace window had passed` : reason, clock: this.o.clock.label(),
          }], now);
        }
      })();
      if (late) this.o.log.warn({ occurrence: o.id, cutAt: new Date(o.updatedMs).toISOString() }, 'agent stopped while on air: too late to resume, not replayed');
      else this.o.log.warn({ occurrence: o.id, resume: o.resume, cutAt: new Date(o.updatedMs).toISOString() }, 'agent stopped while on air: resumes if within the grace window of the cut');
    }
    for (const r of unfinished.requests) {
      const { request } = r;
      // A live relay already on air is rejoined until its end: its expiry bounded when it could start.
      const liveUntilMs = r.resume.untilMs;
      const expiresMs = liveUntilMs !== undefined && trusted && now < liveUntilMs ? liveUntilMs : (request.expiresMs ?? r.updatedMs + graceMs);
      const expired = trusted && now > expiresMs;
      const items = expand(request.items);
      const item = items.find((it) => it.origin.kind === 'item' && it.origin.index === r.resume.item);
      const finished = r.resume.item >= items.length;
      // Zones and volume as the session had them: the same Circular 39 rules that planned it.
      const { plan } = this.planSessionFor(`request:${request.id}`, { kind: 'request', request }, now);
      this.o.store.db.transaction(() => {
        if (item) {
          this.o.store.logPlays([{
            ...rowIdentity(plan), ...itemProof(item), priority: request.priority,
            zones: plan.zones, volume: plan.volume, result: 'interrupted',
            reason: expired ? `${reason}; not resumed: the request had expired` : reason, clock: this.o.clock.label(),
          }], now);
        }
        if (finished) this.o.store.setRequestState(request.id, 'done', now);
        else if (expired) this.o.store.setRequestState(request.id, 'expired', now);
        else this.o.store.requeueRequest(request.id, r.resume, expiresMs, now);
      })();
      if (expired) this.o.log.warn({ request: request.id, expiredAt: new Date(expiresMs).toISOString() }, 'agent stopped while a request was on air: expired, not replayed');
      else this.o.log.warn({ request: request.id, resume: r.resume, until: new Date(expiresMs).toISOString() }, 'agent stopped while a request was on air: it goes on until it expires');
    }
  }

  /** Re-reads the schedule from the store (after an import or a new target). */
  reloadSchedule(): void {
    const { programmes, problems } = this.o.store.loadProgrammes();
    this.programmes = new Map(programmes.map((p) => [p.id, p]));
    if (problems.length > 0 && problems.join() !== this.scheduleProblems.join()) {
      this.o.log.error({ problems }, 'schedule rows skipped: they do not validate');
    }
    this.scheduleProblems = problems;
  }

  get problems(): readonly string[] {
    return this.scheduleProblems;
  }

  /** Re-decide now (clock change, new request, schedule change). */
  kick(why: string): void {
    this.queue = this.queue.then(() => this.evaluate(why)).catch((err: unknown) => {
      this.o.log.error({ err }, 'conductor evaluation failed');
    });
  }

  /**
   * Resolves true once everything queued before it has been decided: the
   * watchdog's proof that the conductor is not wedged. False if it takes
   * longer than `timeoutMs`.
   */
  ping(timeoutMs = 10_000): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.queue = this.queue.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Adds an operator request and decides at once. */
  submit(request: StationRequest): void {
    this.addRequest(request, this.now());
    this.o.log.info({ request: request.id, priority: request.priority, mode: request.mode, origin: request.origin }, 'request accepted');
    this.kick(`request ${request.id}`);
  }

  /**
   * Puts `request` in place of request `oldId` (a CAP Update): if the old one
   * is on air it is cut at once and the new one starts in the same decision,
   * as a preemption does, whatever their priorities (the arbiter preempts
   * only on a strictly higher one); if it is still queued it is withdrawn.
   * The old request's remaining items are logged skipped with `reason`.
   */
  async replace(oldId: string, request: StationRequest, reason: string): Promise<void> {
    await this.inQueue(async () => {
      const now = this.now();
      this.addRequest(request, now);
      this.o.log.info({ request: request.id, replaces: oldId, origin: request.origin }, 'request replaces another');
      const cut = this.current?.key === `request:${oldId}` ? this.current : null;
      if (!cut) {
        if (this.requestState(oldId) === 'pending') this.setRequestState(oldId, 'cancelled', now);
        await this.evaluate(`request ${request.id} replaces ${oldId}`);
        return;
      }
      const onAir = await this.cutFor(cut, new StopSignal(reason, 'cancelled'));
      const candidate: Candidate = { key: `request:${request.id}`, priority: request.priority, kind: 'request', request: { id: request.id, priority: request.priority, createdMs: now } };
      const plan = this.planFor(candidate, request);
      if (plan) this.begin(candidate, plan, onAir);
      else onAir();
    });
  }

  /**
   * Cuts what is on air for a successor that begins in the same decision.
   * The cut session's records (its row, its resume point) are written once
   * the successor's first sample is out, not before it: each commit is an
   * fsync. A crash in between leaves the cut session "playing", which the
   * restart records as interrupted and resumes. Resolves once the cut one is
   * silent, with what the successor calls when it is on air.
   */
  private async cutFor(cut: Current, why: Error): Promise<() => void> {
    let onAir: () => void = () => undefined;
    cut.holdRecords(new Promise<void>((resolve) => (onAir = resolve)));
    cut.controller.abort(why);
    await cut.released;
    return onAir;
  }

  /** Stops what plays now (operator stop): the rest of it is skipped, not resumed. */
  async stopCurrent(reason = 'stopped by operator'): Promise<string | null> {
    const current = this.current;
    if (!current) return null;
    current.controller.abort(new StopSignal(reason));
    await current.done;
    return current.key;
  }

  /**
   * The station's emergency stop (`loa stop --all`, the stop button): one
   * decision in the queue. What is on air ends (its rest skipped), every
   * request waiting to play now is dropped, a relay test is cut, and new
   * emergencies are held off for `holdOffMs` (0: none): a stuck button, a
   * replayed trigger or a false alert sent again cannot put the speakers
   * back on while people sort it out. Resolves once the sink has gone
   * silent; `done` once the records of what was cut are written.
   */
  stopAll(o: { holdOffMs: number; by: string }): Promise<StopAllOutcome & { done: Promise<void> }> {
    return this.inQueue(async () => {
      const now = this.now();
      const reason = `stopped: ${o.by}`;
      const cut = this.current;
      cut?.controller.abort(new StopSignal(reason));
      this.relayTestRun?.controller.abort(new StopSignal(reason));
      const dropped = this.pendingRequests('now').map((r) => r.request);
      this.o.store.db.transaction(() => {
        for (const request of dropped) this.dropRequest(request, `dropped before it played: ${reason}`, now);
        if (o.holdOffMs > 0) this.setHold({ untilMs: now + o.holdOffMs, durationMs: o.holdOffMs, by: o.by, sinceMs: now });
        this.o.store.recordEvent('playout.stopped', 'warn', `all stopped (${o.by}): ${cut ? cut.plan.label : 'nothing on air'}; ${dropped.length} queued dropped${o.holdOffMs > 0 ? `; emergencies held off until ${new Date(now + o.holdOffMs).toISOString()}` : ''}`,
          { by: o.by, stopped: cut?.key ?? null, dropped: dropped.map((r) => r.id), holdOffMs: o.holdOffMs }, now);
      })();
      this.o.log.warn({ by: o.by, stopped: cut?.key, dropped: dropped.map((r) => r.id), holdOffMs: o.holdOffMs }, 'all stopped');
      await cut?.released;
      const outcome: StopAllOutcome = { stopped: cut?.key ?? null, dropped: dropped.map((r) => r.id), heldOffUntilMs: this.heldOffUntil() };
      return { ...outcome, done: cut ? cut.done : Promise.resolve() };
    });
  }

  /** Ends a hold-off before its time (`loa stop --release`); false if none was on. */
  releaseHold(by: string): Promise<boolean> {
    return this.inQueue(() => {
      if (!this.currentHold()) return false;
      this.endHold(`released (${by})`);
      this.kick('hold-off released');
      return true;
    });
  }

  /**
   * When the hold-off after a stop ends (wall-clock ms, counted on the
   * monotonic clock), or null when none is on. While it is on, emergency
   * requests are recorded as held off and never played (see `evaluate`):
   * an alert source that submits through the conductor needs nothing else;
   * one that keeps its own records may ask here to say why it stayed silent.
   */
  heldOffUntil(): number | null {
    const h = this.currentHold();
    return h ? Math.round(this.now() + h.untilMono - performance.now()) : null;
  }

  /**
   * Takes back one request (the province's `stop` for a command, an alert's
   * Cancel), in the queue: on air, it stops there (its rest skipped);
   * waiting, it never plays. Either way it ends `cancelled` with `reason` in
   * its play-log rows. Null when it is neither (unknown, or already over).
   */
  withdraw(requestId: string, reason: string): Promise<{ was: 'on-air' | 'queued'; done: Promise<void> } | null> {
    return this.inQueue(async () => {
      const current = this.current;
      if (current?.key === `request:${requestId}`) {
        current.controller.abort(new StopSignal(reason, 'cancelled'));
        await current.released;
        return { was: 'on-air' as const, done: current.done };
      }
      const queued = [...this.pendingRequests('now'), ...this.pendingRequests('next-programme')].find((r) => r.request.id === requestId);
      if (!queued) return null;
      this.o.store.db.transaction(() => this.dropRequest(queued.request, reason, this.now()))();
      this.o.log.warn({ request: requestId, reason }, 'queued request withdrawn: it will not play');
      this.kick(`request ${requestId} withdrawn`);
      return { was: 'queued' as const, done: Promise.resolve() };
    });
  }

  /** A request that will not play: `cancelled`, each of its items a skipped row saying why. Call inside a transaction. */
  private dropRequest(request: StationRequest, reason: string, nowMs: number): void {
    const { plan } = this.planSessionFor(`request:${request.id}`, { kind: 'request', request }, nowMs);
    this.o.store.setRequestState(request.id, 'cancelled', nowMs);
    this.o.store.logPlays(plan.items.filter((it) => it.origin.kind === 'item').map((it) => this.skippedRow(plan, it, reason)), nowMs);
  }

  /** A hold-off in force, or null; one whose time is up is ended here (and recorded). */
  private currentHold(): Hold | null {
    if (this.hold && performance.now() >= this.hold.untilMono) this.endHold('its time is up');
    return this.hold;
  }

  private setHold(h: PersistedHold): void {
    this.o.store.setMeta(HOLD_KEY, JSON.stringify(h));
    this.armHold(h, h.durationMs);
  }

  private armHold(h: PersistedHold, remainingMs: number): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.hold = { ...h, untilMono: performance.now() + remainingMs };
    // Its end is a decision too: the record says when, and whatever comes next is judged without it.
    this.holdTimer = setTimeout(() => this.kick('hold-off over'), remainingMs + 5);
  }

  private endHold(why: string): void {
    const h = this.hold;
    if (!h) return;
    this.hold = null;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    const now = this.now();
    this.o.store.db.transaction(() => {
      this.o.store.setMeta(HOLD_KEY, '');
      this.o.store.recordEvent('alerts.hold-off-ended', 'info', `emergencies no longer held off: ${why}`, { by: h.by, sinceMs: h.sinceMs }, now);
    })();
    this.o.log.info({ by: h.by, why }, 'hold-off ended: emergencies play again');
  }

  /**
   * A hold-off survives a power cut: after the restart it lasts until its
   * end time, but never longer than it was set for (the wall clock may have
   * come back years behind), and not at all if the clock is past its end.
   */
  private loadHold(): void {
    const raw = this.o.store.getMeta(HOLD_KEY);
    if (!raw) return;
    const h = parseHold(raw);
    const remainingMs = h ? Math.min(Math.max(h.untilMs - this.now(), 0), h.durationMs) : 0;
    if (!h) this.o.log.error({ raw: raw.slice(0, 200) }, 'stored hold-off unreadable: none applies');
    if (!h || remainingMs <= 0) {
      this.o.store.setMeta(HOLD_KEY, '');
      if (h) this.o.log.info({ by: h.by }, 'hold-off from before the restart is over');
      return;
    }
    this.armHold(h, remainingMs);
    this.o.log.warn({ by: h.by, remainingMs }, 'hold-off from before the restart still on: emergencies held off');
  }

  /** Held off: recorded, never played. */
  private holdBack(request: StationRequest, hold: Hold, nowMs: number): void {
    const reason = `held off: emergencies stopped (${hold.by}) until ${new Date(this.heldOffUntil() ?? nowMs).toISOString()}; loa stop --release ends it`;
    this.o.store.db.transaction(() => {
      this.dropRequest(request, reason, nowMs);
      this.o.store.recordEvent('alerts.held-off', 'warn', `${request.label || request.id}: ${reason}`, { request: request.id, origin: request.origin, by: hold.by }, nowMs);
    })();
    this.o.log.warn({ request: request.id, origin: request.origin, by: hold.by }, 'emergency held off after a stop: recorded, not played');
  }

  /**
   * A relay test (the province's `relay-test`): decided in the queue like a
   * session, refused while one is on air, and cut short by any session that
   * begins (an emergency first of all), whose power-up then finds the zones
   * already on. A cut test never powers down: the session owns the relays.
   */
  relayTest(zones: readonly string[], durationMs: number): Promise<{ done: Promise<RelayTestOutcome> }> {
    return this.inQueue(() => {
      this.refuseWhileBusy('relay test');
      this.powerDown?.abort();
      this.powerDown = null;
      const controller = new AbortController();
      const key = `relay-test:${this.now()}`;
      this.relayTestRun = { key, controller };
      const relays = this.o.ports.relays;
      this.o.log.info({ zones, durationMs }, 'relay test starting');
      const done = (async (): Promise<RelayTestOutcome> => {
        try {
          await relays.powerUp(zones, this.now(), controller.signal);
          await sleep(durationMs, controller.signal);
          await relays.powerDown(controller.signal);
          return { completed: true };
        } catch (err) {
          if (!controller.signal.aborted) throw err;
          return { completed: false, cutBy: String((controller.signal.reason as Error)?.message ?? controller.signal.reason) };
        } finally {
          if (this.relayTestRun?.key === key) this.relayTestRun = null;
          this.o.log.info({ zones, cut: controller.signal.aborted }, 'relay test ended');
        }
      })();
      return { done };
    });
  }

  /**
   * An operator's own switch (`loa relay`, `loa bridge relay`): decided in
   * the queue, refused while a session or a relay test is on air, and run
   * between relay sequences, never inside one.
   */
  operatorRelay<T>(what: string, op: () => Promise<T>): Promise<{ done: Promise<T> }> {
    return this.inQueue(() => {
      this.refuseWhileBusy(what);
      return { done: this.o.ports.relays.exclusive(op) };
    });
  }

  private refuseWhileBusy(what: string): void {
    if (this.current) throw new RelaysBusyError('on-air', `a broadcast is on air (${this.current.plan.label}): ${what} refused; stop it first (loa stop)`, this.current.plan.label);
    if (this.relayTestRun) throw new RelaysBusyError('relay-test', `a relay test is running: ${what} refused until it ends`, '');
  }

  /** Runs `op` in the decision queue, which waits for it to settle (wrap long work in an object to let the queue go on). */
  private inQueue<T>(op: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * The update lock (update/updater.ts): granted in the decision queue only
   * in a gap (update/trial.ts `gateVerdict`: nothing on air, no relay test,
   * nothing waiting to play, no programme due within `gapMs`, no emergency).
   * It holds nothing back: a session that starts while it is held revokes it
   * (`revoked` aborts), and the updater, which checks it just before the
   * switch, waits for the next gap.
   */
  updateLock(gapMs: number, emergency: string | null): Promise<UpdateLock | { refused: string }> {
    return this.inQueue(() => {
      const now = this.now();
      const graceMs = this.o.settings.graceMs;
      // A programme still within its grace window and not yet recorded is about to start.
      const due = this.agenda(now - graceMs, 2).filter((o) => o.state === 'scheduled' && o.startMs + graceMs > now).map((o) => o.startMs);
      const verdict = gateVerdict({
        onAir: this.current ? this.current.plan.label || this.current.key : this.relayTestRun ? 'relay test' : null,
        emergency,
        queued: this.pendingRequests('now').length,
        nextProgrammeInMs: due.length > 0 ? Math.max(0, Math.min(...due) - now) : null,
        gapMs,
      });
      if (!verdict.go) return { refused: verdict.why };
      const hold = new AbortController();
      this.updateHold?.abort(new Error('superseded'));
      this.updateHold = hold;
      return { revoked: hold.signal, release: () => void (this.updateHold === hold && (this.updateHold = null)) };
    });
  }

  nowPlaying(): NowPlaying | null {
    const c = this.current;
    return c ? { key: c.key, label: c.plan.label, priority: c.priority, zones: c.plan.zones, origin: c.plan.origin, startedMs: c.startedMs, ...(c.plan.kind === 'request' && c.plan.display ? { display: c.plan.display } : {}), ...(c.live ? { live: c.live } : {}) } : null;
  }

  /** Occurrences from `fromMs` for `days`, with what happened to each. */
  agenda(fromMs: number, days: number): Array<Occurrence & { name: string; state: string }> {
    const occ = expandOccurrences([...this.programmes.values()], fromMs, fromMs + days * DAY, this.o.timezone);
    const records = this.occurrenceRecords(fromMs);
    return occ.map((o) => ({
      ...o,
      name: this.programmes.get(o.programmeId)?.name ?? o.programmeId,
      state: this.current?.key === `occurrence:${o.id}` ? 'playing' : (records.get(o.id)?.state ?? 'scheduled'),
    }));
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.relayTestRun?.controller.abort(new Error('agent stopping'));
    if (this.current) {
      this.current.controller.abort(new Error('agent stopping'));
      await this.current.done;
    }
    await this.queue;
    // The last chance for records held while the disk refused them.
    this.behind.flush();
    this.behind.close();
    this.powerDown?.abort();
    await this.o.ports.relays.allOff();
  }

  // ------------------------------------------------------------------------

  private leadFor = (zones: readonly string[]): number => this.o.ports.relays.leadMs(zones) + this.o.prerollMs;

  private async evaluate(why: string): Promise<void> {
    if (this.stopped) return;
    const now = this.now();
    const trusted = this.o.clock.trusted;
    const occurrences = trusted ? expandOccurrences([...this.programmes.values()], now - LOOKBACK_MS, now + LOOKAHEAD_MS, this.o.timezone) : [];
    const records = this.occurrenceRecords(now - LOOKBACK_MS);
    const hold = this.currentHold();
    const requests = this.pendingRequests('now').filter((r) => {
      if (trusted && r.request.expiresMs !== undefined && r.request.expiresMs < now) {
        this.setRequestState(r.request.id, 'expired', now);
        this.o.log.warn({ request: r.request.id }, 'request expired before it could play: dropped');
        return false;
      }
      if (hold && classOf(r.request.priority) === 'emergency') {
        this.holdBack(r.request, hold, now);
        return false;
      }
      return `request:${r.request.id}` !== this.current?.key;
    });
    const decision = decide({
      nowMs: now,
      clockTrusted: trusted,
      occurrences,
      records,
      requests: requests.map((r) => ({ id: r.request.id, priority: r.request.priority, createdMs: r.createdMs, ...(r.resume ? { resume: r.resume } : {}) })),
      playing: this.current ? { key: this.current.key, priority: this.current.priority } : null,
      graceMs: this.o.settings.graceMs,
      leadFor: (o) => this.leadFor(this.programmes.get(o.programmeId)?.zones ?? []),
    });

    for (const o of decision.missed) this.recordMissed(o, records.get(o.id)?.resume);

    if (decision.next) {
      let onAir: (() => void) | undefined;
      if (decision.preempt && this.current) {
        this.o.log.warn({ cut: this.current.key, by: decision.next.key }, 'preempting');
        onAir = await this.cutFor(this.current, new Error(`preempted by ${decision.next.key}`));
      }
      const plan = this.planFor(decision.next, requests.find((r) => decision.next?.kind === 'request' && r.request.id === decision.next.request.id)?.request);
      if (plan) this.begin(decision.next, plan, onAir);
      else {
        onAir?.();
        this.kick('unplayable candidate dropped');
      }
    }

    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (decision.wakeAtMs !== null) {
      // Timers drift and clocks jump: never sleep more than a minute without looking again.
      const delay = Math.min(Math.max(decision.wakeAtMs - this.now(), 0), 60_000);
      this.timer = setTimeout(() => this.kick('deadline'), delay);
    }
    this.o.log.debug({ why, next: decision.next?.key, wakeAt: decision.wakeAtMs }, 'decided');
  }

  private planFor(c: Candidate, request?: StationRequest): SessionPlan | null {
    const now = this.now();
    let subject: PlanSubject;
    if (c.kind === 'occurrence') {
      const p = this.programmes.get(c.occurrence.programmeId);
      if (!p) {
        this.markOccurrence(c.occurrence, 'missed', { item: 0, offsetMs: 0 }, now);
        return null;
      }
      const bulletins = this.pendingRequests('next-programme').map((b) => b.request);
      subject = { kind: 'occurrence', occurrence: c.occurrence, programme: p, bulletins, ...(c.resume ? { resume: c.resume } : {}) };
    } else {
      if (!request) return null;
      subject = { kind: 'request', request, ...(c.request.resume ? { resume: c.request.resume } : {}) };
    }
    const { plan, warnings } = this.planSessionFor(c.key, subject, now);
    this.warnPlan(warnings, { session: plan.key });
    return plan;
  }

  private planSessionFor(key: string, subject: PlanSubject, nowMs: number): ReturnType<typeof planSession> {
    return planSession({ key, subject, settings: this.o.settings, chime: this.o.chime, interruption: this.o.interruption, volumeGainDb: this.o.volumeGainDb, nowMs, timezone: this.o.timezone });
  }

  private warnPlan(warnings: readonly PlanWarning[], context: { session?: string } = {}): void {
    for (const w of warnings) {
      if (w.kind === 'zones-left-out') this.o.log.warn({ ...context, unknown: w.unknown, disabled: w.disabled }, 'zones unknown or disabled on this station: left out');
      else this.o.log.warn(context, 'no usable zone on this station: the session plays on no horn');
    }
  }

  /** Applies settings from the province's target; the next session uses them. */
  updateSettings(settings: Partial<StationSettings>): void {
    Object.assign(this.o.settings, settings);
    this.o.log.info({ settings: this.o.settings }, 'station settings updated');
  }

  get settings(): Readonly<StationSettings> {
    return this.o.settings;
  }

  /** The named zones this station has and may use; unknown or disabled ones are left out, and said so. */
  private knownZones(names: readonly string[]): string[] {
    const { zones, warnings } = usableZones(names, this.o.settings.zones);
    this.warnPlan(warnings);
    return zones;
  }

  /** `onAir` is called once the session's first audio is in the sink, or it ended without any. */
  private begin(candidate: Candidate, plan: SessionPlan, onAir?: () => void): void {
    const now = this.now();
    this.powerDown?.abort();
    this.powerDown = null;
    if (this.relayTestRun) {
      this.o.log.warn({ by: plan.key }, 'relay test cut short: a broadcast takes the relays');
      this.relayTestRun.controller.abort(new Error(`cut by ${plan.label}`));
      this.relayTestRun = null;
    }
    // A resumed programme is not on air yet (relays warm up, the decoder pre-rolls): it keeps its last
    // progress until its first audio is in the sink, so restarts that die before any sound cannot carry it
    // past the grace window, holding off the programmes due after it. Only the first return of a cut item
    // counts (touchOccurrence): a supply failing every few seconds would otherwise restart it for ever.
    const resumedProgressMs = candidate.kind === 'occurrence' ? candidate.progressMs : undefined;
    if (plan.kind === 'occurrence') this.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs }, 'playing', candidate.kind === 'occurrence' ? (candidate.resume ?? { item: 0, offsetMs: 0 }) : { item: 0, offsetMs: 0 }, resumedProgressMs ?? now);
    else this.setRequestState(plan.requestId, 'playing', now, candidate.kind === 'request' ? candidate.request.resume : undefined);
    const controller = new AbortController();
    let held: Promise<void> | null = null;
    let heard = false;
    const hooks = {
      logged: (row: PlayLogRow, after?: { resume: ResumePoint; bulletinPlayed?: string }) => {
        // The row and the progress it implies are one transaction (a cut can neither lose nor replay the item).
        const write = (): void => {
          const occurrence = plan.kind === 'occurrence' ? { id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs } : undefined;
          const progress = after && { ...after, ...(plan.kind === 'occurrence' ? { occurrence } : { requestId: plan.requestId }) };
          const nowMs = this.now();
          // What the row implies, for the decisions while the disk will not take it.
          const mark: OccurrenceRecord | undefined = after && occurrence ? { state: 'playing', resume: after.resume, updatedMs: nowMs } : undefined;
          const written = this.behind.run(`rows:${++this.recordSeq}`, () => {
            this.o.store.logItem(row, progress, nowMs);
            if (occurrence && this.unsavedMarks.get(occurrence.id) === mark) this.unsavedMarks.delete(occurrence.id);
          });
          if (!written && occurrence && mark) this.unsavedMarks.set(occurrence.id, mark);
          if (!written && after?.bulletinPlayed) this.unsavedRequests.set(after.bulletinPlayed, { state: 'done' });
          this.emit('played', row);
        };
        // Held rows are written from a microtask: a failure is logged there, never thrown into the void.
        if (held) void held.then(write).catch((err: unknown) => this.o.log.error({ err, session: plan.key }, 'play-log row could not be written'));
        else write();
      },
      onAir: () => {
        if (resumedProgressMs !== undefined && plan.kind === 'occurrence' && !heard) {
          // When it was heard, not when a held write reaches the disk: the grace window counts from here.
          const heardMs = this.now();
          this.behind.run(`touch:${plan.occurrenceId}`, () => this.o.store.touchOccurrence(plan.occurrenceId, heardMs));
        }
        heard = true;
        onAir?.();
      },
      live: (live: { label: string; display?: string; resume?: ResumePoint } | null) => {
        if (this.current?.key !== plan.key) return;
        if (live) {
          const { resume, ...shown } = live;
          this.current.live = shown;
          // A power cut during the relay rejoins it to this end, not for a whole duration again.
          if (resume) {
            if (plan.kind === 'occurrence') this.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs }, 'playing', resume, this.now());
            else this.setRequestState(plan.requestId, 'playing', this.now(), resume);
          }
        } else delete this.current.live;
        this.emit('live', { key: plan.key });
      },
      clockLabel: () => this.o.clock.label(),
      now: this.now,
      // A programme is tried again within its grace window, a request for as long from now; an emergency never waits.
      powerUpRetryUntilMs: () => (classOf(plan.priority) === 'emergency' ? null : (plan.kind === 'occurrence' ? plan.scheduledMs : now) + this.o.settings.graceMs),
    };
    this.emit('session', { key: plan.key, label: plan.label, state: 'started' });
    const ended = runSession(plan, this.o.ports, hooks, controller.signal).catch((err: unknown): SessionOutcome => {
      this.o.log.error({ err, session: plan.key }, 'session failed');
      return { completed: true, reason: (err as Error).message };
    });
    const released = ended.then(() => onAir?.());
    // Nobody awaits a preempted session's records, so their failure is logged here rather than left unhandled.
    const done = ended
      .then(async (outcome) => {
        if (held) await held;
        this.finish(plan, controller.signal, outcome);
      })
      .catch((err: unknown) => this.o.log.error({ err, session: plan.key }, 'session records could not be written'));
    const holdRecords = (until: Promise<void>): void => {
      held = until;
    };
    this.current = { key: plan.key, priority: plan.priority, plan, candidate, controller, released, done, holdRecords, startedMs: now };
    this.updateHold?.abort(new Error(`${plan.label || plan.key} went on air`));
    this.updateHold = null;
  }

  private finish(plan: SessionPlan, signal: AbortSignal, outcome: SessionOutcome): void {
    const now = this.now();
    const operatorStop = signal.reason instanceof StopSignal;
    const shuttingDown = this.stopped;
    if (outcome.failed) {
      // Not done, not resumable: its rows say failed and why; the next programme is not held up.
      if (plan.kind === 'occurrence') this.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs }, 'missed', { item: 0, offsetMs: 0 }, now);
      else this.setRequestState(plan.requestId, 'failed', now);
      this.recordEvent('playout.failed', 'error', `${plan.label}: ${outcome.reason ?? 'failed'}`, { session: plan.key, zones: plan.zones }, now);
    } else if (outcome.completed || operatorStop) {
      if (plan.kind === 'occurrence') this.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs }, 'done', { item: 0, offsetMs: 0 }, now);
      else this.setRequestState(plan.requestId, operatorStop && !outcome.completed ? (signal.reason as StopSignal).state : 'done', now);
      if (!outcome.completed) this.logSkipped(plan, outcome, (signal.reason as StopSignal).message);
    } else {
      // Preempted, or the agent is stopping: come back to it per the policy.
      const resume = outcome.resume ?? { item: 0, offsetMs: 0 };
      if (plan.kind === 'occurrence') this.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId, startMs: plan.scheduledMs }, 'interrupted', resume, now);
      else this.setRequestState(plan.requestId, 'pending', now, resume);
    }
    this.o.log.info({ session: plan.key, completed: outcome.completed, reason: outcome.reason }, 'session ended');
    this.emit('session', { key: plan.key, label: plan.label, state: outcome.failed ? 'failed' : outcome.completed ? 'completed' : operatorStop ? 'stopped' : 'interrupted' });
    if (this.current?.key === plan.key) this.current = null;
    if (shuttingDown) return;
    // A preempted session's records come after its successor went on air: the relays are the successor's now.
    if (this.current) {
      this.kick(`session ${plan.key} ended`);
      return;
    }
    // Relays go down after the tail unless the next session claims them first.
    const down = new AbortController();
    this.powerDown = down;
    this.o.ports.relays.powerDown(down.signal).catch(() => undefined);
    this.kick(`session ${plan.key} ended`);
  }

  /** Items not reached because the operator stopped the session. */
  private logSkipped(plan: SessionPlan, outcome: SessionOutcome, reason: string): void {
    const from = outcome.resume?.item ?? Number.MAX_SAFE_INTEGER;
    const rows: PlayLogRow[] = plan.items
      .filter((it) => it.origin.kind === 'item' && it.origin.index > from)
      .map((it) => this.skippedRow(plan, it, reason));
    this.logPlays(rows, this.now());
  }

  private recordMissed(o: Occurrence, resume: ResumePoint | undefined): void {
    const p = this.programmes.get(o.programmeId);
    const now = this.now();
    const from = resume?.item ?? 0;
    const items = p ? expand(p.items).filter((it) => it.origin.kind === 'item' && it.origin.index >= from) : [];
    const zones = p ? this.knownZones(p.zones) : [];
    const reason = resume ? 'not resumed within the grace window' : 'not started within the grace window';
    this.markOccurrence(o, 'missed', resume ?? { item: 0, offsetMs: 0 }, now, () =>
      this.o.store.logPlays(
        items.map((it) => ({
          source: 'schedule' as const,
          programmeId: o.programmeId,
          occurrenceId: o.id,
          ...itemProof(it),
          priority: o.priority,
          scheduledMs: o.startMs,
          zones,
          volume: p?.volume ?? 0,
          result: 'missed' as const,
          reason,
          clock: this.o.clock.label(),
        })),
        now,
      ),
    );
    this.o.log.warn({ occurrence: o.id, reason }, 'programme missed');
  }

  private skippedRow(plan: SessionPlan, item: PlannedItem, reason: string): PlayLogRow {
    return {
      ...rowIdentity(plan),
      ...itemProof(item),
      priority: plan.priority,
      zones: plan.zones,
      volume: plan.volume,
      result: 'skipped',
      reason,
      clock: this.o.clock.label(),
    };
  }
}

/** What a row says it is: the file, or the live relay (never played: no segments). */
function itemProof(item: PlannedItem): Pick<PlayLogRow, 'content' | 'live'> {
  return isPlannedLive(item) ? { live: liveProof(item) } : { content: item.content };
}

export interface RelayTestOutcome {
  completed: boolean;
  /** The session that took the relays before the test ended. */
  cutBy?: string;
}

/** A relay action refused because the relays are in use (a broadcast, a relay test). */
/** Why relays cannot be switched now: a broadcast (`label` names it) or a relay test holds them. */
export class RelaysBusyError extends Error {
  constructor(
    readonly reason: 'on-air' | 'relay-test',
    message: string,
    readonly label: string,
  ) {
    super(message);
  }
}

/** The abort reason of an operator stop, as opposed to a preemption; `state` is what the stopped request becomes. */
export class StopSignal extends Error {
  constructor(
    message: string,
    readonly state: 'done' | 'cancelled' = 'done',
  ) {
    super(message);
  }
}

export interface StopAllOutcome {
  /** The session that was on air, if any. */
  stopped: string | null;
  /** Requests that were waiting to play now, dropped. */
  dropped: string[];
  heldOffUntilMs: number | null;
}

/** A hold-off as kept in meta (alerts.hold_off): wall-clock end, and how long it was set for. */
interface PersistedHold {
  untilMs: number;
  durationMs: number;
  by: string;
  sinceMs: number;
}

interface Hold extends PersistedHold {
  /** Its end on the monotonic clock: a wall clock set back or forward does not stretch or cut it. */
  untilMono: number;
}

const HOLD_KEY = 'alerts.hold_off';

/** A stored hold-off, or null if it is not one (a hold that could never end must not come from a damaged row). */
function parseHold(raw: string): PersistedHold | null {
  try {
    const h = JSON.parse(raw) as Partial<PersistedHold> | null;
    const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
    return h && finite(h.untilMs) && finite(h.durationMs) && finite(h.sinceMs) && typeof h.by === 'string' ? { untilMs: h.untilMs, durationMs: h.durationMs, by: h.by, sinceMs: h.sinceMs } : null;
  } catch {
    return null;
  }
}
