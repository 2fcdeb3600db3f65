import { EventEmitter } from 'node:events';
import { randomUUID, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import type { SyncConfig } from '../config/schema.js';
import { ProvinceClock, ReplayGuard, provenWallMs } from './guard.js';
import { WriteBehind } from '../store/write-behind.js';
import { Outbox } from './outbox.js';
import { MAX_PAYLOAD_BYTES, type EventBody, type OutboxKind, type OutboxMessage, outboxMessage, type Reported } from './protocol.js';
import { keyRing, loadPublicKey, openEnvelope } from './signing.js';
import { Downloader } from './download.js';
import type { AppliedTarget, StationPort } from './station-port.js';
import { parseTopic, stationTopics, type StationTopics } from './topics.js';
import { BrokerLink, brokerSecrets } from './link.js';
import { insecureLinkWarnings } from './transport-policy.js';
import { CommandRunner } from './commands.js';
import { OutboxPump } from './outbox-pump.js';
import { Reporter } from './reporter.js';
import { TargetApplier } from './target-applier.js';

/**
 * The station's end of the provincial link, and the router between its
 * parts: the broker link (link.ts), the target applier (target-applier.ts),
 * province commands (commands.ts), the outbox pump (outbox-pump.ts) and the
 * reporter (reporter.ts). Nothing in a message acts before its signature
 * (pinned key), its address, its sequence and its expiry have been checked.
 */

export interface SyncClientOptions {
  stationId: string;
  config: SyncConfig;
  port: StationPort;
  db: Db;
  log: Logger;
  /** Directory for partial downloads (`<state>/downloads`). */
  downloadDir: string;
  now?: () => number;
  /** Random source for backoff jitter (tests). */
  random?: () => number;
  /** How long commands wait after a connect for the province time beacon when the station clock is not trusted. */
  commandHoldMs?: number;
  /** The station's one outbox (the daemon's store writes play-log rows into it); a new one when absent. */
  outbox?: Outbox;
  /** Refusal counters reach the database at most this often (and at stop): a flood of junk is not a flood of SD card writes. */
  refusalSaveMs?: number;
}

export interface SyncStatus {
  connected: boolean;
  broker?: string;
  connectedSinceMs?: number;
  connectSeq: number;
  applied?: AppliedTarget;
  pending?: Reported['pending'];
  downloading: Reported['downloading'];
  outboxDepth: number;
  outboxDropped: Record<string, number>;
  lastSyncMs?: number;
  refused: Record<string, number>;
}

export class SyncClient extends EventEmitter {
  readonly outbox: Outbox;
  private readonly topics: StationTopics;
  private readonly keys: Map<string, KeyObject>;
  private readonly clock: ProvinceClock;
  private readonly behind: WriteBehind;
  private readonly now: () => number;
  private readonly link: BrokerLink;
  private readonly applier: TargetApplier;
  private readonly commands: CommandRunner;
  private readonly pump: OutboxPump;
  private readonly reporter: Reporter;
  private readonly refused: Record<string, number>;
  private refusedSaveTimer: NodeJS.Timeout | undefined;
  private readonly lastRefusalLog = new Map<string, number>();
  private readonly lastEvent = new Map<string, number>();
  private started = false;

  constructor(private readonly opts: SyncClientOptions) {
    super();
    const { config, db, log } = opts;
    this.now = opts.now ?? Date.now;
    this.topics = stationTopics(opts.stationId);
    this.keys = keyRing(config.provinceKeys.map(loadPublicKey));
    // What the link writes (its messages out, command records, the clock bound) waits in memory when the disk takes nothing.
    this.behind = new WriteBehind(log);
    this.clock = new ProvinceClock(db, undefined, undefined, (write) => this.behind.run('province-time', write));
    this.refused = loadRefused(db);
    this.outbox = opts.outbox ?? new Outbox(db, config.outbox, this.now);
    const { tls, password } = brokerSecrets(config);
    this.link = new BrokerLink({
      stationId: opts.stationId,
      config,
      port: opts.port,
      db,
      log,
      topics: this.topics,
      password,
      tls,
      now: this.now,
      ...(opts.random ? { random: opts.random } : {}),
    });
    const live = (): ReturnType<BrokerLink['live']> => this.link.live();
    this.applier = new TargetApplier({
      db,
      port: opts.port,
      log,
      downloader: new Downloader({
        dir: opts.downloadDir,
        parallel: config.download.parallel,
        attempts: config.download.attempts,
        log,
        ...(tls.ca ? { ca: tls.ca } : {}),
      }),
      now: this.now,
      retry: config.download.retry,
      ...(opts.random ? { random: opts.random } : {}),
      refuse: (reason, detail) => this.refuse(reason, detail),
      event: (event, level, message, data) => this.event(event, level, message, data),
      changed: (delayMs) => this.reporter.reportSoon(delayMs),
      onPending: (p) => this.emit('pending', p),
      onApplied: (version) => this.emit('applied', version),
    });
    this.commands = new CommandRunner({
      stationId: opts.stationId,
      config,
      port: opts.port,
      db,
      log,
      now: this.now,
      guard: new ReplayGuard(db),
      clock: this.clock,
      behind: this.behind,
      commandHoldMs: opts.commandHoldMs ?? 3000,
      send: (kind, body, id) => this.send(kind, body, id),
      refuse: (reason, detail) => this.refuse(reason, detail),
      onAccepted: (cmd) => this.emit('command', cmd),
      resync: async () => {
        this.applier.resync();
        await this.link.resubscribeTarget();
        this.reporter.reportSoon(0);
      },
    });
    this.pump = new OutboxPump(this.outbox, this.topics, live, log);
    this.reporter = new Reporter({
      stationId: opts.stationId,
      port: opts.port,
      outbox: this.outbox,
      topics: this.topics,
      live,
      applier: this.applier,
      refused: () => ({ ...this.refused }),
      healthIntervalS: config.healthIntervalS,
      event: (event, level, message, data) => this.event(event, level, message, data),
      wrap: (kind, body, id) => this.wrap(kind, body, id),
      now: this.now,
    });
    this.outbox.onAdded(() => void this.pump.drain());
    this.link.on('message', (topic: string, payload: Buffer) => this.onMessage(topic, payload));
    this.link.on('refused', (reason: string, detail: Record<string, unknown>) => this.refuse(reason, detail));
    this.link.on('connected', () => {
      this.commands.connected();
      this.emit('connected');
      this.reporter.reportSoon(0);
      void this.pump.drain();
    });
    this.link.on('disconnected', () => this.emit('disconnected'));
    this.link.on('acl', (problem: string | undefined) => {
      this.emit('acl', problem);
      if (problem) this.event('sync.acl', 'error', problem);
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const w of insecureLinkWarnings(this.opts.config.brokers, this.opts.config.allowInsecure)) this.opts.log.warn(w.en);
    this.link.start();
    this.reporter.scheduleHealth(10_000);
    // Level-triggered from the first second: the applied target's content is checked against the cache before any head arrives.
    this.applier.reconcile('start');
  }

  /** Says goodbye (retained offline/shutdown) when connected, then closes. */
  async stop(): Promise<void> {
    this.commands.stop();
    this.reporter.stop();
    await Promise.all([this.applier.stop(), this.link.stop()]);
    this.saveRefused();
    this.behind.flush();
    this.behind.close();
  }

  /** The province's clock, a lower bound proven by its signed messages (0: nothing heard yet): alerts expire by it. */
  provinceTime(): number {
    return this.clock.lowerBound();
  }

  status(): SyncStatus {
    const a = this.applier.status();
    return {
      connected: this.link.connected,
      ...(this.link.broker ? { broker: this.link.broker } : {}),
      ...(this.link.connectedSinceMs !== undefined ? { connectedSinceMs: this.link.connectedSinceMs } : {}),
      connectSeq: this.link.connectSeq,
      ...a,
      outboxDepth: this.outbox.depth(),
      outboxDropped: this.outbox.dropped(),
      ...(this.applier.lastSyncMs !== undefined ? { lastSyncMs: this.applier.lastSyncMs } : {}),
      refused: { ...this.refused },
    };
  }

  /** What the operator must know about the link (status, doctor, health). */
  problems(): string[] {
    const held = this.behind.problem();
    return [
      ...insecureLinkWarnings(this.opts.config.brokers, this.opts.config.allowInsecure).map((w) => w.en),
      ...(this.link.aclProblem ? [this.link.aclProblem] : []),
      ...(held ? [`province link: ${held}`] : []),
    ];
  }

  /** Content the target in force and the one being applied need: the cache must not evict it. */
  neededContent(): Set<string> {
    return this.applier.neededContent();
  }

  /** Something changed in the cache (a file found corrupt or missing): compare with the target again. */
  reconcile(reason: string): void {
    this.applier.reconcile(reason);
  }

  /** An event for the province, through the outbox. */
  event(event: string, level: EventBody['level'], message: string, data?: Record<string, unknown>): void {
    const body: EventBody = { event, level, message, ...(data ? { data } : {}) };
    this.send('event', body);
  }

  /** Coalesced: replaces any health report not yet sent. */
  putHealth(): void {
    this.reporter.putHealth();
  }

  /**
   * Queues one message in the outbox. `id` (the outbox row id and the
   * message id the province deduplicates by) defaults to a new UUID; a
   * play-log row uses its own id, so sending it again is recognised.
   */
  send(kind: OutboxKind, body: unknown, id: string = randomUUID()): void {
    const message = this.wrap(kind, body, id);
    this.behind.run(`outbox:${id}`, () => this.outbox.add(kind, message, id));
  }

  private wrap(kind: OutboxKind, body: unknown, id: string): OutboxMessage {
    return outboxMessage(this.opts.stationId, kind, body, id, this.now());
  }

  // --- router --------------------------------------------------------------------

  private refuse(reason: string, detail: Record<string, unknown>): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    this.refusedSaveTimer ??= setTimeout(() => this.saveRefused(), this.opts.refusalSaveMs ?? 60_000).unref();
    // Log the first of each kind per minute: a flood of junk must not flood the journal.
    const last = this.lastRefusalLog.get(reason) ?? -Infinity;
    if (performance.now() - last > 60_000) {
      this.lastRefusalLog.set(reason, performance.now());
      this.opts.log.warn({ reason, ...detail, countSoFar: this.refused[reason] }, 'refused a message from the broker');
    }
  }

  private saveRefused(): void {
    clearTimeout(this.refusedSaveTimer);
    this.refusedSaveTimer = undefined;
    try {
      this.opts.db
        .prepare("INSERT INTO meta (key, value) VALUES ('sync.refused', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .run(JSON.stringify(this.refused));
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'could not save the refusal counters');
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      this.handleMessage(topic, payload);
    } catch (err) {
      this.refuse('internal-error', { topic, err: (err as Error).message });
    }
  }

  private handleMessage(topic: string, payload: Buffer): void {
    if (payload.length > MAX_PAYLOAD_BYTES) return this.refuse('oversize', { topic, bytes: payload.length });
    const t = parseTopic(topic);
    const id = this.opts.stationId;
    if (!t) return this.refuse('unexpected-topic', { topic });
    // An empty payload clears a retained message: a part the province no longer publishes.
    if (payload.length === 0) {
      if (t.kind === 'target-part' && t.station === id) this.applier.onPartCleared(t.part);
      return;
    }
    if (t.kind === 'target-part' && t.station === id) return this.applier.onPart(t.part, payload);
    const isCmd = (t.kind === 'cmd' && t.station === id) || (t.kind === 'group-cmd' && this.opts.config.groups.includes(t.group));
    const isTarget = t.kind === 'target' && t.station === id;
    if (!isCmd && !isTarget && t.kind !== 'time') return this.refuse('unexpected-topic', { topic });
    const opened = openEnvelope(payload, this.keys);
    if (!opened.ok) return this.refuse(opened.reason, { topic, errors: opened.errors.slice(0, 5) });
    const p = opened.payload;
    if (t.kind === 'time') {
      if (p.type !== 'time') return this.refuse('wrong-type', { topic, type: p.type });
      this.observeTime(p.issuedMs, topic);
      this.commands.releaseHeld();
      return;
    }
    if (isTarget) {
      if (p.type !== 'target' || p.station !== id) return this.refuse('wrong-type', { topic, type: p.type });
      this.observeTime(p.issuedMs, topic);
      return this.applier.onHead(p);
    }
    if (p.type !== 'command') return this.refuse('wrong-type', { topic, type: p.type });
    const arrivedOn = t.kind === 'cmd' ? { station: t.station } : { group: (t as { group: string }).group };
    // A command's own time may be refused as a bound; the command is still judged (its staleness then cannot be proved).
    this.observeTime(p.issuedMs, topic);
    this.commands.offer(p, arrivedOn);
  }

  /** A signed time, offered to the province clock bound (guard.ts `judgeProvinceTime`); what it refuses is told. */
  private observeTime(issuedMs: number, topic: string): void {
    const verdict = this.clock.observe(issuedMs, provenWallMs(this.opts.port.snapshot().clock, this.now()));
    if (verdict.kind === 'future-dated' || verdict.kind === 'unproven') {
      const detail = { topic, issuedMs, aheadS: Math.round(verdict.aheadMs / 1000), boundMs: this.clock.lowerBound() };
      this.refuse('future-dated', detail);
      this.tellOnce('future-dated', verdict.kind === 'future-dated'
        ? `signed time ${new Date(issuedMs).toISOString()} is ${detail.aheadS} s ahead of the station's proven clock: refused, the clock bound stays`
        : `signed time ${new Date(issuedMs).toISOString()} is ${detail.aheadS} s ahead of the clock bound: not taken until later signed times agree with it`, detail);
    }
    // The bound is what judges alert expiry without a trusted clock: a higher one may end an alert now.
    if (verdict.kind === 'raised' || verdict.kind === 'confirmed') this.emit('time-bound', this.clock.lowerBound());
    if (verdict.kind === 'confirmed') {
      this.opts.log.warn({ jumpS: Math.round(verdict.jumpMs / 1000) }, 'province clock bound moved forward: agreeing signed times confirmed it');
      this.event('sync.time-confirmed', 'warn', `province clock bound moved ${Math.round(verdict.jumpMs / 1000)} s forward: agreeing signed times confirmed it`, { jumpMs: verdict.jumpMs });
    }
  }

  /** An event to the province at most once a minute per kind: a flood of junk must not flood the outbox. */
  private tellOnce(kind: string, message: string, data: Record<string, unknown>): void {
    const last = this.lastEvent.get(kind) ?? -Infinity;
    if (performance.now() - last < 60_000) return;
    this.lastEvent.set(kind, performance.now());
    this.event(`sync.${kind}`, 'warn', message, data);
  }
}

/** The refusal counters kept in `meta` across restarts; anything unreadable starts from zero. */
function loadRefused(db: Db): Record<string, number> {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'sync.refused'").get() as { value: string } | undefined;
  const counts: Record<string, number> = {};
  try {
    const parsed: unknown = row ? JSON.parse(row.value) : {};
    if (parsed && typeof parsed === 'object') {
      for (const [k, v] of Object.entries(parsed)) if (Number.isSafeInteger(v) && (v as number) > 0) counts[k] = v as number;
    }
  } catch {
    // A torn value: counting again from zero is better than not starting.
  }
  return counts;
}
