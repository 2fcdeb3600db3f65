import net from 'node:net';
import { Aedes } from 'aedes';

/**
 * An in-process MQTT broker (aedes, MQTT 3.1.1 only) for the demo and for
 * running the main flows without Mosquitto. No TLS, no passwords, no ACL: a
 * bench rig, not a provincial broker. Stations must use protocolVersion 4
 * with it. It keeps the one rule every loa broker keeps (Mosquitto's
 * `use_username_as_clientid`): a client id is its user name, so one client
 * cannot take over another's session.
 */
export class EmbeddedBroker {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server;

  private constructor(
    private readonly broker: Aedes,
    server: net.Server,
    readonly port: number,
  ) {
    this.server = server;
    this.track(server);
  }

  private track(server: net.Server): void {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /**
   * The broker's network goes away (every connection dropped, the port
   * closed) while its state stays: retained messages and persistent
   * sessions, as a restarted Mosquitto with persistence keeps them.
   */
  async goDown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async comeBack(): Promise<void> {
    this.server = net.createServer(this.broker.handle);
    this.track(this.server);
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(port = 0): Promise<EmbeddedBroker> {
    const broker = await Aedes.createBroker({
      authenticate: (client, username, _password, done) => {
        if (username !== undefined && client.id === username) return done(null, true);
        done(Object.assign(new Error(`client id "${client.id}" is not the user name "${username ?? ''}"`), { returnCode: 2 as const }), false);
      },
    });
    const server = net.createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return new EmbeddedBroker(broker, server, (server.address() as net.AddressInfo).port);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    await new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }
}
