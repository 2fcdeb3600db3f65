import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { randomUUID, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import type { SyncConfig } from '../config/schema.js';
import { Backoff, sleep } from '../lib/backoff.js';
import { CommandLog, ProvinceClock, ReplayGuard, decideCommand } from './guard.js';
import { Outbox } from './outbox.js';
import {
  MAX_PAYLOAD_BYTES,
  MAX_TARGET_PARTS,
  PROTOCOL_VERSION,
  type Command,
  type CommandResponse,
  type EventBody,
  type Health,
  type OutboxKind,
  type OutboxMessage,
  outboxMessage,
  type Reported,
  type StationStatus,
  type TargetHead,
} from './protocol.js';
import { keyRing, loadPublicKey, openEnvelope } from './signing.js';
import { assembleTarget, type ValidatedTarget } from './target.js';
import { Downloader } from './download.js';
import { activateTarget, readAppliedTarget, type AppliedTarget, type PortAction, type StationPort } from './station-port.js';
import { TIME_TOPIC, groupCmdTopic, parseTopic, stationTopics, type StationTopics } from './topics.js';

/**
 * The station's end of the provincial link. Invariants:
 * - nothing in a message acts before its signature (pinned key), its
 *   address, its sequence and its expiry have been checked;
 * - a target is validated whole, its content downloaded, and only then
 *   committed in one transaction; until then the last good one stays in force;
 * - a command runs at most once (sync_command), and never after its expiry;
 * - reports leave through the durable outbox and are deleted only on PUBACK;
 * - every connect, including the first after boot, waits a jittered backoff.
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

/** A command still running after this long is answered "accepted" first. */
export const ACCEPTED_AFTER_MS = 500;

interface HeldCommand {
  cmd: Command;
  arrivedOn: { station: string } | { group: string };
}

export class SyncClient extends EventEmitter {
  readonly outbox: Outbox;
  private readonly topics: StationTopics;
  private readonly keys: Map<string, KeyObject>;
  private readonly guard: ReplayGuard;
  private readonly clock: ProvinceClock;
  private readonly commands: CommandLog;
  private readonly downloader: Downloader;
  private readonly now: () => number;
  private readonly stop$ = new AbortController();
  private readonly password: string | undefined;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private loop?: Promise<void>;
  private mqtt?: MqttClient;
  private connected = false;
  private broker?: string;
  private connectedSinceMs?: number;
  private connectSeq: number;
  private lastSyncMs?: number;
  private readonly refused: Record<string, number> = {};
  private readonly lastRefusalLog = new Map<string, number>();

  private applied: AppliedTarget | undefined;
  private head?: TargetHead;
  private pending?: Reported['pending'];
  private readonly parts = new Map<string, Buffer>();
  private applying?: { version: number; abort: AbortController };
  private readonly downloading = new Map<string, Reported['downloading'][number]>();

  private holding = false;
  private held: HeldCommand[] = [];
  private holdTimer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private healthTimer?: NodeJS.Timeout;
  private draining = false;
  private failures = 0;
  private connectError: string | undefined;
  private lastLoggedError: string | undefined;
  private closed: Promise<void> = Promise.resolve();
  private drainWanted = false;
  private readonly startedMono = performance.now();
  private readonly acceptTx: (cmd: Command, first: CommandResponse) => void;
  private commandCount = 0;

  constructor(private readonly opts: SyncClientOptions) {
    super();
    const { config, db } = opts;
    this.now = opts.now ?? Date.now;
    this.topics = stationTopics(opts.stationId);
    this.keys = keyRing(config.provinceKeys.map(loadPublicKey));
    this.guard = new ReplayGuard(db);
    this.clock = new ProvinceClock(db);
    this.commands = new CommandLog(db);
    this.outbox = opts.outbox ?? new Outbox(db, config.outbox, this.now);
    this.password = config.passwordFile ? readFileSync(config.passwordFile, 'utf8').trim() : config.password;
    this.tls = {
      ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
      ...(config.tls.certFile ? { cert: readFileSync(config.tls.certFile) } : {}),
      ...(config.tls.keyFile ? { key: readFileSync(config.tls.keyFile) } : {}),
    };
    this.downloader = new Downloader({
      dir: opts.downloadDir,
      parallel: config.download.parallel,
      attempts: config.download.attempts,
      log: opts.log,
      ...(this.tls.ca ? { ca: this.tls.ca } : {}),
    });
    this.applied = readAppliedTarget(db);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'sync.connect_seq'").get() as { value: string } | undefined;
    this.connectSeq = row ? Number(row.value) : 0;
    this.outbox.onAdded(() => void this.drain());
    this.acceptTx = db.transaction((cmd: Command, first: CommandResponse) => {
      this.guard.accept('cmd', cmd.seq);
      this.commands.record(cmd, first, this.now());
    });
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.connectLoop().catch((err: unknown) => {
      if (!this.stop$.signal.aborted) this.opts.log.error({ err }, 'sync loop ended unexpectedly');
    });
    this.scheduleHealth(10_000);
  }

  /** Says goodbye (retained offline/shutdown) when connected, then closes. */
  async stop(): Promise<void> {
    this.stop$.abort(new Error('sync stopped'));
    this.applying?.abort.abort(new Error('sync stopped'));
    clearTimeout(this.holdTimer);
    clearTimeout(this.reportTimer);
    clearTimeout(this.healthTimer);
    const client = this.mqtt;
    if (client && this.connected) {
      const bye: StationStatus = { state: 'offline', station: this.opts.stationId, connectSeq: this.connectSeq, reason: 'shutdown' };
      await within(2000, client.publishAsync(this.topics.status, JSON.stringify(bye), { qos: 1, retain: true }));
    }
    // A clean DISCONNECT: the broker discards the last will, so "shutdown" stays the last word.
    if (client && !(await within(2000, client.endAsync(false)))) await client.endAsync(true).catch(() => undefined);
    await this.loop;
  }

  status(): SyncStatus {
    return {
      connected: this.connected,
      ...(this.broker ? { broker: this.broker } : {}),
      ...(this.connectedSinceMs !== undefined ? { connectedSinceMs: this.connectedSinceMs } : {}),
      connectSeq: this.connectSeq,
      ...(this.applied ? { applied: this.applied } : {}),
      ...(this.pending ? { pending: this.pending } : {}),
      downloading: [...this.downloading.values()],
      outboxDepth: this.outbox.depth(),
      outboxDropped: this.outbox.dropped(),
      ...(this.lastSyncMs !== undefined ? { lastSyncMs: this.lastSyncMs } : {}),
      refused: { ...this.refused },
    };
  }

  /** An event for the province, through the outbox. */
  event(event: string, level: EventBody['level'], message: string, data?: Record<string, unknown>): void {
    const body: EventBody = { event, level, message, ...(data ? { data } : {}) };
    this.send('event', body);
  }

  // --- connection -------------------------------------------------------------

  private async connectLoop(): Promise<void> {
    const { config } = this.opts;
    const signal = this.stop$.signal;
    const backoff = new Backoff({ initialMs: config.reconnect.initialMs, maxMs: config.reconnect.maxMs, ...(this.opts.random ? { random: this.opts.random } : {}) });
    let index = 0;
    while (!signal.aborted) {
      // Also before the very first connect: after a province-wide power cut every station boots in the same second.
      const delay = backoff.next();
      try {
        await sleep(delay, signal);
      } catch {
        return;
      }
      const url = config.brokers[index % config.brokers.length]!;
      this.connectError = undefined;
      const wasConnected = await this.connectOnce(url);
      if (wasConnected) {
        backoff.reset();
        this.failures = 0;
        continue;
      }
      index++;
      this.failures++;
      // Log the first failure, a change of reason, and a reminder now and then: not every attempt of a long outage.
      const reason = this.connectError ?? 'closed before CONNACK';
      if (this.failures === 1 || reason !== this.lastLoggedError || this.failures % 50 === 0) {
        this.lastLoggedError = reason;
        this.opts.log.warn({ broker: url, err: reason, failures: this.failures }, 'cannot reach the provincial broker; retrying with backoff');
      }
    }
  }

  /** One connection, from CONNECT to close. Resolves true when it had been connected. */
  private connectOnce(url: string): Promise<boolean> {
    const { config, stationId, log } = this.opts;
    this.connectSeq += 1;
    this.opts.db
      .prepare("INSERT INTO meta (key, value) VALUES ('sync.connect_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .run(String(this.connectSeq));
    const will: StationStatus = { state: 'offline', station: stationId, connectSeq: this.connectSeq, reason: 'lost' };
    const options: IClientOptions = {
      clientId: stationId,
      username: config.username ?? stationId,
      ...(this.password !== undefined ? { password: this.password } : {}),
      keepalive: config.keepaliveS,
      protocolVersion: config.protocolVersion,
      // A persistent session keeps commands sent during a short drop; MQTT 5 also needs a session expiry for that.
      clean: false,
      ...(config.protocolVersion === 5 ? { properties: { sessionExpiryInterval: config.sessionExpiryS } } : {}),
      reconnectPeriod: 0,
      connectTimeout: config.reconnect.connectTimeoutMs,
      resubscribe: false,
      will: { topic: this.topics.status, payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
      rejectUnauthorized: true,
      ...this.tls,
    };
    return new Promise((resolve) => {
      let wasConnected = false;
      let client: MqttClient;
      try {
        client = connect(url, options);
      } catch (err) {
        this.connectError = (err as Error).message;
        resolve(false);
        return;
      }
      this.mqtt = client;
      this.closed = new Promise((r) => client.once('close', () => r()));
      client.on('connect', () => {
        wasConnected = true;
        this.onConnected(client, url);
      });
      client.on('message', (topic, payload) => this.onMessage(topic, payload));
      client.on('error', (err) => {
        if (!wasConnected) this.connectError = err.message;
      });
      client.once('close', () => {
        if (wasConnected && !this.stop$.signal.aborted) log.warn({ broker: url }, 'disconnected from broker');
        this.connected = false;
        delete this.connectedSinceMs;
        this.emit('disconnected');
        client.end(true);
        resolve(wasConnected);
      });
    });
  }

  private onConnected(client: MqttClient, url: string): void {
    const { stationId, config, log, port } = this.opts;
    this.connected = true;
    this.broker = url;
    this.connectedSinceMs = this.now();
    log.info({ broker: url, connectSeq: this.connectSeq }, 'connected to broker');
    // Commands that arrive before the province's time beacon are held briefly when the station clock cannot judge expiry.
    this.holding = !port.snapshot().clock.trusted;
    if (this.holding) {
      clearTimeout(this.holdTimer);
      this.holdTimer = setTimeout(() => this.releaseHeld(), this.opts.commandHoldMs ?? 3000);
    }
    const d = port.describe();
    const birth: StationStatus = {
      state: 'online',
      station: stationId,
      connectSeq: this.connectSeq,
      software: d.software,
      protocol: PROTOCOL_VERSION,
      capabilities: d.capabilities,
      zones: d.zones,
      groups: config.groups,
      bootMs: Math.round(this.now() - (performance.now() - this.startedMono)),
      atMs: this.now(),
    };
    client.publish(this.topics.status, JSON.stringify(birth), { qos: 1, retain: true });
    const subs: Record<string, { qos: 1 }> = {
      [TIME_TOPIC]: { qos: 1 },
      [this.topics.target]: { qos: 1 },
      [this.topics.targetParts]: { qos: 1 },
      [this.topics.cmd]: { qos: 1 },
    };
    for (const g of config.groups) subs[groupCmdTopic(g)] = { qos: 1 };
    client.subscribe(subs, (err, granted) => {
      if (err) return log.error({ err: err.message }, 'subscribe failed');
      const refused = (granted ?? []).filter((g) => g.qos === 128 || g.qos > 2).map((g) => g.topic);
      if (refused.length) log.error({ topics: refused }, 'broker refused subscriptions: check the broker ACL for this station');
    });
    this.emit('connected');
    this.reportSoon(0);
    void this.drain();
  }

  // --- inbound -----------------------------------------------------------------

  private refuse(reason: string, detail: Record<string, unknown>): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    // Log the first of each kind per minute: a flood of junk must not flood the journal.
    const last = this.lastRefusalLog.get(reason) ?? -Infinity;
    if (performance.now() - last > 60_000) {
      this.lastRefusalLog.set(reason, performance.now());
      this.opts.log.warn({ reason, ...detail, countSoFar: this.refused[reason] }, 'refused a message from the broker');
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
      if (t.kind === 'target-part' && t.station === id) this.parts.delete(t.part);
      return;
    }
    if (t.kind === 'target-part' && t.station === id) return this.onPart(t.part, payload);
    const isCmd = (t.kind === 'cmd' && t.station === id) || (t.kind === 'group-cmd' && this.opts.config.groups.includes(t.group));
    const isTarget = t.kind === 'target' && t.station === id;
    if (!isCmd && !isTarget && t.kind !== 'time') return this.refuse('unexpected-topic', { topic });
    const opened = openEnvelope(payload, this.keys);
    if (!opened.ok) return this.refuse(opened.reason, { topic, errors: opened.errors.slice(0, 5) });
    const p = opened.payload;
    if (t.kind === 'time') {
      if (p.type !== 'time') return this.refuse('wrong-type', { topic, type: p.type });
      this.clock.observe(p.issuedMs);
      this.releaseHeld();
      return;
    }
    if (isTarget) {
      if (p.type !== 'target' || p.station !== id) return this.refuse('wrong-type', { topic, type: p.type });
      return this.onHead(p);
    }
    if (p.type !== 'command') return this.refuse('wrong-type', { topic, type: p.type });
    const arrivedOn = t.kind === 'cmd' ? { station: t.station } : { group: (t as { group: string }).group };
    this.clock.observe(p.issuedMs);
    if (this.holding) {
      if (this.held.length < 100) this.held.push({ cmd: p, arrivedOn });
      else this.refuse('hold-overflow', { id: p.id });
      return;
    }
    void this.onCommand(p, arrivedOn);
  }

  private releaseHeld(): void {
    if (!this.holding) return;
    this.holding = false;
    clearTimeout(this.holdTimer);
    const held = this.held;
    this.held = [];
    for (const h of held) void this.onCommand(h.cmd, h.arrivedOn);
  }

  // --- target ------------------------------------------------------------------

  private onPart(name: string, payload: Buffer): void {
    const referenced = this.head?.parts.some((r) => r.name === name) ?? false;
    // Bounded: parts of versions nobody asks for are not hoarded.
    if (!referenced && !this.parts.has(name) && this.parts.size >= MAX_TARGET_PARTS) return this.refuse('part-overflow', { part: name });
    this.parts.set(name, payload);
    if (this.head && this.pending?.state === 'waiting-parts' && referenced) this.tryAssemble();
  }

  private onHead(head: TargetHead): void {
    const appliedVersion = this.applied?.version ?? 0;
    this.clock.observe(head.issuedMs);
    if (head.version < appliedVersion) return this.refuse('old-target', { version: head.version, applied: appliedVersion });
    if (head.version === appliedVersion) {
      this.lastSyncMs = this.now();
      return;
    }
    if (this.head && head.version < this.head.version) return this.refuse('old-target', { version: head.version, pending: this.head.version });
    // The same version again (retained, redelivered on reconnect): only a failed download is worth another try.
    if (this.head?.version === head.version && this.pending?.state !== 'failed') return;
    this.head = head;
    this.applying?.abort.abort(new Error(`superseded by version ${head.version}`));
    this.tryAssemble();
  }

  private tryAssemble(): void {
    const head = this.head;
    if (!head) return;
    const r = assembleTarget(head, this.parts, this.opts.port.describe().zones);
    if (r.state === 'incomplete') {
      this.setPending({ version: head.version, state: 'waiting-parts', errors: [`waiting for parts: ${r.missing.join(', ')}`] });
      return;
    }
    if (r.state === 'invalid') {
      this.opts.log.warn({ version: head.version, errors: r.errors.slice(0, 20) }, 'target refused; the last good one stays in force');
      this.setPending({ version: head.version, state: 'rejected', errors: r.errors.slice(0, 50) });
      this.event('target.rejected', 'error', `target version ${head.version} refused: ${r.errors.length} problem(s)`, { version: head.version, errors: r.errors.slice(0, 50) });
      return;
    }
    // Parts no longer referenced are dropped; the head pins what matters.
    for (const name of this.parts.keys()) if (!head.parts.some((p) => p.name === name)) this.parts.delete(name);
    void this.apply(r.target);
  }

  private async apply(target: ValidatedTarget): Promise<void> {
    const { log, port, db } = this.opts;
    const abort = new AbortController();
    this.applying = { version: target.version, abort };
    this.setPending({ version: target.version, state: 'downloading', errors: [] });
    try {
      const failures = await this.downloader.fetchAll(target.content, port.contentCache, abort.signal, (p) => {
        this.downloading.set(p.sha256, p);
        this.reportSoon();
      });
      this.downloading.clear();
      if (failures.length) {
        const errors = failures.map((f) => `content ${f.name} (${f.sha256}): ${f.error}`);
        log.warn({ version: target.version, errors }, 'target content could not be downloaded; the last good target stays in force');
        this.setPending({ version: target.version, state: 'failed', errors: errors.slice(0, 50) });
        this.event('target.failed', 'error', `target version ${target.version}: ${failures.length} content file(s) could not be downloaded`, { version: target.version, errors: errors.slice(0, 50) });
        return;
      }
      abort.signal.throwIfAborted();
      this.setPending({ version: target.version, state: 'activating', errors: [] });
      this.applied = activateTarget(db, target, this.now(), port.snapshot().clock.trusted);
      delete this.pending;
      this.lastSyncMs = this.now();
      log.info({ version: target.version, programmes: target.programmes.length, content: target.content.length }, 'target applied');
      this.event('target.applied', 'info', `target version ${target.version} applied`, { version: target.version });
      port.onTargetActivated(target);
      this.emit('applied', target.version);
      this.reportSoon(0);
    } catch (err) {
      this.downloading.clear();
      if (!abort.signal.aborted) {
        log.error({ err, version: target.version }, 'target could not be applied');
        this.setPending({ version: target.version, state: 'failed', errors: [(err as Error).message] });
      }
    } finally {
      if (this.applying?.abort === abort) delete this.applying;
    }
  }

  private setPending(p: NonNullable<Reported['pending']>): void {
    this.pending = p;
    this.emit('pending', p);
    this.reportSoon();
  }

  // --- commands ----------------------------------------------------------------

  private async onCommand(cmd: Command, arrivedOn: HeldCommand['arrivedOn']): Promise<void> {
    const { stationId, config, port, log } = this.opts;
    const snap = port.snapshot();
    const decision = decideCommand(cmd, {
      stationId,
      groups: config.groups,
      arrivedOn,
      seqVerdict: this.guard.check('cmd', cmd.seq),
      previous: this.commands.get(cmd.id),
      provinceNowMs: this.clock.lowerBound(),
      trustedWallMs: snap.clock.trusted ? this.now() : undefined,
    });
    if (decision.action === 'ignore') return this.refuse('misaddressed', { id: cmd.id, reason: decision.reason });
    if (decision.action === 'repeat-answer') {
      this.respond(decision.response);
      return;
    }
    const answer = (status: CommandResponse['status'], reason?: string, result?: unknown): CommandResponse => ({
      id: cmd.id,
      station: stationId,
      status,
      ...(reason !== undefined ? { reason } : {}),
      ...(result !== undefined ? { result } : {}),
      atMs: this.now(),
    });
    const first = decision.action === 'reject' ? answer('rejected', decision.reason) : answer('accepted');
    // Recorded before anything runs: after a crash a redelivered command is answered, not run again.
    this.acceptTx(cmd, first);
    if (decision.action === 'reject') {
      this.respond(first);
      log.warn({ id: cmd.id, action: cmd.command.action, reason: decision.reason }, 'command refused');
      return;
    }
    log.info({ id: cmd.id, action: cmd.command.action, via: cmd.to }, 'command accepted');
    this.emit('command', cmd);
    // "accepted" is said only when the outcome takes a while; a quick command gets its final answer alone.
    const slow = setTimeout(() => this.respond(first), ACCEPTED_AFTER_MS);
    let final: CommandResponse;
    try {
      const outcome = await this.execute(cmd);
      final = answer(outcome.status, outcome.reason, outcome.result);
    } catch (err) {
      final = answer('rejected', `failed: ${(err as Error).message}`);
    }
    clearTimeout(slow);
    this.commands.record(cmd, final, this.now());
    // Pruning walks the table; now and then is enough to keep it bounded.
    if (++this.commandCount % 256 === 0) this.commands.prune();
    this.respond(final);
  }

  private async execute(cmd: Command): Promise<{ status: 'done' | 'rejected'; reason?: string; result?: unknown }> {
    const a = cmd.command;
    if (a.action === 'resync') {
      this.parts.clear();
      delete this.head;
      delete this.pending;
      const client = this.mqtt;
      if (client && this.connected) {
        // Unsubscribe and subscribe again: the broker resends the retained target and parts.
        await client.unsubscribeAsync([this.topics.target, this.topics.targetParts]);
        await client.subscribeAsync({ [this.topics.target]: { qos: 1 }, [this.topics.targetParts]: { qos: 1 } });
      }
      this.reportSoon(0);
      return { status: 'done' };
    }
    if (a.action === 'upload-log') {
      const rows = this.opts.db
        .prepare('SELECT * FROM play_log WHERE COALESCE(started_ms, scheduled_ms, 0) BETWEEN ? AND ? ORDER BY seq LIMIT ?')
        .all(a.sinceMs, a.untilMs ?? Number.MAX_SAFE_INTEGER, a.maxRows) as Array<{ id: string }>;
      this.opts.db.transaction(() => {
        for (const r of rows) this.send('play', r, r.id);
      })();
      return { status: 'done', result: { rows: rows.length } };
    }
    return this.opts.port.runCommand({
      id: cmd.id,
      issuedMs: cmd.issuedMs,
      expiresMs: cmd.issuedMs + cmd.ttlMs,
      via: cmd.to,
      action: a as PortAction,
    });
  }

  private respond(r: CommandResponse): void {
    this.send('response', r);
  }

  /**
   * Queues one message in the outbox. `id` (the outbox row id and the
   * message id the province deduplicates by) defaults to a new UUID; a
   * play-log row uses its own id, so sending it again is recognised.
   */
  send(kind: OutboxKind, body: unknown, id: string = randomUUID()): void {
    this.outbox.add(kind, this.wrap(kind, body, id), id);
  }

  private wrap(kind: OutboxKind, body: unknown, id: string): OutboxMessage {
    return outboxMessage(this.opts.stationId, kind, body, id, this.now());
  }

  // --- outbound ----------------------------------------------------------------

  /** Publishes the outbox oldest first at QoS 1, deleting each row on its PUBACK. */
  private async drain(): Promise<void> {
    this.drainWanted = true;
    if (this.draining) return;
    const client = this.mqtt;
    if (!client || !this.connected) return;
    this.draining = true;
    try {
      // Each pass ends with every row it sent acknowledged; rows added meanwhile ask for another pass.
      while (this.drainWanted && this.connected && this.mqtt === client) {
        this.drainWanted = false;
        if (!(await this.drainPass(client))) break;
      }
    } finally {
      this.draining = false;
    }
  }

  /** False when a publish failed (the rows stay queued for the next connection). */
  private async drainPass(client: MqttClient): Promise<boolean> {
    let after = 0;
    while (this.connected && this.mqtt === client) {
      const rows = this.outbox.next(64, after);
      if (rows.length === 0) return true;
      after = rows[rows.length - 1]!.seq;
      const acked = Promise.allSettled(
        rows.map(
          (row) =>
            new Promise<void>((resolve, reject) => {
              const topic = row.kind === 'response' ? this.topics.response : this.topics.out(row.kind);
              client.publish(topic, row.payload, { qos: 1 }, (err) => {
                if (err) return reject(err);
                this.outbox.delete(row.seq);
                resolve();
              });
            }),
        ),
      );
      // A connection that dies with PUBACKs outstanding must not leave the drain waiting forever.
      const results = await Promise.race([acked, this.closed.then(() => undefined)]);
      if (!results) return false;
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        this.opts.log.warn({ err: String((failed as PromiseRejectedResult).reason) }, 'outbox publish failed; rows stay queued');
        return false;
      }
      // A short batch was the whole queue; rows added since then set drainWanted.
      if (rows.length < 64) return true;
    }
    return false;
  }

  private reportSoon(delayMs = 500): void {
    if (this.reportTimer && delayMs > 0) return;
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      delete this.reportTimer;
      this.publishReported();
    }, delayMs);
  }

  private publishReported(): void {
    const client = this.mqtt;
    if (!client || !this.connected) return;
    const snap = this.opts.port.snapshot();
    const reported: Reported = {
      station: this.opts.stationId,
      applied: this.applied?.version ?? 0,
      ...(this.applied ? { appliedAtMs: this.applied.appliedMs } : {}),
      ...(this.pending ? { pending: this.pending } : {}),
      downloading: [...this.downloading.values()],
      playing: snap.playing.slice(0, 16),
      faults: snap.faults.slice(0, 50),
      atMs: this.now(),
    };
    client.publish(this.topics.reported, JSON.stringify(reported), { qos: 1, retain: true });
  }

  private scheduleHealth(delayMs: number): void {
    clearTimeout(this.healthTimer);
    this.healthTimer = setTimeout(() => {
      this.putHealth();
      const asked = this.applied?.settings.healthIntervalS ?? 0;
      this.scheduleHealth(Math.max(this.opts.config.healthIntervalS, asked) * 1000);
    }, delayMs);
    this.healthTimer.unref();
  }

  /** Coalesced: replaces any health report not yet sent. */
  putHealth(): void {
    const snap = this.opts.port.snapshot();
    const dropped = this.outbox.dropped();
    const health: Health = {
      uptimeS: Math.round(process.uptime()),
      memoryRssMb: Math.round(process.memoryUsage.rss() / 1e5) / 10,
      ...(snap.diskFreeMb !== undefined ? { diskFreeMb: snap.diskFreeMb } : {}),
      ...(snap.cache ? { cache: snap.cache } : {}),
      outboxDepth: this.outbox.depth(),
      outboxDropped: dropped,
      clock: snap.clock,
      ...(this.lastSyncMs !== undefined ? { lastSyncMs: this.lastSyncMs } : {}),
      refused: { ...this.refused },
      faults: snap.faults.slice(0, 50),
    };
    if (Object.keys(dropped).length) {
      const lost = this.outbox.takeDropped();
      this.event('outbox.dropped', 'warn', 'the outbox was full: oldest messages were dropped', { dropped: lost });
    }
    const id = randomUUID();
    this.outbox.putHealth(this.wrap('health', health, id), id);
  }
}

/** True when `p` settled within `ms`; never rejects, leaves no timer behind. */
async function within(ms: number, p: Promise<unknown>): Promise<boolean> {
  const timer = new AbortController();
  const settled = p.then(
    () => true,
    () => true,
  );
  const result = await Promise.race([settled, sleep(ms, timer.signal).then(() => false, () => false)]);
  timer.abort();
  return result;
}
