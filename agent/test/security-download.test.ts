import t, { type Test } from 'tap';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Downloader } from '../src/sync/download.js';
import { DirContentStore } from '../src/sync/sim-station.js';
import { silentLogger } from '../src/lib/logger.js';
import { tempDir } from './sync-fixture.js';

// A 4,096-byte entry served as 64 MiB must not fill the SD card: the
// transfer stops at the manifest's size, the partial file is deleted and the
// failure names a content problem.

const MiB = 1024 * 1024;
const entryBytes = 4096;
const sha256 = createHash('sha256').update(Buffer.alloc(entryBytes, 1)).digest('hex');

async function serveHuge(t: Test, withLength: boolean): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, withLength ? { 'content-length': String(64 * MiB) } : {});
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = (): void => {
      while (sent < 64 * MiB) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  t.teardown(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/clip.mp3`, sent: () => sent };
}

for (const withLength of [false, true]) {
  t.test(`a 4,096-byte entry served as 64 MiB (${withLength ? 'announced in Content-Length' : 'chunked, no length'}) is cut`, async (t) => {
    const { url, sent } = await serveHuge(t, withLength);
    const dir = tempDir('dl');
    const store = new DirContentStore(join(dir, 'cache'));
    const d = new Downloader({ dir: join(dir, 'downloads'), parallel: 1, attempts: 3, backoff: { initialMs: 10, maxMs: 10 }, log: silentLogger() });
    const failures = await d.fetchAll([{ sha256, name: 'clip.mp3', kind: 'audio', bytes: entryBytes, url }], store, new AbortController().signal);
    t.equal(failures.length, 1);
    t.match(failures[0]!.error, /content problem: .* the manifest says 4096; stopped and deleted/);
    t.notOk(/attempts/.test(failures[0]!.error), 'not retried: the server has other content than the manifest names');
    t.notOk(existsSync(join(dir, 'downloads', `${sha256}.part`)), 'the partial file is deleted');
    t.same(readdirSync(join(dir, 'downloads')), []);
    t.notOk(store.has(sha256));
    // What the server could push into socket buffers before the client closed, far from 64 MiB.
    t.ok(sent() < 16 * MiB, `the server got to send ${Math.round(sent() / MiB)} MiB before the cut`);
  });
}
