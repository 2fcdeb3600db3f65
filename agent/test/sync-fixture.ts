import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrate, type Db } from '../src/store/database.js';
import { SyncSchema, type SyncConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/lib/logger.js';
import { SyncClient } from '../src/sync/client.js';
import { SimulatedStation } from '../src/sync/sim-station.js';
import type { Reported } from '../src/sync/protocol.js';
import type { Programme } from '../src/domain/types.js';

/** A real SyncClient over a real SQLite file and simulated hardware, for the sync integration tests. */
export interface TestStation {
  id: string;
  client: SyncClient;
  sim: SimulatedStation;
  db: Db;
  dir: string;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `loa-${prefix}-`));
}

export function makeStation(o: {
  id: string;
  config: Partial<SyncConfig> & Pick<SyncConfig, 'brokers' | 'provinceKeys'>;
  clockTrusted?: boolean;
  dir?: string;
}): TestStation {
  const dir = o.dir ?? tempDir(o.id);
  const db = new Database(join(dir, 'loa.db'));
  db.pragma('journal_mode = WAL');
  migrate(db);
  const sim = new SimulatedStation({ cacheDir: join(dir, 'cache'), clockTrusted: o.clockTrusted ?? true });
  const config = SyncSchema.parse({ reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 }, ...o.config });
  const client = new SyncClient({ stationId: o.id, config, port: sim, db, log: silentLogger(), downloadDir: join(dir, 'downloads'), commandHoldMs: 1500 });
  client.start();
  return {
    id: o.id,
    client,
    sim,
    db,
    dir,
    async stop() {
      await client.stop();
      db.close();
    },
  };
}

export { waitEvent } from './wait.js';

export async function until<T>(probe: () => T | undefined | false, timeoutMs = 30_000, what = 'a condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Small files of random bytes standing for audio (the simulated cache checks hashes, not codecs). */
export function makeContent(dir: string, n: number, bytes = 64 * 1024): string[] {
  return Array.from({ length: n }, (_, i) => {
    const p = join(dir, `clip-${i}.mp3`);
    writeFileSync(p, randomBytes(bytes));
    return p;
  });
}

export function programme(id: string, content: string, zones = ['zone-1']): Programme {
  return { id, name: `Programme ${id}`, priority: 0, recurrence: { kind: 'daily', time: '06:00' }, items: [{ content, repeat: 1, gapMs: 0 }], zones, volume: 80 };
}

export function programmeIds(db: Db): string[] {
  return (db.prepare('SELECT id FROM programme ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
}

export type { Reported };
