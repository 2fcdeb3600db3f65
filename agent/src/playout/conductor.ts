import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Occurrence, Programme, InterruptionPolicy, BulletinClass } from '../domain/types.js';
import { classOf } from '../domain/types.js';
import type { StationRequest } from '../domain/request.js';
import { decide, type Candidate, type ResumePoint } from '../schedule/arbiter.js';
import { expandOccurrences } from '../schedule/planner.js';
import type { StationStore, PlayLogRow } from '../store/station-store.js';
import { runSession, type PlannedItem, type SessionPlan, type SessionPorts, type SessionOutcome } from './session.js';

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
 * Emits 'session' ({ key, state }) and 'played' (PlayLogRow) for observers.
 */
export class Conductor extends EventEmitter {
  private programmes = new Map<string, Programme & { knownSinceMs: number }>();
  private scheduleProblems: string[] = [];
  private current: Current | null = null;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private powerDown: AbortController | null = null;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: ConductorOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.reloadSchedule();
    this.recoverUnfinished();
    this.kick('start');
  }

  /**
   * Sessions that were on air when the agent died (crash, power cut): the
   * item cut off gets its play-log row, and the session becomes resumable
   * from its last recorded progress, within the grace window from now.
   */
  private recoverUnfinished(): void {
    const now = this.now();
    const unfinished = this.o.store.unfinished();
    for (const o of unfinished.occurrences) {
      const p = this.programmes.get(o.programmeId);
      const item = p ? expand(p.items).find((it) => it.origin.kind === 'item' && it.origin.index === o.resume.item) : undefined;
      this.o.store.db.transaction(() => {
        this.o.store.markOccurrence(o, 'interrupted', o.resume, now);
        if (item) {
          this.o.store.logPlays([{
            source: 'schedule', programmeId: o.programmeId, occurrenceId: o.id, content: item.content, priority: p!.priority,
            scheduledMs: o.startMs, zones: this.knownZones(p!.zones), volume: p!.volume, result: 'interrupted',
            reason: 'agent stopped while on air (crash or power loss)', clock: this.o.clock.label(),
          }], now);
        }
      })();
      this.o.log.warn({ occurrence: o.id, resume: o.resume }, 'agent stopped while on air: will resume within the grace window');
    }
    for (const id of unfinished.requests) {
      this.o.store.setRequestState(id, 'pending', now);
      this.o.log.warn({ request: id }, 'agent stopped while a request was on air: it plays again');
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
    this.o.store.addRequest(request, this.now());
    this.o.log.info({ request: request.id, priority: request.priority, mode: request.mode, origin: request.origin }, 'request accepted');
    this.kick(`request ${request.id}`);
  }

  /** Stops what plays now (operator stop): the rest of it is skipped, not resumed. */
  async stopCurrent(reason = 'stopped by operator'): Promise<string | null> {
    const current = this.current;
    if (!current) return null;
    current.controller.abort(new StopSignal(reason));
    await current.done;
    return current.key;
  }

  nowPlaying(): NowPlaying | null {
    const c = this.current;
    return c ? { key: c.key, label: c.plan.label, priority: c.priority, zones: c.plan.zones, origin: c.plan.origin, startedMs: c.startedMs, ...(c.plan.display ? { display: c.plan.display } : {}) } : null;
  }

  /** Occurrences from `fromMs` for `days`, with what happened to each. */
  agenda(fromMs: number, days: number): Array<Occurrence & { name: string; state: string }> {
    const occ = expandOccurrences([...this.programmes.values()], fromMs, fromMs + days * DAY, this.o.timezone);
    const records = this.o.store.occurrenceRecords(fromMs);
    return occ.map((o) => ({
      ...o,
      name: this.programmes.get(o.programmeId)?.name ?? o.programmeId,
      state: this.current?.key === `occurrence:${o.id}` ? 'playing' : (records.get(o.id)?.state ?? 'scheduled'),
    }));
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.current) {
      this.current.controller.abort(new Error('agent stopping'));
      await this.current.done;
    }
    await this.queue;
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
    const records = this.o.store.occurrenceRecords(now - LOOKBACK_MS);
    const requests = this.o.store.pendingRequests('now').filter((r) => {
      if (trusted && r.request.expiresMs !== undefined && r.request.expiresMs < now) {
        this.o.store.setRequestState(r.request.id, 'expired', now);
        this.o.log.warn({ request: r.request.id }, 'request expired before it could play: dropped');
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
        const cut = this.current;
        this.o.log.warn({ cut: cut.key, by: decision.next.key }, 'preempting');
        // The cut session's records (its row, its resume point) are written
        // once the new session's first sample is out, not before it: each
        // commit is an fsync. A crash in between leaves the cut session
        // "playing", which the restart records as interrupted and resumes.
        cut.holdRecords(new Promise<void>((resolve) => (onAir = resolve)));
        cut.controller.abort(new Error(`preempted by ${decision.next.key}`));
        await cut.released;
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
    if (c.kind === 'occurrence') {
      const p = this.programmes.get(c.occurrence.programmeId);
      if (!p) {
        this.o.store.markOccurrence(c.occurrence, 'missed', { item: 0, offsetMs: 0 }, now);
        return null;
      }
      const resume = c.resume ?? { item: 0, offsetMs: 0 };
      const cls = classOf(p.priority);
      const items: PlannedItem[] = [];
      // Queued priority bulletins go first, in the operator's order.
      for (const b of this.o.store.pendingRequests('next-programme')) {
        this.withChime(items, classOf(b.request.priority));
        b.request.items.forEach((it) => {
          for (let r = 0; r < it.repeat; r++) items.push({ content: it.content, gapMs: it.gapMs, offsetMs: 0, origin: { kind: 'bulletin', requestId: b.request.id, priority: b.request.priority } });
        });
      }
      if (resume.item === 0 && resume.offsetMs === 0) this.withChime(items, cls);
      items.push(...expand(p.items).filter((it) => it.origin.kind === 'item' && it.origin.index >= resume.item).map((it) =>
        it.origin.kind === 'item' && it.origin.index === resume.item ? { ...it, offsetMs: resume.offsetMs } : it));
      const zones = this.knownZones(p.zones);
      const volume = this.effectiveVolume(p.volume, zones);
      const fresh = !c.resume;
      return {
        key: c.key,
        label: p.name,
        source: 'schedule',
        priority: p.priority,
        zones,
        volume,
        volumeGainDb: this.o.volumeGainDb(volume),
        items,
        audioStartMs: fresh && c.occurrence.startMs > now ? c.occurrence.startMs : null,
        scheduledMs: c.occurrence.startMs,
        programmeId: p.id,
        occurrenceId: c.occurrence.id,
        origin: 'schedule',
        policy: this.o.interruption[cls],
      };
    }
    if (!request) return null;
    const cls = classOf(request.priority);
    const emergency = cls === 'emergency';
    const resume = c.request.resume ?? { item: 0, offsetMs: 0 };
    const items: PlannedItem[] = [];
    if (resume.item === 0 && resume.offsetMs === 0) this.withChime(items, cls);
    items.push(...expand(request.items).filter((it) => it.origin.kind === 'item' && it.origin.index >= resume.item).map((it) =>
      it.origin.kind === 'item' && it.origin.index === resume.item ? { ...it, offsetMs: resume.offsetMs } : it));
    // Circular 39: an emergency plays everywhere, at forced volume.
    // Every zone, disabled ones included: a warning must reach everyone who can hear it.
    const zones = emergency ? this.o.settings.zones.map((z) => z.name) : request.zones.length === 0 ? this.knownZones(this.o.settings.zones.map((z) => z.name)) : this.knownZones(request.zones);
    const volume = emergency ? this.o.settings.emergencyVolume : this.effectiveVolume(request.volume, zones);
    return {
      key: c.key,
      label: request.label || request.id,
      source: 'request',
      priority: request.priority,
      zones,
      volume,
      volumeGainDb: this.o.volumeGainDb(volume),
      items,
      audioStartMs: null,
      requestId: request.id,
      origin: request.origin,
      ...(request.display ? { display: request.display } : {}),
      policy: this.o.interruption[cls],
    };
  }

  private withChime(items: PlannedItem[], cls: BulletinClass): void {
    if (this.o.chime && this.o.chime.classes.includes(cls)) {
      items.push({ content: this.o.chime.content, gapMs: 300, offsetMs: 0, origin: { kind: 'chime' } });
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
    const usable = new Set(this.o.settings.zones.filter((z) => z.enabled).map((z) => z.name));
    const left = names.filter((n) => !usable.has(n));
    if (left.length > 0) this.o.log.warn({ zones: left }, 'zones unknown or disabled on this station: left out');
    return names.filter((n) => usable.has(n));
  }

  /** Zones sharing one amplifier can only play at one level: the lowest trim wins, so no zone is louder than allowed. */
  private effectiveVolume(volume: number, zones: readonly string[]): number {
    const trims = this.o.settings.zones.filter((z) => zones.includes(z.name)).map((z) => z.volume);
    const trim = trims.length > 0 ? Math.min(...trims) : 100;
    return Math.round((volume * trim * this.o.settings.masterVolume) / 10_000);
  }

  /** `onAir` is called once the session's first audio is in the sink, or it ended without any. */
  private begin(candidate: Candidate, plan: SessionPlan, onAir?: () => void): void {
    const now = this.now();
    this.powerDown?.abort();
    this.powerDown = null;
    if (plan.occurrenceId) this.o.store.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId!, startMs: plan.scheduledMs! }, 'playing', candidate.kind === 'occurrence' ? (candidate.resume ?? { item: 0, offsetMs: 0 }) : { item: 0, offsetMs: 0 }, now);
    if (plan.requestId) this.o.store.setRequestState(plan.requestId, 'playing', now);
    const controller = new AbortController();
    let held: Promise<void> | null = null;
    const hooks = {
      logged: (row: PlayLogRow) => {
        const write = (): void => {
          this.o.store.logPlays([row], this.now());
          this.emit('played', row);
        };
        // Held rows are written from a microtask: a failure is logged there, never thrown into the void.
        if (held) void held.then(write).catch((err: unknown) => this.o.log.error({ err, session: plan.key }, 'play-log row could not be written'));
        else write();
      },
      onAir: () => onAir?.(),
      progress: (resume: ResumePoint) => {
        if (plan.occurrenceId) this.o.store.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId!, startMs: plan.scheduledMs! }, 'playing', resume, this.now());
      },
      bulletinPlayed: (id: string) => this.o.store.setRequestState(id, 'done', this.now()),
      clockLabel: () => this.o.clock.label(),
      now: this.now,
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
  }

  private finish(plan: SessionPlan, signal: AbortSignal, outcome: SessionOutcome): void {
    const now = this.now();
    const operatorStop = signal.reason instanceof StopSignal;
    const shuttingDown = this.stopped;
    if (outcome.completed || operatorStop) {
      if (plan.occurrenceId) this.o.store.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId!, startMs: plan.scheduledMs! }, 'done', { item: 0, offsetMs: 0 }, now);
      if (plan.requestId) this.o.store.setRequestState(plan.requestId, 'done', now);
      if (!outcome.completed) this.logSkipped(plan, outcome, (signal.reason as StopSignal).message);
    } else {
      // Preempted, or the agent is stopping: come back to it per the policy.
      const resume = outcome.resume ?? { item: 0, offsetMs: 0 };
      if (plan.occurrenceId) this.o.store.markOccurrence({ id: plan.occurrenceId, programmeId: plan.programmeId!, startMs: plan.scheduledMs! }, 'interrupted', resume, now);
      if (plan.requestId) this.o.store.setRequestState(plan.requestId, 'pending', now, resume);
    }
    this.o.log.info({ session: plan.key, completed: outcome.completed, reason: outcome.reason }, 'session ended');
    this.emit('session', { key: plan.key, label: plan.label, state: outcome.completed ? 'completed' : operatorStop ? 'stopped' : 'interrupted' });
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
      .map((it) => this.skippedRow(plan, it.content, reason));
    this.o.store.logPlays(rows, this.now());
  }

  private recordMissed(o: Occurrence, resume: ResumePoint | undefined): void {
    const p = this.programmes.get(o.programmeId);
    const now = this.now();
    const from = resume?.item ?? 0;
    const items = p ? expand(p.items).filter((it) => it.origin.kind === 'item' && it.origin.index >= from) : [];
    const zones = p ? this.knownZones(p.zones) : [];
    const reason = resume ? 'not resumed within the grace window' : 'not started within the grace window';
    this.o.store.db.transaction(() => {
      this.o.store.markOccurrence(o, 'missed', resume ?? { item: 0, offsetMs: 0 }, now);
      this.o.store.logPlays(
        items.map((it) => ({
          source: 'schedule' as const,
          programmeId: o.programmeId,
          occurrenceId: o.id,
          content: it.content,
          priority: o.priority,
          scheduledMs: o.startMs,
          zones,
          volume: p?.volume ?? 0,
          result: 'missed' as const,
          reason,
          clock: this.o.clock.label(),
        })),
        now,
      );
    })();
    this.o.log.warn({ occurrence: o.id, reason }, 'programme missed');
  }

  private skippedRow(plan: SessionPlan, content: string, reason: string): PlayLogRow {
    return {
      source: plan.source,
      ...(plan.programmeId ? { programmeId: plan.programmeId } : {}),
      ...(plan.occurrenceId ? { occurrenceId: plan.occurrenceId } : {}),
      ...(plan.requestId ? { requestId: plan.requestId } : {}),
      content,
      priority: plan.priority,
      ...(plan.scheduledMs !== undefined ? { scheduledMs: plan.scheduledMs } : {}),
      zones: plan.zones,
      volume: plan.volume,
      result: 'skipped',
      reason,
      clock: this.o.clock.label(),
    };
  }
}

/** The abort reason of an operator stop, as opposed to a preemption. */
export class StopSignal extends Error {}

/** Programme or request items with repeats expanded, numbered for resume points. */
function expand(items: ReadonlyArray<{ content: string; repeat: number; gapMs: number }>): PlannedItem[] {
  const out: PlannedItem[] = [];
  for (const it of items) {
    for (let r = 0; r < it.repeat; r++) out.push({ content: it.content, gapMs: it.gapMs, offsetMs: 0, origin: { kind: 'item', index: out.length } });
  }
  return out;
}
