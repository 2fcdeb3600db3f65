import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Conductor, SessionEvent } from '../playout/conductor.js';
import type { StationMedia } from '../playout/media.js';
import type { StationStore } from '../store/station-store.js';
import type { StationRequest } from '../domain/request.js';
import { classOf } from '../domain/types.js';
import type { BoardEmergencyInput } from '../board/playlist.js';
import { sleep } from '../lib/backoff.js';
import type { AlertOrigin, CapAlert } from './alert.js';
import type { AlertsConfig } from './config.js';
import type { CapFeed } from './cap/feed.js';
import { alertActivity, alertKey, applyAlertMessage, repeatSchedule, wakeDelayMs, type Activity, type ActivityState, type AlertStation, type TimeBounds } from './lifecycle.js';
import { boardView, speechPlan, type Availability, type PlayStep, type ResourceState } from './speech-plan.js';
import { AlertStore, type StoredAlert } from './alert-store.js';
import { fetchResource, synthesise, discard } from './alert-audio.js';
import { isStorageFailure } from '../store/write-behind.js';

/**
 * The alert path at the station: every public alert, whatever brought it
 * (a CAP document in a signed province command or from a national feed, a
 * province emergency, the bridge's emergency button, `loa play --class
 * emergency`), is a record in the alert registry (alert-store.ts) and plays
 * as a station request carrying its identifier, through the one arbiter.
 *
 * The lifecycle's pure functions decide (alerts/lifecycle.ts: is it active
 * now, what a message does to the others, when it repeats; speech-plan.ts:
 * what is said and shown); this adapter gathers the facts, carries the
 * decisions out and sleeps until the next instant the answer can change.
 * The speakers and the board ask the same `alertActivity`.
 */

export interface AlertManagerDeps {
  config: AlertsConfig;
  station: AlertStation;
  store: StationStore;
  conductor: Conductor;
  media: StationMedia;
  /** What the station knows about now (lifecycle `timeBounds`). */
  bounds: () => TimeBounds;
  /** Until when a local stop holds emergencies off (wall-clock ms), or null. */
  heldOffUntil: () => number | null;
  /** The station chime already precedes every emergency (session-plan adds it): the speech plan's own is left out. */
  stationChime: boolean;
  /** Where fetched resources and synthesised speech are written before the cache imports them. */
  workDir: string;
  timezone: string;
  log: Logger;
  now: () => number;
}

export interface AlertReceipt {
  status: 'done' | 'rejected';
  reason?: string;
  result?: { key: string; identifier: string; state: string; reason: string };
}

/** One play of an alert: its speech plan's steps played so far, its resources, the requests that carry it. */
interface Round {
  done: string[];
  resources: Record<string, ResourceState>;
  content: Map<string, string>;
  requests: string[];
  /** Set when the alert ends (cancel, expiry, replacement): nothing more is submitted. */
  aborted: AbortController;
  /** Resolves once every resource has been fetched or has failed. */
  settled: Promise<void>;
}

/** Timers drift and clocks jump: never sleep longer than this without deciding again. */
const WAKE_MAX_MS = 60_000;
/** A minimal valid CAP document, parsed once at start to warm the schema validator. */
const WARM_UP_CAP = '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>warm-up</identifier><sender>loa</sender><sent>2026-01-01T00:00:00+07:00</sent><status>System</status><msgType>Alert</msgType><scope>Public</scope></alert>';
const WARM_UP_DELAY_MS = 3000;
/** How long an Update's audio is waited for before its headline replaces the audio on air. */
const UPDATE_WAIT_MS = 500;

/** What became of a request handed to the arbiter; `state` (an alert's activity) when it was refused. */
export interface Submitted {
  accepted: boolean;
  reason: string;
  state?: ActivityState;
}

