import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to a loopback port that forwards both ways until `hole()`;
 * from then on it reads and discards what either side sends and never
 * closes a socket (no FIN, no RST): a broker that accepted, then went
 * silent, as a hung broker or a dead path behind a NAT looks to a station.
 * TCP alone never tells the client: the kernel acknowledges every byte.
 * Connections made during the hole are accepted and swallowed too (a hung
 * broker's kernel still completes the handshake). A close on one side is
 * passed to the other only while forwarding.
 */
export class BlackHoleProxy {
  port = 0;
  holed = false;
  /** Bytes read and thrown away since `hole()`, per direction. */
  readonly swallowed = { fromClient: 0, fromServer: 0 };
  /** Connections accepted, and those accepted during the hole. */
  accepted = 0;
  acceptedInHole = 0;
  /** Client sockets that closed (their own end: the proxy never closes one) during the hole. */
  clientClosesInHole = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Stops forwarding in both directions, for good; every socket stays open. */
  hole(): void {
    this.holed = true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    this.track(client);
    client.on('close', () => {
      if (this.holed) this.clientClosesInHole++;
    });
    if (this.holed) {
      this.acceptedInHole++;
      client.on('data', (d) => (this.swallowed.fromClient += d.length));
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    this.track(upstream);
    client.on('data', (d) => {
      if (this.holed) this.swallowed.fromClient += d.length;
      else upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (this.holed) this.swallowed.fromServer += d.length;
      else client.write(d);
    });
    // A clean close or a reset is passed on only while the proxy forwards: a black hole tells nobody.
    client.on('close', () => {
      if (!this.holed) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!this.holed) client.destroy();
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  }
}
