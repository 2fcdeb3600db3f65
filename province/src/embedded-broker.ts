import net from 'node:net';
import { Aedes } from 'aedes';

/**
 * An in-process MQTT broker (aedes, MQTT 3.1.1 only) for the demo and for
 * running the main flows without Mosquitto. No TLS, no passwords, no ACL: a
 * bench rig, not a provincial broker. Stations must use protocolVersion 4
 * with it. It keeps the rules every loa broker keeps: a client id is its
 * user name (Mosquitto's `use_username_as_clientid`), so one client cannot
 * take over another's session; and a station subscribes only to what the
 * project's ACL lets it read (denied: SUBACK 0x80), so the station's ACL
 * probe passes here as on a well-configured Mosquitto. Any client whose name
 * starts with "province" or "loa-province" has the province's rights.
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
      authorizeSubscribe: (client, sub, done) => done(null, client && stationMayRead(client.id, sub.topic) ? sub : null),
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

/** The read half of province/mosquitto/acl-station.template (groups are not known here: any group). */
function stationMayRead(clientId: string, filter: string): boolean {
  if (/^(loa-)?province/.test(clientId)) return true;
  const own = `loa/v1/station/${clientId}/`;
  return filter === 'loa/v1/time' || filter === `${own}cmd` || filter === `${own}target` || filter.startsWith(`${own}target/`) || /^loa\/v1\/group\/[^/+#]+\/cmd$/.test(filter);
}
