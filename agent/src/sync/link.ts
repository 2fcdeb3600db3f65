import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import { isStorageFailure } from '../store/write-behind.js';
import type { SyncConfig } from '../config/schema.js';
import { Backoff, sleep } from '../lib/backoff.js';
import { MAX_PACKET_BYTES, PROTOCOL_VERSION, type StationStatus } from './protocol.js';
import { limitIncomingPackets } from './packet-limit.js';
import type { StationPort } from './station-port.js';
import { TIME_TOPIC, groupCmdTopic, type StationTopics } from './topics.js';

/**
 * The connection to the provincial broker: connect, birth and last will,
 * subscriptions, goodbye. Every connect, including the first after boot,
 * waits a jittered backoff. Emits `connected`, `disconnected`,
 * `message` (topic, payload), `refused` (reason, detail) when the broker
 * sends a packet above MAX_PACKET_BYTES (the connection is cut unread), and
 * `acl` (problem or undefined) when each connection's ACL probe is done.
 */

/** Connection numbers reserved per database write; they only need to grow (the province keeps the status with the highest), not to be dense. */
export const CONNECT_SEQ_BLOCK = 1000;

/**
 * The ACL probe's canary: status topics, which a station writes (its own
 * birth, retained, just published) and must never read. Mosquitto 2.0 grants
 * any subscription and filters at delivery, so only a message that arrives
 * proves a wrong ACL; the UNSUBACK that follows the probe subscription comes
 * after any retained message it released, so "nothing arrived" is known
 * without a timer. A canary that arrives later still counts.
 */
const ACL_PROBE_FILTER = 'loa/v1/station/+/status';
/** A refused subscription to the station's own topics is asked for again after 0-2 s, growing to 0-15 s. */
export const RESUBSCRIBE_FIRST_MS = 2000;
export const RESUBSCRIBE_MAX_MS = 15_000;
const STATUS_TOPIC = /^loa\/v1\/station\/[^/]+\/status$/;

/** The station's broker password and TLS files, read from where the config points (the link and `loa doctor` alike). */
export function brokerSecrets(config: SyncConfig): { password: string | undefined; tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } } {
  return {
    password: config.passwordFile ? readFileSync(config.passwordFile, 'utf8').trim() : config.password,
    tls: {
      ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
      ...(config.tls.certFile ? { cert: readFileSync(config.tls.certFile) } : {}),
      ...(config.tls.keyFile ? { key: readFileSync(config.tls.keyFile) } : {}),
    },
  };
}

export interface BrokerLinkOptions {
  stationId: string;
  config: SyncConfig;
  port: StationPort;
  db: Db;
  log: Logger;
  topics: StationTopics;
  password: string | undefined;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  now: () => number;
  random?: () => number;
}

/** The live connection, for those who publish on it. */
export interface LiveConnection {
  client: MqttClient;
  /** Settles when this connection closes. */
  closed: Promise<void>;
}

export class BrokerLink extends EventEmitter {
  private readonly stop$ = new AbortController();
  private loop?: Promise<void>;
  private mqtt?: MqttClient;
  private resubscribeTimer?: NodeJS.Timeout;
  private closed: Promise<void> = Promise.resolve();
  connected = false;
  broker?: string;
  connectedSinceMs?: number;
  connectSeq: number;
  private seqReservedUntil: number;
  private failures = 0;
  private connectError: string | undefined;
  private lastLoggedError: string | undefined;
  private readonly startedMono = performance.now();
  /** What the ACL probe of this connection found wrong (own subscriptions refused, others' topics readable). */
  aclProblem: string | undefined;
  private aclOwnRefused: string[] = [];
  private aclReadable = new Set<string>();

  constructor(private readonly o: BrokerLinkOptions) {
    super();
    const row = o.db.prepare("SELECT value FROM meta WHERE key = 'sync.connect_seq'").get() as { value: string } | undefined;
    // What is stored is the end of the last block reserved: every number below it may have been used.
    this.connectSeq = row ? Number(row.value) : 0;
    this.seqReservedUntil = this.connectSeq;
  }

  /** The connection when connected. */
  live(): LiveConnection | undefined {
    return this.mqtt && this.connected ? { client: this.mqtt, closed: this.closed } : undefined;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.connectLoop().catch((err: unknown) => {
      if (!this.stop$.signal.aborted) this.o.log.error({ err }, 'sync loop ended unexpectedly');
    });
  }

  /** Says goodbye (retained offline/shutdown) when connected, then closes. */
  async stop(): Promise<void> {
    this.stop$.abort(new Error('sync stopped'));
    const client = this.mqtt;
    if (client && this.connected) {
      const bye: StationStatus = { state: 'offline', station: this.o.stationId, connectSeq: this.connectSeq, reason: 'shutdown' };
      await within(2000, client.publishAsync(this.o.topics.status, JSON.stringify(bye), { qos: 1, retain: true }));
    }
    // A clean DISCONNECT: the broker discards the last will, so "shutdown" stays the last word.
    if (client && !(await within(2000, client.endAsync(false)))) await client.endAsync(true).catch(() => undefined);
    await this.loop;
  }