export class AlertManager {
  readonly registry: AlertStore;
  private board: ((alert: BoardEmergencyInput | null) => void) | null = null;
  private readonly rounds = new Map<string, Round>();
  /** New alert key → the request of the alert it replaces (an Update), taken over when the new one starts. */
  private readonly replacing = new Map<string, string>();
  private readonly speech = new Map<string, Promise<string>>();
  private readonly noted = new Map<string, string>();
  private reviewing: Promise<void> = Promise.resolve();
  private readonly feeds: CapFeed[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: AlertManagerDeps) {
    this.registry = new AlertStore(d.store.db);
    d.conductor.on('session', (e) => {
      try {
        this.onSession(e);
      } catch (err) {
        d.log.error({ err, session: e.key }, 'alert bookkeeping after a session failed');
      }
    });
  }

  /**
   * Right after the conductor's start, in the same tick (before its first
   * decision): a request of an alert that is no longer active (expired while
   * the power was off, even by the province's clock alone) is withdrawn
   * before it can play again. The rest is decided by `review`.
   */
  recover(): void {
    const now = this.d.now();
    for (const rec of this.registry.open()) {
      if (!rec.requestId) continue;
      const state = this.d.store.requestState(rec.requestId);
      if (state !== 'pending' && state !== 'playing') continue;
      const act = this.activity(rec);
      if (act.state === 'active') continue;
      this.d.store.setRequestState(rec.requestId, 'cancelled', now);
      this.d.log.warn({ alert: rec.alert.identifier, request: rec.requestId, state: act.state, reason: act.reason }, 'alert no longer active after the restart: not resumed');
    }
    void this.review('start');
    // The CAP schema validator compiles once per process: soon after the start (not competing with it), not when the first alert waits.
    setTimeout(() => void capParser().then((parseCap) => parseCap(WARM_UP_CAP)).catch(() => undefined), WARM_UP_DELAY_MS).unref();
  }

  /** The board link, once it is up: it shows the alert in force. */
  attachBoard(show: (alert: BoardEmergencyInput | null) => void): void {
    this.board = show;
    this.refreshBoard();
  }

  /** A CAP document from the province, inside its verified, replay-protected envelope: validated, then applied. */
  async receiveCap(xml: string, from: { origin: 'cap-command'; via: string }): Promise<AlertReceipt> {
    const parsed = await (await capParser())(xml);
    if (!parsed.ok) {
      this.refused(from.via, parsed.errors);
      return { status: 'rejected', reason: `CAP refused: ${parsed.errors.join('; ')}`.slice(0, 480) };
    }
    return this.receive(parsed.alert, { ...from, raw: xml });
  }

  /**
   * The national feeds in the config: each polled by CapFeed, which admits
   * only documents signed (XML-DSig) by the feed's pinned keys and valid
   * CAP; what it delivers goes the way of a province CAP command.
   */
  async startFeeds(): Promise<void> {
    if (this.d.config.feeds.length === 0) return;
    // XML-DSig verification loads only on stations that poll a feed.
    const { CapFeed, capSeenKey } = await import('./cap/feed.js');
    if (this.closed) return;
    const seen = this.registry.registry().alerts.map((a) => capSeenKey(a.alert));
    for (const f of this.d.config.feeds) {
      const feed = new CapFeed({
        url: f.url,
        pinned: { publicKeysPem: f.publicKeysPem },
        intervalMs: f.intervalS * 1000,
        seen,
        log: this.d.log.child({ feed: f.url }),
        onAlert: async (alert, meta) => {
          await this.receive(alert, { origin: 'cap-feed', via: meta.url });
        },
        onRefused: (r) => this.refused(r.url, r.errors),
      });
      this.feeds.push(feed);
      feed.start();
    }
  }

  private refused(via: string, errors: readonly string[]): void {
    this.d.log.error({ via, errors }, 'CAP alert refused');
    this.d.store.recordEvent('alert.refused', 'error', `cảnh báo CAP bị từ chối / CAP alert refused (${via}): ${errors.join('; ')}`.slice(0, 1000), { via, errors: errors.slice(0, 10) }, this.d.now());
  }

