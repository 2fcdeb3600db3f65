import { randomUUID } from 'node:crypto';
import type { Outbox } from './outbox.js';
import type { LiveConnection } from './link.js';
import type { StationPort } from './station-port.js';
import type { StationTopics } from './topics.js';
import type { EventBody, Health, OutboxMessage, Reported } from './protocol.js';
import type { TargetApplier } from './target-applier.js';
import { isStorageFailure } from '../store/write-behind.js';

/**
 * What the station tells the province about itself: the retained
 * `reported` state (coalesced, sent soon after a change) and the periodic
 * health report (through the outbox, replacing one not yet sent).
 */
export interface ReporterOptions {
  stationId: string;
  port: StationPort;
  outbox: Outbox;
  topics: StationTopics;
  live: () => LiveConnection | undefined;
  applier: TargetApplier;
  refused: () => Record<string, number>;
  /** The configured health interval; a target may ask for a longer one. */
  healthIntervalS: number;
  event: (event: string, level: EventBody['level'], message: string, data?: Record<string, unknown>) => void;
  wrap: (kind: 'health', body: unknown, id: string) => OutboxMessage;
  now: () => number;
}

export class Reporter {
  private reportTimer?: NodeJS.Timeout;
  private healthTimer?: NodeJS.Timeout;

  constructor(private readonly o: ReporterOptions) {}

  stop(): void {
    clearTimeout(this.reportTimer);
    clearTimeout(this.healthTimer);
  }

  reportSoon(delayMs = 500): void {
    if (this.reportTimer && delayMs > 0) return;
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      delete this.reportTimer;
      this.publishReported();
    }, delayMs);
  }

  private publishReported(): void {
    const conn = this.o.live();
    if (!conn) return;
    const snap = this.o.port.snapshot();
    const { applied, pending, downloading } = this.o.applier.status();
    const reported: Reported = {
      station: this.o.stationId,
      applied: applied?.version ?? 0,
      ...(applied ? { appliedAtMs: applied.appliedMs } : {}),
      ...(pending ? { pending } : {}),
      downloading,
      playing: snap.playing.slice(0, 16),
      faults: snap.faults.slice(0, 50),
      atMs: this.o.now(),
    };
    conn.client.publish(this.o.topics.reported, JSON.stringify(reported), { qos: 1, retain: true });
  }

  scheduleHealth(delayMs: number): void {
    clearTimeout(this.healthTimer);
    this.healthTimer = setTimeout(() => {
      const asked = this.o.applier.appliedTarget?.settings.healthIntervalS ?? 0;
      this.scheduleHealth(Math.max(this.o.healthIntervalS, asked) * 1000);
      try {
        this.putHealth();
      } catch (err) {
        // A state disk that takes no writes has no room for the report either; the next one tries again.
        if (!isStorageFailure(err)) throw err;
      }
    }, delayMs);
    this.healthTimer.unref();
  }

  /** Coalesced: replaces any health report not yet sent. */
  putHealth(): void {
    const { outbox } = this.o;
    const snap = this.o.port.snapshot();
    const dropped = outbox.dropped();
    const lastSyncMs = this.o.applier.lastSyncMs;
    const health: Health = {
      uptimeS: Math.round(process.uptime()),
      memoryRssMb: Math.round(process.memoryUsage.rss() / 1e5) / 10,
      ...(snap.diskFreeMb !== undefined ? { diskFreeMb: snap.diskFreeMb } : {}),
      ...(snap.cache ? { cache: snap.cache } : {}),
      outboxDepth: outbox.depth(),
      outboxDropped: dropped,
      clock: snap.clock,
      ...(lastSyncMs !== undefined ? { lastSyncMs } : {}),
      refused: this.o.refused(),
      faults: snap.faults.slice(0, 50),
    };
    if (Object.keys(dropped).length) {
      const lost = outbox.takeDropped();
      this.o.event('outbox.dropped', 'warn', 'the outbox was full: oldest messages were dropped', { dropped: lost });
    }
    const id = randomUUID();
    outbox.putHealth(this.o.wrap('health', health, id), id);
  }
}
