/**
 * Child process for cache-crash.test.ts: imports one file into a content
 * cache and reports, to be killed with SIGKILL at some point of the import
 * as an agent that loses power.
 */
import { silentLogger } from '../src/lib/logger.js';
import { openStore } from '../src/store/database.js';
import { stationEvents } from './cache-fixture.js';
import { ContentCache } from '../src/cache/content-cache.js';

const [dir, dbPath, src] = process.argv.slice(2);
const log = silentLogger();
const { db } = openStore(dbPath!, log);
const cache = new ContentCache({ dir: dir!, db, log, events: stationEvents(db), quotaBytes: 1e9, targetLufs: -23, truePeakDbtp: -2 });
process.send!('started');
const rec = await cache.import(src!, 'crash-test');
process.send!(`done ${rec.sha256}`);
setInterval(() => undefined, 1000);
