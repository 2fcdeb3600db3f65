import tls from 'node:tls';
import { Backoff } from '../src/lib/backoff.js';
import { RESUBSCRIBE_FIRST_MS, RESUBSCRIBE_MAX_MS } from '../src/sync/link.js';

/**
 * Many light stations in one process for `scripts/bench fleet`: raw MQTT
 * 3.1.1 packets over one TLS socket each (no mqtt.js, no signature checks,
 * no SQLite), so that the bench measures the broker rather than itself. Each
 * does what a station does on the link: a persistent session (clean = 0)
 * under its own user name and client id, QoS 1 subscriptions to its own
 * command topic and its group's, PUBACK for every delivery, keep-alive
 * pings, and on a lost connection the agent's reconnect rule (full-jitter
 * backoff, the next broker of its list). What it leaves out: the birth and
 * will, the target subscriptions, verification.
 */

export interface SimStation {
  id: string;
  password: string;
  /** Broker URLs (mqtts://host:port) in the order this station tries them. */
  brokers: string[];
  topics: string[];
}

export interface SimOptions {
  ca: Buffer;
  keepaliveS: number;
  /** The agent's first-connect jitter and backoff (sync.reconnect). */
  initialMs: number;
  maxMs: number;
  /** Called for every delivery (QoS 1 PUBLISH) with the arrival instant. */
  onPublish: (station: number, topic: string, payload: Buffer, atMs: number) => void;
  onConnected: (station: number, atMs: number, broker: string) => void;
}

const now = (): number => performance.timeOrigin + performance.now();

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function packet(header: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([header]), remainingLength(body.length), body]);
}

export function connectPacket(id: string, password: string, keepaliveS: number): Buffer {
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(keepaliveS);
  // Protocol "MQTT" level 4; flags: user name, password, clean session 0 (a persistent session).
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc0]), keepalive, str(id), str(id), str(password)]));
}

export function subscribePacket(packetId: number, topics: string[]): Buffer {
  const pid = Buffer.alloc(2);
  pid.writeUInt16BE(packetId);
  return packet(0x82, Buffer.concat([pid, ...topics.map((t) => Buffer.concat([str(t), Buffer.from([1])]))]));
}

const PINGREQ = Buffer.from([0xc0, 0]);

interface Conn {
  socket?: tls.TLSSocket;
  buf: Buffer;
  brokerIndex: number;
  backoff: Backoff;
  lastSendMs: number;
  subscribed: boolean;
  /** The topics of the SUBSCRIBE awaiting its SUBACK. */
  subscribing: string[];
  /** As the agent (sync/link.ts): a refused subscription is asked for again with the same backoff. */
  resubscribe: Backoff;
  resubscribeTimer?: NodeJS.Timeout;
}

export class StationSimulator {
  private readonly conns: Conn[];
  private readonly pinger: NodeJS.Timeout;
  private stopped = false;
  /** Packets the broker sent that this simulator does not understand (should stay 0). */
  unknown = 0;
  connectRefusals = 0;
  /** Subscriptions the broker refused (SUBACK 0x80), each asked for again. */
  subscribeRefusals = 0;

  constructor(
    private readonly stations: SimStation[],
    private readonly o: SimOptions,
  ) {
    this.conns = stations.map(() => ({ buf: Buffer.alloc(0), brokerIndex: 0, backoff: new Backoff({ initialMs: o.initialMs, maxMs: o.maxMs }), lastSendMs: 0, subscribed: false, subscribing: [], resubscribe: new Backoff({ initialMs: RESUBSCRIBE_FIRST_MS, maxMs: RESUBSCRIBE_MAX_MS }) }));
    this.pinger = setInterval(() => {
      const due = now() - (o.keepaliveS * 1000) / 2;
      for (const c of this.conns) {
        if (c.socket && c.subscribed && c.lastSendMs < due) this.write(c, PINGREQ);
      }
    }, 1000);
  }