  /** Unsubscribe and subscribe again: the broker resends the retained target and parts. */
  async resubscribeTarget(): Promise<void> {
    const live = this.live();
    if (!live) return;
    const { target, targetParts } = this.o.topics;
    await live.client.unsubscribeAsync([target, targetParts]);
    await live.client.subscribeAsync({ [target]: { qos: 1 }, [targetParts]: { qos: 1 } });
  }

  private async connectLoop(): Promise<void> {
    const { config, log } = this.o;
    const signal = this.stop$.signal;
    const backoff = new Backoff({ initialMs: config.reconnect.initialMs, maxMs: config.reconnect.maxMs, ...(this.o.random ? { random: this.o.random } : {}) });
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
      const ended = await this.connectOnce(url);
      if (ended !== 'never') {
        backoff.reset();
        this.failures = 0;
        // A broker that stopped answering (a hung broker, a dead path) most likely still accepts a TCP
        // connection and then says nothing: trying it again would cost a whole connect timeout first.
        if (ended === 'silent') {
          index++;
          if (config.brokers.length > 1) log.warn({ broker: url, next: config.brokers[index % config.brokers.length] }, 'broker stopped answering (no PINGRESP within 1.5 × keep-alive); trying the next broker');
        }
        continue;
      }
      index++;
      this.failures++;
      // Log the first failure, a change of reason, and a reminder now and then: not every attempt of a long outage.
      const reason = this.connectError ?? 'closed before CONNACK';
      if (this.failures === 1 || reason !== this.lastLoggedError || this.failures % 50 === 0) {
        this.lastLoggedError = reason;
        log.warn({ broker: url, err: reason, failures: this.failures }, 'cannot reach the provincial broker; retrying with backoff');
      }
    }
  }

  /**
   * One connection, from CONNECT to close. Resolves 'never' when it was not
   * connected, 'silent' when it was and the broker stopped answering (mqtt.js
   * sends PINGREQ after one keep-alive without an acknowledgement and gives
   * up at 1.5 × keep-alive: TCP alone never notices a black hole), 'closed'
   * for any other end.
   */
  private connectOnce(url: string): Promise<'never' | 'closed' | 'silent'> {
    const { config, stationId, log } = this.o;
    this.connectSeq += 1;
    if (this.connectSeq > this.seqReservedUntil) {
      // Reserved a block at a time: offline, a failed connect every couple of minutes wrote the SD card each time.
      // A disk that takes no write does not keep the station off the broker: the next connect reserves again.
      try {
        this.o.db
          .prepare("INSERT INTO meta (key, value) VALUES ('sync.connect_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
          .run(String(this.connectSeq + CONNECT_SEQ_BLOCK - 1));
        this.seqReservedUntil = this.connectSeq + CONNECT_SEQ_BLOCK - 1;
      } catch (err) {
        if (!isStorageFailure(err)) throw err;
      }
    }
    const will: StationStatus = { state: 'offline', station: stationId, connectSeq: this.connectSeq, reason: 'lost' };
    // The broker makes the client id the user name (use_username_as_clientid); asking for the same keeps the persistent session.
    const user = config.username ?? stationId;
    const options: IClientOptions = {
      clientId: user,
      username: user,
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      keepalive: config.keepaliveS,
      protocolVersion: config.protocolVersion,
      // A persistent session keeps commands sent during a short drop; MQTT 5 also needs a session expiry for that.
      clean: false,
      // MQTT 5: the broker must not send a larger packet (Mosquitto drops it rather than queue it again).
      ...(config.protocolVersion === 5 ? { properties: { sessionExpiryInterval: config.sessionExpiryS, maximumPacketSize: MAX_PACKET_BYTES } } : {}),
      reconnectPeriod: 0,
      connectTimeout: config.reconnect.connectTimeoutMs,
      resubscribe: false,
      will: { topic: this.o.topics.status, payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
      rejectUnauthorized: true,
      ...this.o.tls,
    };
    return new Promise((resolve) => {
      let wasConnected = false;
      let silent = false;
      let client: MqttClient;
      try {
        client = connect(url, options);
      } catch (err) {
        this.connectError = (err as Error).message;
        resolve('never');
        return;
      }
      limitIncomingPackets(client, MAX_PACKET_BYTES, (v) => this.emit('refused', 'oversize-packet', { broker: url, bytes: v.bytes, why: v.reason }));
      this.mqtt = client;
      this.closed = new Promise((r) => client.once('close', () => r()));
      client.on('connect', () => {
        wasConnected = true;
        this.onConnected(client, url);
      });
      client.on('message', (topic, payload) => {
        if (!STATUS_TOPIC.test(topic)) return void this.emit('message', topic, payload);
        // A few names are enough to show; a province's worth of retained statuses is not kept.
        if (this.aclReadable.size < 3) this.aclReadable.add(topic);
        this.judgeAcl();
      });
      client.on('error', (err) => {
        if (!wasConnected) this.connectError = err.message;
        // mqtt.js's words for its keep-alive giving up (emitted before the close it caused).
        else if (err.message === 'Keepalive timeout') silent = true;
      });
      client.once('close', () => {
        clearTimeout(this.resubscribeTimer);
        if (wasConnected && !this.stop$.signal.aborted) log.warn({ broker: url, ...(silent ? { why: 'keep-alive timeout' } : {}) }, 'disconnected from broker');
        this.connected = false;
        delete this.connectedSinceMs;
        this.emit('disconnected');
        client.end(true);
        resolve(!wasConnected ? 'never' : silent ? 'silent' : 'closed');
      });
    });
  }

  private onConnected(client: MqttClient, url: string): void {
    const { stationId, config, log, port, topics } = this.o;
    this.connected = true;
    this.broker = url;
    this.connectedSinceMs = this.o.now();
    log.info({ broker: url, connectSeq: this.connectSeq }, 'connected to broker');
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
      bootMs: Math.round(this.o.now() - (performance.now() - this.startedMono)),
      atMs: this.o.now(),
    };
    client.publish(topics.status, JSON.stringify(birth), { qos: 1, retain: true });
    // After the birth on the same connection: the broker stores the retained canary before it handles the probe.
    this.aclOwnRefused = [];
    this.aclReadable = new Set();
    // Refused (SUBACK 0x80, an error to mqtt.js) is the right answer; granted, the canary decides.
    client.subscribe(ACL_PROBE_FILTER, { qos: 0 }, () => {
      client.unsubscribe(ACL_PROBE_FILTER, () => {
        if (!client.connected) return;
        this.judgeAcl();
        this.emit('acl', this.aclProblem);
      });
    });
    const own = [TIME_TOPIC, topics.target, topics.targetParts, topics.cmd, ...config.groups.map(groupCmdTopic)];
    this.subscribeOwn(client, own, new Backoff({ initialMs: RESUBSCRIBE_FIRST_MS, maxMs: RESUBSCRIBE_MAX_MS, ...(this.o.random ? { random: this.o.random } : {}) }), false);
    this.emit('connected');
  }

  /**
   * The station's own topics at QoS 1. Those the broker refuses (SUBACK 0x80)
   * are asked for again with backoff on the same connection: a wrong ACL
   * refuses them for good, but a broker too busy to add a subscription (a
   * NATS cluster creating JetStream consumers in a connect storm) refuses it
   * for a moment, and the station would otherwise stay deaf to its commands
   * until its next connection.
   */
  private subscribeOwn(client: MqttClient, own: string[], backoff: Backoff, again: boolean): void {
    const { log } = this.o;
    client.subscribe(Object.fromEntries(own.map((topic) => [topic, { qos: 1 as const }])), (err, _granted, packet) => {
      // MQTT 3.1.1 SUBACK 0x80, MQTT 5 reason codes from 0x80: refused (mqtt.js then calls back with an error and the SUBACK).
      const codes = packet && 'granted' in packet ? packet.granted : undefined;
      if (!codes) return void (err && log.error({ err: err.message }, 'subscribe failed'));
      this.aclOwnRefused = own.filter((_, i) => Number(codes[i] ?? 0) >= 0x80);
      // After the probe's verdict (the first 'acl' of a connection), a change is told at once.
      if (this.judgeAcl() && again) this.emit('acl', this.aclProblem);
      if (this.aclOwnRefused.length === 0) return;
      const refused = this.aclOwnRefused;
      this.resubscribeTimer = setTimeout(() => {
        if (this.mqtt === client && client.connected) this.subscribeOwn(client, refused, backoff, true);
      }, backoff.next());
    });
  }

  /** True when the verdict changed. */
  private judgeAcl(): boolean {
    const wrong = [
      ...(this.aclOwnRefused.length ? [`the broker refuses this station its own topics (${this.aclOwnRefused.join(', ')})`] : []),
      ...(this.aclReadable.size ? [`the broker lets this station read station status topics, which no station may read (${[...this.aclReadable].join(', ')})`] : []),
    ];
    const retrying = this.aclOwnRefused.length ? ' (refused topics are asked for again, up to every 15 s: a broker too busy to add a subscription refuses it too)' : '';
    const problem = wrong.length ? `broker ACL wrong: ${wrong.join('; ')}; fix the ACL for user ${this.o.config.username ?? this.o.stationId}${retrying}` : undefined;
    const changed = problem !== this.aclProblem;
    if (changed) {
      if (problem) this.o.log.error({ broker: this.broker }, problem);
      else this.o.log.info({ broker: this.broker }, 'broker ACL checked: own topics granted, others not readable');
    }
    this.aclProblem = problem;
    return changed;
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