  /** A validated CAP message applied to the registry (applyAlertMessage) and carried out. */
  private async receive(alert: CapAlert, from: { origin: Extract<AlertOrigin, 'cap-command' | 'cap-feed'>; via: string; raw?: string }): Promise<AlertReceipt> {
    const { log, store } = this.d;
    const now = this.d.now();
    const fx = applyAlertMessage(this.registry.registry(), alert);
    const key = alertKey(alert);
    for (const note of fx.notes) log.info({ alert: alert.identifier, note }, 'alert message note');
    if (fx.ignore && !fx.add) {
      log.info({ alert: alert.identifier, msgType: alert.msgType, status: alert.status, reason: fx.ignore }, 'alert message ignored');
      return { status: 'done', result: { key, identifier: alert.identifier, state: 'ignored', reason: fx.ignore } };
    }
    this.registry.apply(fx, { origin: from.origin, ...(from.raw !== undefined ? { raw: from.raw } : {}) }, now);
    const added = this.registry.get(key);
    for (const r of fx.replace) {
      const old = this.registry.get(r.old);
      if (old?.requestId && added && this.activity(added).state === 'active') this.replacing.set(r.by, old.requestId);
      this.abortRound(r.old);
    }
    for (const k of fx.withdraw) this.abortRound(k);
    log.warn({ alert: alert.identifier, sender: alert.sender, status: alert.status, msgType: alert.msgType, replaces: fx.replace.map((r) => r.old), withdraws: fx.withdraw, via: from.via }, 'alert message received');
    await this.review(`alert ${alert.identifier}`);
    // Reported after the decision: the province's record never delays the speakers.
    store.recordEvent('alert.received', 'info', `${alert.msgType} ${alert.status} ${alert.identifier} (${alert.sender})`, { key, via: from.via, msgType: alert.msgType, status: alert.status, replaces: fx.replace.map((r) => r.old), withdraws: fx.withdraw }, now);
    const act = added ? this.activity(added) : null;
    return { status: 'done', result: { key, identifier: alert.identifier, state: act?.state ?? 'ignored', reason: act?.reason ?? fx.ignore ?? '' } };
  }

  /**
   * Every "play now" of the station and the province goes in here: an
   * emergency becomes an alert (`emergency` below), anything else goes
   * straight to the conductor. One door, so no source can reach the
   * speakers with an emergency the alert registry never saw.
   */
  submit(request: StationRequest): Submitted {
    if (request.mode === 'now' && classOf(request.priority) === 'emergency') return this.emergency(request);
    this.d.conductor.submit(request);
    return { accepted: true, reason: '' };
  }

  /**
   * A station emergency (the bridge's button, `loa play --class emergency`,
   * a province play of priority 9) as an alert: one record, the same
   * activity check (a province emergency past its expiry stays silent, by
   * the province's clock too), its request carrying the alert id.
   */
  emergency(request: StationRequest): Submitted {
    const origin = ownOrigin(request.origin);
    const b = this.d.bounds();
    const alert = ownAlert(request, this.d.station.id, b.lowerMs);
    const key = alertKey(alert);
    const now = this.d.now();
    // The speakers come first: a disk that takes no record (full, read-only) leaves the alert judged from memory.
    const recorded = this.recordUnlessDiskFails(request.id, () => this.registry.addOwn({ key, alert, state: 'live' }, origin, request.id, now));
    const act = this.activity((recorded ? this.registry.get(key) : null) ?? { key, alert, state: 'live', origin, requestId: request.id, plays: 0, finished: false, receivedMs: now });
    // Held off by a local stop: the conductor records it so (a skipped row with the alert id) and never plays it.
    if (act.state !== 'active' && act.state !== 'held-off') {
      this.registry.finish(key, now);
      this.d.log.warn({ alert: request.id, state: act.state, reason: act.reason }, 'emergency not played');
      this.d.store.recordEvent('alert.silent', 'warn', `emergency ${request.id} not played: ${act.reason}`, { key, origin, state: act.state }, now);
      return { accepted: false, reason: act.reason, state: act.state };
    }
    if (recorded) this.recordUnlessDiskFails(request.id, () => this.registry.playing(key, request.id, now));
    this.d.conductor.submit({ ...request, alert: { id: request.id, zoned: false } });
    return { accepted: true, reason: act.reason };
  }

