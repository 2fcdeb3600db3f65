import { EventEmitter } from 'node:events';
import { randomUUID, type KeyObject } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import {
  CommandResponseSchema,
  EventBodySchema,
  OutboxMessageSchema,
  ReportedSchema,
  StatusSchema,
  type Command,
  type CommandAction,
  type CommandResponse,
  type OutboxMessage,
  type Reported,
  type StationStatus,
  type TimeBeacon,
  MAX_PACKET_BYTES,
} from '../../agent/src/sync/protocol.js';
import { signPayload } from '../../agent/src/sync/signing.js';
import { limitIncomingPackets } from '../../agent/src/sync/packet-limit.js';
import { PROVINCE_FILTERS, TIME_TOPIC, groupCmdTopic, parseTopic, stationTopics } from '../../agent/src/sync/topics.js';
import { buildTarget, type TargetSpec } from './target-builder.js';
import { describeIssues } from '../../agent/src/domain/schemas.js';

/**
 * The provincial side of the protocol: the reference for a real provincial
 * server. It signs everything it sends with the province key, numbers it
 * from one strictly increasing sequence, and collects what stations report
 * (deduplicating outbox messages by id, as a server must: delivery is at
 * least once).
 */

export interface ProvinceOptions {
  url: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  /** TLS client certificate and key (PEM), for brokers that require them. */
  clientCert?: { cert: string; key: string };
  privateKey: KeyObject;
  protocolVersion?: 4 | 5;
  /** Sequence source; the default never goes backwards across restarts while the province clock is sane. */
  now?: () => number;
}

export type AnyAddress = { station: string } | { group: string };

export interface StationView {
  status?: StationStatus;
  reported?: Reported;
}

export class Province extends EventEmitter {
  private client?: MqttClient;
  private lastSeq = 0;
  readonly stations = new Map<string, StationView>();
  readonly responses = new Map<string, CommandResponse[]>();
  /** Outbox messages by id, each kept once; `duplicates` counts the redeliveries dropped. */
  readonly received = new Map<string, OutboxMessage>();
  duplicates = 0;
  /** Station payloads that did not validate (a real server logs and drops them). */
  invalid = 0;
  private readonly now: () => number;
  private readonly publishedParts = new Map<string, Set<string>>();
  private beaconTimer?: NodeJS.Timeout;

  constructor(private readonly opts: ProvinceOptions) {
    super();
    this.now = opts.now ?? Date.now;
  }

  /** Strictly increasing, derived from the clock (in microseconds) so a restarted province never reuses a number. */
  nextSeq(): number {
    this.lastSeq = Math.max(this.lastSeq + 1, this.now() * 1000);
    return this.lastSeq;
  }

