import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';
import type { LiveConnection } from './link.js';
import type { StationTopics } from './topics.js';
import { isStorageFailure } from '../store/write-behind.js';

/**
 * Publishes the outbox oldest first at QoS 1, deleting each row on its
 * PUBACK: reports leave only through here, and a row is gone only when the
 * broker has it.
 */
export class OutboxPump {
  private draining = false;
  private drainWanted = false;
  /** Rows the broker has that the state disk would not let go (full, read-only): not sent again, deleted when it does. */
  private readonly delivered = new Set<number>();

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
    this.forgetDelivered();
    while (this.live()?.client === client) {
      const batch = this.outbox.next(64, after);
      if (batch.length === 0) return true;
      after = batch[batch.length - 1]!.seq;
      const rows = batch.filter((r) => !this.delivered.has(r.seq));
      const acked = Promise.allSettled(
        rows.map(
          (row) =>
            new Promise<void>((resolve, reject) => {
              const topic = row.kind === 'response' ? this.topics.response : this.topics.out(row.kind);
              client.publish(topic, row.payload, { qos: 1 }, (err) => {
                if (err) return reject(err);
                this.forget(row.seq);
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
      if (batch.length < 64) return true;
    }
    return false;
  }

  /** Deletes a row the broker acknowledged; one the disk will not delete now is remembered, so it is not sent twice. */
  private forget(seq: number): boolean {
    try {
      this.outbox.delete(seq);
      this.delivered.delete(seq);
      return true;
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      if (this.delivered.size === 0) this.log.warn({ err: (err as Error).message }, 'outbox: rows the broker has cannot be deleted (the state disk takes no writes); deleted once it does');
      this.delivered.add(seq);
      return false;
    }
  }

  private forgetDelivered(): void {
    for (const seq of this.delivered) if (!this.forget(seq)) return;
  }
}