  /** False when the state disk refused the record: logged, and the emergency goes on without it. */
  private recordUnlessDiskFails(requestId: string, write: () => void): boolean {
    try {
      write();
      return true;
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      this.d.log.error({ alert: requestId, err: (err as Error).message }, 'emergency alert not recorded (the state disk takes no writes): played all the same');
      return false;
    }
  }

  /** The clock became trusted or jumped: every alert's window is judged again. */
  clockChanged(): void {
    void this.review('clock changed');
  }

  /** Content the open alerts may still play (kept by cache eviction). */
  neededContent(): string[] {
    return [...this.rounds.values()].flatMap((r) => [...r.content.values()]);
  }

  /** Open and recent alerts, for `loa status` and the province. */
  status(limit = 20): Array<{ identifier: string; sender: string; status: string; msgType: string; origin: string; state: string; reason: string; plays: number }> {
    return this.registry.recent(limit).map((r) => {
      const act = r.finished ? null : this.activity(r);
      return { identifier: r.alert.identifier, sender: r.alert.sender, status: r.alert.status, msgType: r.alert.msgType, origin: r.origin, state: act?.state ?? (r.state === 'live' ? 'ended' : r.state), reason: act?.reason ?? '', plays: r.plays };
    });
  }

  close(): void {
    this.closed = true;
    for (const f of this.feeds) f.stop();
    if (this.timer) clearTimeout(this.timer);
    for (const key of [...this.rounds.keys()]) this.abortRound(key);
  }

  // ------------------------------------------------------------------------

  private activity(rec: StoredAlert): Activity {
    const held = this.d.heldOffUntil();
    return alertActivity(rec.alert, { bounds: this.d.bounds(), policy: this.d.config, station: this.d.station, registry: rec.state, heldOffUntilMs: held });
  }

  /** Decides every open alert again (one at a time): play, repeat, stop, finish; then the board and the next wake-up. */
  private review(why: string): Promise<void> {
    this.reviewing = this.reviewing
      .then(() => this.reviewOnce(why))
      .catch((err: unknown) => this.d.log.error({ err, why }, 'alert review failed'));
    return this.reviewing;
  }

  private reviewOnce(why: string): void {
    if (this.closed) return;
    const wakes: number[] = [];
    const b = this.d.bounds();
    for (const rec of this.registry.open()) {
      const act = this.activity(rec);
      this.note(rec, act);
      if (act.wakeAtMs !== undefined) wakes.push(act.wakeAtMs);
      if (isOwn(rec.origin)) {
        // Played as asked by its request; ended by it (onSession). Only a lifecycle end stops it early.
        if (act.state !== 'active') this.end(rec, act);
        continue;
      }
      if (act.state === 'active') {
        const next = this.nextPlay(rec, act, b);
        if (next !== null && next <= b.lowerMs) this.startRound(rec, act);
        else if (next !== null) wakes.push(next);
      } else if (act.state === 'monitor-only') {
        this.monitor(rec, act);
      } else if (act.state !== 'pending-onset' && act.state !== 'held-off') {
        this.end(rec, act);
      }
    }
    this.refreshBoard();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (wakes.length > 0) {
      const delay = Math.min(wakeDelayMs(Math.min(...wakes), this.d.bounds()), WAKE_MAX_MS);
      // One late timer never costs more than a minute; a due one is taken a little after it (the bound must have passed it).
      this.timer = setTimeout(() => void this.review('wake'), delay + 20);
    }
    this.d.log.debug({ why, wakes: wakes.length }, 'alerts reviewed');
  }