  async connect(): Promise<void> {
    // Every loa broker binds the client id to the user name.
    const user = this.opts.username ?? 'loa-province';
    const o: IClientOptions = {
      clientId: user,
      username: user,
      ...(this.opts.password ? { password: this.opts.password } : {}),
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      ...(this.opts.clientCert ?? {}),
      protocolVersion: this.opts.protocolVersion ?? 5,
      reconnectPeriod: 1000,
      // A persistent session: what stations publish while the province is reconnecting waits for it at the broker.
      clean: false,
      ...((this.opts.protocolVersion ?? 5) === 5 ? { properties: { sessionExpiryInterval: 7 * 86_400, maximumPacketSize: MAX_PACKET_BYTES } } : {}),
    };
    const client = connect(this.opts.url, o);
    // Bounded reading: a station (or a broker) sending a packet too large loses the connection before it is read.
    limitIncomingPackets(client, MAX_PACKET_BYTES, (v) => this.refuse('(broker)', '(connection cut)', [v.reason]));
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        client.off('connect', onConnect);
        client.off('error', settle);
        if (!err) return resolve();
        client.end();
        reject(err);
      };
      const onConnect = (): void => settle();
      client.on('connect', onConnect);
      client.on('error', settle);
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await client.subscribeAsync(Object.values(PROVINCE_FILTERS).map((t) => t), { qos: 1 });
  }

  get mqtt(): MqttClient {
    if (!this.client) throw new Error('province is not connected: call connect() first');
    return this.client;
  }

  async close(): Promise<void> {
    clearInterval(this.beaconTimer);
    await this.client?.endAsync();
  }

  /** Publishes parts then the signed head, all retained; clears parts the previous version had and this one lacks. */
  async publishTarget(spec: Omit<TargetSpec, 'version' | 'issuedMs'> & { version?: number }, maxPartBytes?: number): Promise<number> {
    const version = spec.version ?? this.nextSeq();
    const built = buildTarget({ ...spec, version, issuedMs: this.now() }, this.opts.privateKey, maxPartBytes);
    const topics = stationTopics(spec.station);
    for (const p of built.parts) await this.mqtt.publishAsync(topics.targetPart(p.name), p.payload, { qos: 1, retain: true });
    await this.mqtt.publishAsync(topics.target, built.headPayload, { qos: 1, retain: true });
    const before = this.publishedParts.get(spec.station) ?? new Set<string>();
    const now = new Set(built.parts.map((p) => p.name));
    for (const old of before) if (!now.has(old)) await this.mqtt.publishAsync(topics.targetPart(old), '', { qos: 1, retain: true });
    this.publishedParts.set(spec.station, now);
    return version;
  }

  /** Signs a command (not published): for tests that replay or tamper with one. */
  signCommand(to: AnyAddress, command: CommandAction, opts: { ttlMs?: number; id?: string; issuedMs?: number } = {}): { cmd: Command; payload: string } {
    const cmd: Command = {
      type: 'command',
      id: opts.id ?? randomUUID(),
      seq: this.nextSeq(),
      issuedMs: opts.issuedMs ?? this.now(),
      ttlMs: opts.ttlMs ?? 60_000,
      to,
      command,
    };
    return { cmd, payload: signPayload(this.opts.privateKey, cmd) };
  }

  static topicFor(to: AnyAddress): string {
    return 'station' in to ? stationTopics(to.station).cmd : groupCmdTopic(to.group);
  }

  async send(to: AnyAddress, command: CommandAction, opts: { ttlMs?: number; id?: string; issuedMs?: number } = {}): Promise<Command> {
    const { cmd, payload } = this.signCommand(to, command, opts);
    await this.mqtt.publishAsync(Province.topicFor(to), payload, { qos: 1 });
    return cmd;
  }

  async publishRaw(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.mqtt.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** The signed clock beacon (retained), a lower bound on "now" for stations whose clock is not trusted. */
  async beacon(): Promise<void> {
    const b: TimeBeacon = { type: 'time', seq: this.nextSeq(), issuedMs: this.now() };
    await this.mqtt.publishAsync(TIME_TOPIC, signPayload(this.opts.privateKey, b), { qos: 1, retain: true });
  }

  startBeacon(intervalMs: number): void {
    void this.beacon();
    this.beaconTimer = setInterval(() => void this.beacon().catch(() => undefined), intervalMs);
  }

  /** Asks a station for its yearly report (the `report` command) and resolves with the figures it answers. */
  async report(station: string, range: { from?: string; to?: string } = {}, timeoutMs = 30_000): Promise<unknown> {
    const cmd = await this.send({ station }, { action: 'report', ...range });
    const r = await this.waitResponse(cmd.id, undefined, timeoutMs);
    if (r.status !== 'done') throw new Error(`station ${station} did not report: ${r.reason ?? r.status}`);
    return r.result;
  }

  /** Resolves with the first answer to `id` that satisfies `pred`. */
  waitResponse(id: string, pred: (r: CommandResponse) => boolean = (r) => r.status !== 'accepted', timeoutMs = 30_000): Promise<CommandResponse> {
    return this.waitFor(() => this.responses.get(id)?.find(pred), timeoutMs, `an answer to command ${id}`);
  }

  /** Resolves when `probe` returns something, re-checked on every message from stations. */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const v = probe();
        if (v === undefined) return false;
        clearTimeout(timer);
        this.off('message', onMsg);
        resolve(v);
        return true;
      };
      const onMsg = (): void => void check();
      const timer = setTimeout(() => {
        this.off('message', onMsg);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.on('message', onMsg);
      check();
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || !('station' in t) || payload.length === 0) return;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return this.refuse(t.station, topic, ['not JSON']);
    }
    const view = this.stations.get(t.station) ?? {};
    this.stations.set(t.station, view);
    if (t.kind === 'status') {
      const s = StatusSchema.safeParse(json);
      if (!s.success) return this.refuse(t.station, topic, describeIssues(s.error));
      // A late last will of an older connection must not mark a reconnected station offline.
      if (!view.status || s.data.connectSeq >= view.status.connectSeq) view.status = s.data;
    } else if (t.kind === 'reported') {
      const r = ReportedSchema.safeParse(json);
      if (!r.success) return this.refuse(t.station, topic, describeIssues(r.error));
      view.reported = r.data;
    } else if (t.kind === 'response' || t.kind === 'out') {
      const m = OutboxMessageSchema.safeParse(json);
      if (!m.success) return this.refuse(t.station, topic, describeIssues(m.error));
      // The body is checked too: an event the province cannot read is as lost as one never sent.
      const body = m.data.kind === 'response' ? CommandResponseSchema.safeParse(m.data.body) : m.data.kind === 'event' ? EventBodySchema.safeParse(m.data.body) : undefined;
      if (body && !body.success) return this.refuse(t.station, topic, describeIssues(body.error));
      if (this.received.has(m.data.id)) {
        this.duplicates++;
      } else {
        this.received.set(m.data.id, m.data);
        if (m.data.kind === 'response') {
          const r = body!.data as CommandResponse;
          const list = this.responses.get(r.id) ?? [];
          list.push(r);
          this.responses.set(r.id, list);
        }
      }
    } else return;
    this.emit('message', t, json);
  }

  /** Counted and told (`invalid`): a real server logs and drops these, and says which station sent them. */
  private refuse(station: string, topic: string, errors: string[]): void {
    this.invalid++;
    this.emit('invalid', { station, topic, errors: errors.slice(0, 10) });
  }
}
