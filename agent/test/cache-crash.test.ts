import t, { type Test } from 'tap';
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/logger.js';
import { openStore } from '../src/store/database.js';
import { stationEvents } from './cache-fixture.js';
import { ContentCache, hashFile } from '../src/cache/content-cache.js';
import { makeTone, tempDir } from './audio-fixture.js';

const log = silentLogger();
const src = tempDir('crash-src');

function startChild(dir: string, dbPath: string, file: string): { child: ChildProcess; started: Promise<void>; done: Promise<string | null> } {
  const child = fork(join(import.meta.dirname, 'cache-import-child.ts'), [dir, dbPath, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let started: () => void = () => undefined;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<string | null>((resolve) => {
    child.on('message', (m) => {
      if (m === 'started') started();
      else if (typeof m === 'string' && m.startsWith('done ')) resolve(m.slice(5));
    });
    child.on('exit', () => resolve(null));
  });
  return { child, started: startedP, done };
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** After a crash: a fresh cache on the same disk and database is consistent. */
async function checkConsistent(t: Test, dir: string, dbPath: string, file: string): Promise<void> {
  const { db, rebuiltFrom } = openStore(dbPath, log);
  t.equal(rebuiltFrom, undefined, 'the database survived');
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  const cache = new ContentCache({ dir, db, log, events: stationEvents(db), quotaBytes: 1e9, targetLufs: -23, truePeakDbtp: -2 });
  const scan = await cache.startupScan();
  t.same(readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp file left');
  t.same(scan.quarantined, [], 'nothing half-written is visible under a content name');
  for (const rec of cache.list()) {
    t.equal(rec.state, 'ok');
    t.equal(await hashFile(cache.pathFor(rec.sha256)), rec.sha256, 'every indexed file is whole');
  }
  const rec = await cache.import(file, 'again');
  t.equal(rec.state, 'ok', 'importing again succeeds');
  t.ok(existsSync(cache.pathFor(rec.sha256)));
  db.close();
}

t.test('kill -9 in the middle of copying a large file', async (t) => {
  const big = makeTone(src, 'big', 'wav', { seconds: 40, rate: 48000 }); // ~7.7 MB
  const data = readFileSync(big);
  const fifo = join(src, 'slow.fifo');
  execFileSync('mkfifo', [fifo]);
  const root = tempDir('crash');
  const dir = join(root, 'content');
  const dbPath = join(root, 'loa.db');
  const { child, started } = startChild(dir, dbPath, fifo);
  await started;
  // Feed the import through a FIFO and stop half way: the copy is in progress for sure.
  const feed = createWriteStream(fifo);
  feed.on('error', () => undefined);
  await new Promise<void>((resolve) => feed.write(data.subarray(0, data.length >> 1), () => resolve()));
  let tmp: string | undefined;
  for (let i = 0; i < 500 && !tmp; i++) {
    tmp = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith('.tmp-')) : undefined;
    if (!tmp) await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(tmp, 'the import had a temp file');
  for (let i = 0; i < 500 && statSync(join(dir, tmp!)).size < data.length >> 2; i++) await new Promise((r) => setTimeout(r, 10));
  const partial = statSync(join(dir, tmp!)).size;
  t.ok(partial > 0 && partial < data.length, `killed with ${partial} of ${data.length} bytes copied`);
  await killed(child);
  feed.destroy();
  await checkConsistent(t, dir, dbPath, big);
});

t.test('kill -9 at points spread over a whole import', async (t) => {
  const file = makeTone(src, 'short', 'mp3', { seconds: 2 });
  // How long one import takes here, to spread the kills over it.
  const probeRoot = tempDir('crash');
  const probe = startChild(join(probeRoot, 'content'), join(probeRoot, 'loa.db'), file);
  await probe.started;
  const t0 = performance.now();
  t.ok(await probe.done, 'an undisturbed import completes');
  const importMs = performance.now() - t0;
  await killed(probe.child);
  for (const fraction of [0.1, 0.4, 0.7, 0.95]) {
    const root = tempDir('crash');
    const dir = join(root, 'content');
    const dbPath = join(root, 'loa.db');
    const { child, started } = startChild(dir, dbPath, file);
    await started;
    await new Promise((r) => setTimeout(r, importMs * fraction));
    await killed(child);
    await t.test(`killed at ${(fraction * 100).toFixed(0)} % of an import`, (t) => checkConsistent(t, dir, dbPath, file));
  }
});