  /** When an active alert plays next (bounds' axis), or null: not again (it stays on the board until it ends). */
  private nextPlay(rec: StoredAlert, act: Activity, b: TimeBounds): number | null {
    if (this.rounds.has(rec.key)) return null;
    if (rec.plays === 0) return b.lowerMs;
    if (rec.requestId) {
      const state = this.d.store.requestState(rec.requestId);
      // Queued or on air (a restart's recovery put it back): the conductor plays it.
      if (state === 'pending' || state === 'playing') return null;
    }
    const last = rec.lastPlayMs ?? b.lowerMs;
    if (rec.lastPlayMs === undefined) this.registry.playEnded(rec.key, last);
    return repeatSchedule(rec.alert, act.infos, last, this.d.config, this.d.config.repeatMinutes).nextPlayMs;
  }

  /** Logs and reports each alert's transitions once, not every review. */
  private note(rec: StoredAlert, act: Activity): void {
    const seen = `${act.state}:${act.outputs}`;
    if (this.noted.get(rec.key) === seen) return;
    this.noted.set(rec.key, seen);
    this.d.log.info({ alert: rec.alert.identifier, state: act.state, outputs: act.outputs, reason: act.reason }, 'alert state');
  }

  /** Test (and Exercise where so configured): the log and the province hear of it, never a village zone. */
  private monitor(rec: StoredAlert, act: Activity): void {
    const info = act.infos.map((i) => rec.alert.info[i]).find((x) => x !== undefined);
    const headline = info?.headline ?? info?.event ?? rec.alert.identifier;
    this.d.log.warn({ alert: rec.alert.identifier, status: rec.alert.status, headline, reason: act.reason }, 'alert for the local monitor only: not played on any zone');
    this.d.store.recordEvent('alert.monitor', 'info', `${rec.alert.status} ${rec.alert.identifier}: ${headline} (chỉ theo dõi tại chỗ, không phát ra loa / local monitor only, not on the speakers)`.slice(0, 1000), { key: rec.key, status: rec.alert.status, reason: act.reason }, this.d.now());
    this.registry.finish(rec.key, this.d.now());
  }

  /** The alert is over (expired, cancelled, replaced, ignored): whatever of it is queued or on air stops. */
  private end(rec: StoredAlert, act: Activity): void {
    const now = this.d.now();
    this.registry.finish(rec.key, now);
    // An Update that ends before its own play took over the alert it replaces takes that one off air with it.
    const replaced = this.replacing.get(rec.key);
    this.replacing.delete(rec.key);
    const requests = new Set([...(this.rounds.get(rec.key)?.requests ?? []), ...(rec.requestId ? [rec.requestId] : []), ...(replaced ? [replaced] : [])]);
    this.abortRound(rec.key);
    // The Update's own play takes over a replaced request in one step (conductor.replace): no gap, no double.
    const taken = new Set(this.replacing.values());
    for (const id of requests) if (!taken.has(id)) this.withdraw(id, `alert ${act.state}: ${act.reason}`);
    this.d.log.warn({ alert: rec.alert.identifier, state: act.state, reason: act.reason }, 'alert ended');
  }

  private withdraw(requestId: string, reason: string): void {
    const state = this.d.store.requestState(requestId);
    if (state !== 'pending' && state !== 'playing') return;
    void this.d.conductor.withdraw(requestId, reason.slice(0, 300)).catch((err: unknown) => this.d.log.error({ err, request: requestId }, 'alert request could not be withdrawn'));
  }

  private abortRound(key: string): void {
    const round = this.rounds.get(key);
    if (!round) return;
    round.aborted.abort();
    this.rounds.delete(key);
  }

