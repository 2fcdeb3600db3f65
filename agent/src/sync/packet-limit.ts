import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';

/**
 * A bound on what one incoming MQTT packet may make us hold. mqtt.js reads a
 * packet whole before anything can look at it (and checks an MQTT 5
 * maximumPacketSize only then), so a 200 MB publish would be in memory before
 * any size check. The meter reads only the fixed headers of the byte stream
 * and reports a packet too large as soon as its length is known.
 */

export type MeterVerdict = { ok: true } | { ok: false; bytes: number; reason: string };

/** Pure: follows packet boundaries over arbitrary chunks (header byte, remaining length, body). */
export class PacketMeter {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {}

  feed(chunk: Uint8Array): MeterVerdict {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'header') {
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return { ok: false, bytes: NaN, reason: 'malformed remaining length (more than 4 bytes)' };
        continue;
      }
      const total = 1 + this.lengthBytes + this.length;
      if (total > this.maxBytes) return { ok: false, bytes: total, reason: `packet of ${total} bytes, more than the ${this.maxBytes} accepted` };
      this.remaining = this.length;
      this.state = this.length === 0 ? 'header' : 'body';
    }
    return { ok: true };
  }
}

/**
 * Meters every connection the client makes (the current one and those of
 * its reconnects) and destroys the one that announces a packet above
 * `maxBytes`, before its body is read.
 */
export function limitIncomingPackets(client: MqttClient, maxBytes: number, onOversize: (v: Extract<MeterVerdict, { ok: false }>) => void): void {
  const watch = (stream: Duplex): Duplex => {
    const meter = new PacketMeter(maxBytes);
    const onData = (chunk: Buffer): void => {
      const v = meter.feed(chunk);
      if (v.ok) return;
      stream.off('data', onData);
      onOversize(v);
      stream.destroy();
    };
    stream.on('data', onData);
    return stream;
  };
  // mqtt.js keeps its stream factory private; wrapping it is the one hook that sees each new socket before data flows.
  const c = client as unknown as { stream?: Duplex; streamBuilder: (c: MqttClient) => Duplex };
  if (c.stream) watch(c.stream);
  const build = c.streamBuilder;
  c.streamBuilder = (mc) => watch(build(mc));
}