  /** Every station connects after the agent's jittered first wait (a province-wide power cut). */
  start(): void {
    this.conns.forEach((c, i) => this.schedule(i, c.backoff.next()));
  }

  connectedCount(): number {
    return this.conns.filter((c) => c.subscribed).length;
  }

  private schedule(i: number, delayMs: number): void {
    setTimeout(() => this.open(i), delayMs).unref();
  }

  private subscribe(c: Conn, topics: string[]): void {
    c.subscribing = topics;
    this.write(c, subscribePacket(1, topics));
  }

  private write(c: Conn, b: Buffer): void {
    c.lastSendMs = now();
    c.socket!.write(b);
  }

  private open(i: number): void {
    if (this.stopped) return;
    const st = this.stations[i]!;
    const c = this.conns[i]!;
    const url = new URL(st.brokers[c.brokerIndex % st.brokers.length]!);
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: this.o.ca, servername: url.hostname });
    c.socket = socket;
    c.buf = Buffer.alloc(0);
    c.subscribed = false;
    socket.setNoDelay(true);
    socket.once('secureConnect', () => this.write(c, connectPacket(st.id, st.password, this.o.keepaliveS)));
    socket.on('data', (d: Buffer) => this.onData(i, c, d));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      const wasSubscribed = c.subscribed;
      c.socket = undefined;
      c.subscribed = false;
      clearTimeout(c.resubscribeTimer);
      if (this.stopped) return;
      if (wasSubscribed) c.backoff.reset();
      else c.brokerIndex++; // as the agent: a failed attempt moves on to the next broker of the list
      this.schedule(i, c.backoff.next());
    });
  }

  private onData(i: number, c: Conn, d: Buffer): void {
    c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
    for (;;) {
      const b = c.buf;
      if (b.length < 2) return;
      let len = 0;
      let mul = 1;
      let pos = 1;
      for (;;) {
        if (pos >= b.length) return;
        const byte = b[pos++]!;
        len += (byte & 0x7f) * mul;
        mul *= 128;
        if (!(byte & 0x80)) break;
      }
      if (b.length < pos + len) return;
      const type = b[0]! >> 4;
      const body = b.subarray(pos, pos + len);
      c.buf = b.subarray(pos + len);
      this.onPacket(i, c, type, b[0]! & 0x0f, body);
    }
  }

  private onPacket(i: number, c: Conn, type: number, flags: number, body: Buffer): void {
    const st = this.stations[i]!;
    switch (type) {
      case 2: // CONNACK
        if (body[1] !== 0) {
          this.connectRefusals++;
          c.socket?.destroy();
          return;
        }
        c.resubscribe.reset();
        this.subscribe(c, st.topics);
        return;
      case 9: {
        // SUBACK: a station counts as connected once every topic is granted.
        const refused = c.subscribing.filter((_, k) => (body[2 + k] ?? 0x80) >= 0x80);
        if (refused.length > 0) {
          this.subscribeRefusals += refused.length;
          const socket = c.socket;
          c.resubscribeTimer = setTimeout(() => {
            if (c.socket === socket && !this.stopped) this.subscribe(c, refused);
          }, c.resubscribe.next());
          c.resubscribeTimer.unref();
          return;
        }
        c.subscribed = true;
        this.o.onConnected(i, now(), st.brokers[c.brokerIndex % st.brokers.length]!);
        return;
      }
      case 3: {
        const at = now();
        const topicLen = body.readUInt16BE(0);
        const topic = body.toString('utf8', 2, 2 + topicLen);
        const qos = (flags >> 1) & 3;
        let off = 2 + topicLen;
        if (qos > 0) {
          this.write(c, Buffer.from([0x40, 2, body[off]!, body[off + 1]!]));
          off += 2;
        }
        this.o.onPublish(i, topic, body.subarray(off), at);
        return;
      }
      case 13: // PINGRESP
        return;
      default:
        this.unknown++;
    }
  }

  /** Closes every connection without DISCONNECT (sessions stay at the broker). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.pinger);
    for (const c of this.conns) c.socket?.destroy();
  }
}