  /**
   * One play of an alert: its resources fetched, its speech synthesised, in
   * parallel; after at most `audioWaitMs` whatever is ready plays (the chime
   * and the spoken headline first when a resource is still coming), and the
   * rest follows as soon as it has arrived.
   */
  private startRound(rec: StoredAlert, act: Activity): void {
    const aborted = new AbortController();
    const round: Round = { done: [], resources: {}, content: new Map(), requests: [], aborted, settled: Promise.resolve() };
    this.rounds.set(rec.key, round);
    const { config } = this.d;
    const alert = rec.alert;
    // The spoken headline that leads while a resource is coming, synthesised now so it is ready when the wait is over.
    const allPending = speechPlan(alert, config, this.available(round), { infos: act.infos });
    for (const s of allPending.steps) if (s.kind === 'speech') void this.speak(s.text).catch(() => undefined);
    round.settled = Promise.all(
      allPending.waitFor.map(async (ref) => {
        const resource = alert.info[ref.info]?.resources[ref.index];
        if (!resource) return;
        try {
          const path = await fetchResource(resource, join(this.d.workDir, 'resources'), config.resources, aborted.signal);
          const record = await this.d.media.importFile(path, `alert ${alert.identifier} ${resource.description}`.slice(0, 200), undefined, 'audio', { move: true });
          await discard(path);
          round.content.set(ref.key, record.sha256);
          round.resources[ref.key] = 'present';
        } catch (err) {
          round.resources[ref.key] = 'failed';
          const message = (err as Error).message.split('\n')[0]!;
          this.d.log.error({ alert: alert.identifier, resource: ref.key, err: message }, 'alert resource not usable: falling back to pre-recorded message or speech');
          this.d.store.recordEvent('alert.resource', 'error', `alert ${alert.identifier}: resource not usable: ${message}`.slice(0, 1000), { key: rec.key, resource: ref.key }, this.d.now());
        }
      }),
    ).then(() => undefined);
    void this.playRound(rec, round).catch((err: unknown) => this.d.log.error({ err, alert: alert.identifier }, 'alert could not be played'));
  }

  private async playRound(rec: StoredAlert, round: Round): Promise<void> {
    // An Update stops the outdated audio at once: its own leads with the headline if it is not there in half a second.
    const waitMs = this.replacing.has(rec.key) ? Math.min(UPDATE_WAIT_MS, this.d.config.audioWaitMs) : this.d.config.audioWaitMs;
    const waited = await Promise.race([round.settled.then(() => true), sleep(waitMs, round.aborted.signal).then(() => false, () => false)]);
    if (round.aborted.signal.aborted) return;
    const first = await this.submitPart(rec, round);
    if (!waited || !first) {
      await round.settled;
      if (round.aborted.signal.aborted) return;
      // What arrived after the first part went out (or everything, if nothing could play before).
      await this.submitPart(rec, round);
    }
  }

