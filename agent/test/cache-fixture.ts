import type { Db } from '../src/store/database.js';
import { StationStore } from '../src/store/station-store.js';
import { Outbox, OUTBOX_DEFAULTS } from '../src/sync/outbox.js';

/** The station's event log over a test database: what the daemon hands the content cache. */
export function stationEvents(db: Db): StationStore {
  return new StationStore(db, new Outbox(db, OUTBOX_DEFAULTS), 'test-station');
}
