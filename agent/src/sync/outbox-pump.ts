import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';
import type { LiveConnection } from './link.js';
import type { StationTopics } from './topics.js';

/**
 * Publishes the outbox oldest first at QoS 1, deleting each row on its
 * PUBACK: reports leave only through here, and a row is gone only when the
 * broker has it.
 */
export class OutboxPump {
  private draining = false;
  private drainWanted = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly topics: StationTopics,
    private readonly live: () => LiveConnection | undefined,
    private readonly log: Logger,
  ) {}

  async drain(): Promise<void> {
    this.drainWanted = true;
    if (this.draining) return;
    const conn = this.live();
    if (!conn) return;
    this.draining = true;
    try {
      // Each pass ends with every row it sent acknowledged; rows added meanwhile ask for another pass.
      while (this.drainWanted && this.live()?.client === conn.client) {
        this.drainWanted = false;
        if (!(await this.drainPass(conn))) break;
      }
    } finally {
      this.draining = false;
    }
  }

  /** False when a publish failed (the rows stay queued for the next connection). */
  private async drainPass(conn: LiveConnection): Promise<boolean> {
    const { client } = conn;
    let after = 0;
    while (this.live()?.client === client) {
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
      const results = await Promise.race([acked, conn.closed.then(() => undefined)]);
      if (!results) return false;
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        this.log.warn({ err: String((failed as PromiseRejectedResult).reason) }, 'outbox publish failed; rows stay queued');
        return false;
      }
      // A short batch was the whole queue; rows added since then set drainWanted.
      if (rows.length < 64) return true;
    }
    return false;
  }
}