  /** Submits what the speech plan says can play now and is not yet played; false when there was nothing. */
  private async submitPart(rec: StoredAlert, round: Round): Promise<boolean> {
    const current = this.registry.get(rec.key);
    if (!current) return false;
    const act = this.activity(current);
    if (act.state !== 'active' || act.target.kind === 'none') return false;
    const plan = speechPlan(current.alert, this.d.config, this.available(round), { infos: act.infos, done: round.done });
    const items: Array<{ content: string; repeat: number; gapMs: number }> = [];
    for (const step of plan.steps) {
      const content = await this.contentOf(step, round).catch((err: Error) => {
        this.d.log.error({ alert: current.alert.identifier, step: step.key, err: err.message }, 'alert part not playable: left out');
        return null;
      });
      round.done.push(step.key);
      if (content) items.push({ content, repeat: 1, gapMs: 400 });
    }
    if (round.aborted.signal.aborted || items.length === 0) {
      if (items.length === 0 && round.requests.length === 0 && plan.waitFor.length === 0) {
        this.d.log.error({ alert: current.alert.identifier, skipped: plan.skipped }, 'alert has nothing this station can play');
        this.d.store.recordEvent('alert.silent', 'error', `alert ${current.alert.identifier}: nothing this station can play (${plan.skipped.map((s) => `${s.language}: ${s.reason}`).join('; ')})`.slice(0, 1000), { key: rec.key }, this.d.now());
        // Outdated audio does not play on because its update has none.
        const replaced = this.replacing.get(rec.key);
        this.replacing.delete(rec.key);
        if (replaced) this.withdraw(replaced, `replaced by update ${current.alert.identifier}, which has nothing to play here`);
        this.finishRound(rec.key);
      }
      return false;
    }
    const info = act.infos.map((i) => current.alert.info[i]).find((x) => x !== undefined);
    const request: StationRequest = {
      id: `alert-${createHash('sha256').update(rec.key).digest('hex').slice(0, 12)}-${current.plays + 1}-${round.requests.length + 1}`,
      mode: 'now',
      priority: 9,
      label: (info?.headline ?? info?.event ?? current.alert.identifier).slice(0, 200),
      items,
      zones: act.target.kind === 'zones' ? act.target.zones : [],
      volume: 100,
      origin: rec.origin,
      ...(act.endsAtMs !== undefined ? { expiresMs: act.endsAtMs } : {}),
      display: { text: info?.description ?? '', instructions: info?.instruction ?? '' },
      alert: { id: current.alert.identifier, zoned: act.target.kind === 'zones' },
    };
    round.requests.push(request.id);
    this.registry.playing(rec.key, request.id, this.d.now());
    const replaces = round.requests.length === 1 ? this.replacing.get(rec.key) : undefined;
    if (replaces) {
      this.replacing.delete(rec.key);
      await this.d.conductor.replace(replaces, request, `replaced by update ${current.alert.identifier}`);
    } else {
      this.d.conductor.submit(request);
    }
    return true;
  }

  /** What the speech plan may count on: the resources fetched so far, and which pre-recorded messages the cache lacks. */
  private available(round: Round): Availability {
    return { resources: round.resources, missingContent: this.d.config.prerecorded.map((p) => p.content).filter((c) => !this.d.media.has(c)) };
  }

  private async contentOf(step: PlayStep, round: Round): Promise<string | null> {
    switch (step.kind) {
      case 'chime':
        return this.d.stationChime ? null : this.d.media.chime;
      case 'speech':
        return this.speak(step.text);
      case 'resource':
        return round.content.get(step.resource.key) ?? null;
      case 'prerecorded':
        return step.content;
    }
  }

  /** Speech for a text, synthesised once and kept in the cache (the same text is the same content). */
  private speak(text: string): Promise<string> {
    let made = this.speech.get(text);
    if (!made) {
      made = (async () => {
        const path = await synthesise(text, join(this.d.workDir, 'speech'), { voice: this.d.config.espeak.voice, maxChars: 1500, timeoutMs: this.d.config.espeak.timeoutMs });
        const record = await this.d.media.importFile(path, `alert speech: ${text.slice(0, 60)}`, undefined, 'audio', { move: true });
        await discard(path);
        return record.sha256;
      })();
      made.catch(() => this.speech.delete(text));
      this.speech.set(text, made);
    }
    return made;
  }

  private finishRound(key: string): void {
    this.rounds.delete(key);
    this.registry.playEnded(key, this.d.bounds().lowerMs);
  }

