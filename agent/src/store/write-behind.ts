import type { Logger } from 'pino';

/** The state disk will not take a write now (full, remounted read-only, failing): not a bug in the write. */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)/.test(code) || ['ENOSPC', 'EROFS', 'EIO', 'EDQUOT'].includes(code);
}

/**
 * Records the state disk will not take now, kept in memory in the order
 * they were made and written again every few seconds, so the station plays
 * on through a full or read-only SD card and loses nothing unless the
 * power goes too. A later write under the same key (the newest mark of one
 * occurrence) replaces the one waiting. Bounded: past `max` waiting, the
 * oldest is dropped, and said so.
 */
export class WriteBehind {
  private readonly waiting = new Map<string, () => void>();
  private failure: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private dropped = 0;

  constructor(
    private readonly log: Logger,
    private readonly retryMs = 5000,
    private readonly max = 10_000,
  ) {}

  /** Writes now (after what waits); true when it was written, false when it waits for the disk. Other errors throw. */
  run(key: string, write: () => void): boolean {
    if (this.waiting.size > 0) this.flush();
    if (this.waiting.size === 0) {
      try {
        write();
        return true;
      } catch (err) {
        if (!isStorageFailure(err)) throw err;
        this.fail(err as Error);
      }
    }
    this.waiting.delete(key);
    this.waiting.set(key, write);
    if (this.waiting.size > this.max) {
      this.waiting.delete(this.waiting.keys().next().value!);
      this.dropped++;
    }
    this.timer ??= setInterval(() => this.flush(), this.retryMs).unref();
    return false;
  }

  /** What the operator must know, while records wait. */
  problem(): string | null {
    if (!this.failure) return null;
    const lost = this.dropped > 0 ? `; ${this.dropped} oldest dropped` : '';
    return `the state disk takes no writes (${this.failure}): ${this.waiting.size} records held in memory until it does${lost}; playout goes on`;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Writes what waits, in order, as far as the disk takes it. */
  flush(): void {
    if (this.waiting.size === 0) return;
    for (const [key, write] of this.waiting) {
      try {
        write();
      } catch (err) {
        if (isStorageFailure(err)) return this.fail(err as Error);
        this.log.error({ err, key }, 'a record held while the disk was failing cannot be written: dropped');
      }
      this.waiting.delete(key);
    }
    this.log.warn({ dropped: this.dropped }, 'state disk writable again: the records held in memory are written');
    this.failure = null;
    this.dropped = 0;
    this.close();
  }

  private fail(err: Error): void {
    const message = err.message.split('\n')[0]!;
    if (this.failure === null) this.log.error({ err: message }, 'the state disk takes no writes: records held in memory, playout goes on');
    this.failure = message;
  }
}