  private onSession(e: SessionEvent): void {
    if (!e.key.startsWith('request:')) return;
    const requestId = e.key.slice('request:'.length);
    const rec = this.registry.byRequest(requestId);
    if (!rec) return;
    if (e.state === 'started' || e.state === 'interrupted') {
      this.refreshBoard();
      return;
    }
    if (isOwn(rec.origin)) {
      // A station emergency is over when its request is: played out, stopped, failed.
      this.registry.end(rec.key, e.state === 'stopped' ? 'cancelled' : 'live', this.d.now());
      this.refreshBoard();
      return;
    }
    const round = this.rounds.get(rec.key);
    // The round ends with its last request, once nothing more is coming for it.
    if (round && round.requests[round.requests.length - 1] === requestId) {
      void round.settled.then(() => {
        if (this.rounds.get(rec.key) !== round || round.requests[round.requests.length - 1] !== requestId) return;
        this.finishRound(rec.key);
        void this.review(`alert ${rec.alert.identifier} played`);
      });
    } else if (!round) {
      this.registry.playEnded(rec.key, this.d.bounds().lowerMs);
      void this.review(`alert ${rec.alert.identifier} played`);
    }
  }

  /**
   * The board shows the alert the speakers carry, by the same activity: the
   * CAP alert on air, else the latest active one (between its repeats too),
   * until it ends. A station emergency on air shows as the conductor says.
   */
  private refreshBoard(): void {
    if (!this.board) return;
    const np = this.d.conductor.nowPlaying();
    const onAir = np && classOf(np.priority) === 'emergency' && np.key.startsWith('request:') ? this.registry.byRequest(np.key.slice('request:'.length)) : null;
    if (np && classOf(np.priority) === 'emergency' && (!onAir || isOwn(onAir.origin))) {
      this.board(null);
      return;
    }
    const candidates = [...(onAir ? [onAir] : []), ...this.registry.open().filter((r) => !isOwn(r.origin)).reverse()];
    for (const rec of candidates) {
      const act = this.activity(rec);
      if (act.state !== 'active') continue;
      const view = boardView(rec.alert, this.d.station.languages[0] ?? 'vi', { infos: act.infos, policy: this.d.config });
      if (!view) continue;
      const expires = new Date(view.expiresMs).toLocaleString('vi-VN', { timeZone: this.d.timezone, hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit', year: 'numeric' });
      this.board({
        key: `alert:${rec.key}`,
        title: (view.headline ?? view.event).slice(0, 300),
        text: (view.description ?? '').slice(0, 5000),
        instructions: (view.instruction ?? '').slice(0, 5000),
        meta: `${view.sender} · Hiệu lực đến / until ${expires}`.slice(0, 500),
      });
      return;
    }
    this.board(null);
  }
}

/** The CAP parser and its schema validator (wasm) load after the agent is up, not on its start path. */
async function capParser(): Promise<typeof import('./cap/parse.js').parseCap> {
  return (await import('./cap/parse.js')).parseCap;
}

function isOwn(origin: AlertOrigin): boolean {
  return origin !== 'cap-command' && origin !== 'cap-feed';
}

function ownOrigin(origin: string): AlertOrigin {
  return origin === 'button' || origin === 'province' ? origin : 'cli';
}

/** A station emergency written as the CAP alert it amounts to, so the same lifecycle judges it. */
function ownAlert(request: StationRequest, stationId: string, sentMs: number): CapAlert {
  const headline = request.label || request.display?.text.slice(0, 200) || 'Thông báo khẩn cấp';
  return {
    identifier: request.id,
    sender: request.origin === 'province' ? `province:${stationId}` : `station:${stationId}`,
    sentMs: Math.min(sentMs, request.expiresMs ?? sentMs),
    status: 'Actual',
    msgType: 'Alert',
    scope: 'Public',
    codes: [],
    references: [],
    incidents: [],
    info: [{
      language: 'vi',
      categories: ['Safety'],
      event: headline,
      responseTypes: [],
      urgency: 'Immediate',
      severity: 'Extreme',
      certainty: 'Observed',
      eventCodes: [],
      ...(request.expiresMs !== undefined ? { expiresMs: request.expiresMs } : {}),
      headline,
      ...(request.display?.text ? { description: request.display.text } : {}),
      ...(request.display?.instructions ? { instruction: request.display.instructions } : {}),
      parameters: [],
      resources: [],
      areas: [],
    }],
  };
}
