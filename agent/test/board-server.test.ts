/** The board server over plain HTTP (no browser): its doors, its refusals and its proof rows. */
import t, { type Test } from 'tap';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { BoardServer, type BoardProofRow } from '../src/board/server.js';
import { createLogger, silentLogger } from '../src/lib/logger.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function http(url: string, path: string, opts: { method?: string; host?: string; body?: string; key?: string } = {}): Promise<Reply> {
  const u = new URL(path, url);
  // The page sends the key of its own address with each ack.
  const key = opts.key ?? new URL(url).searchParams.get('key') ?? '';
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path: u.pathname, method: opts.method ?? 'GET', headers: { host: opts.host ?? u.host, 'x-board-key': key } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const start = async (t: Test, opts: Partial<ConstructorParameters<typeof BoardServer>[0]> = {}) => {
  const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null, ...opts });
  const rows: BoardProofRow[] = [];
  board.on('proof', (r: BoardProofRow) => rows.push(r));
  await board.start();
  t.teardown(() => board.stop());
  return { board, rows };
};

t.test('serves only on loopback, only under its own name', async (t) => {
  const { board } = await start(t);
  t.match(board.url, /^http:\/\/127\.0\.0\.1:\d+\/\?key=[0-9a-f]{32}$/);
  t.equal((await http(board.url, '/')).status, 200);
  t.equal((await http(board.url, '/', { host: `localhost:${new URL(board.url).port}` })).status, 200);
  t.equal((await http(board.url, '/', { host: 'evil.example:80' })).status, 403, 'a DNS-rebinding page is refused');
  t.equal((await http(board.url, '/nope')).status, 404);
  t.equal((await http(board.url, '/media/not-a-sha')).status, 404);
});

t.test('before any schedule it shows the built-in clock; /now reports the showing', async (t) => {
  const { board } = await start(t);
  const now = JSON.parse((await http(board.url, '/now')).body) as { item: { kind: string }; source: string };
  t.equal(now.item.kind, 'clock');
  t.equal(now.source, 'builtin');
  t.same(JSON.parse((await http(board.url, '/now')).body), board.showing());
});

t.test('a bad schedule is refused whole, naming every problem; the old one stays', async (t) => {
  const { board } = await start(t);
  board.setSchedule({ defaultPlaylist: { id: 'ok', items: [{ kind: 'text', id: 'x', durationS: 60, text: 'Xin chào' }] } });
  t.throws(
    () => board.setSchedule({ defaultPlaylist: { id: '', items: [{ kind: 'text', id: 'x', durationS: -1, text: 'a' }] } }),
    /board schedule refused: defaultPlaylist\.id: .*; defaultPlaylist\.items\.0\.durationS: /,
  );
  t.equal(board.showing()?.source, 'ok');
});

t.test('without a page, showings are logged as unconfirmed; acks make them proof', async (t) => {
  const { board, rows } = await start(t);
  board.setSchedule({ defaultPlaylist: { id: 'a', items: [{ kind: 'text', id: 'one', durationS: 3600, text: 'Một' }] } });
  const key = board.showing()!.key;
  t.match(rows, [{ source: 'builtin', result: 'unconfirmed' }], 'the built-in clock it replaced');
  rows.length = 0;
  t.equal((await http(board.url, '/ack', { method: 'POST', body: '{not json' })).status, 400);
  t.equal((await http(board.url, '/ack', { method: 'POST', body: JSON.stringify({ key: 'stale', ok: true }) })).status, 204);
  board.setSchedule({ defaultPlaylist: { id: 'b', items: [{ kind: 'text', id: 'two', durationS: 3600, text: 'Hai' }] } });
  t.match(rows, [{ key, itemId: 'one', source: 'a', shownMs: null, result: 'unconfirmed' }], 'a stale ack is not proof');

  // Any local process reaches the port; without this boot's key its proof is refused and nothing recorded.
  const forged = JSON.stringify({ key: board.showing()!.key, ok: true });
  const before = board.pages().lastAckMs;
  t.equal((await http(board.url, '/ack', { method: 'POST', body: forged, key: '' })).status, 401);
  t.equal((await http(board.url, '/ack', { method: 'POST', body: forged, key: '0'.repeat(32) })).status, 401);
  t.match(board.pages(), { lastAckMs: before, showingConfirmedMs: null }, 'the forged proof confirmed nothing');

  const t0 = Date.now();
  t.equal((await http(board.url, '/ack', { method: 'POST', body: JSON.stringify({ key: board.showing()!.key, ok: true }) })).status, 204);
  await board.stop();
  t.equal(rows.length, 2);
  t.match(rows[1], { itemId: 'two', result: 'interrupted', problem: null });
  t.ok(rows[1]!.shownMs! >= t0, 'shownMs is when the page confirmed it');
});

t.test('a missing font file is logged as an error naming the package and answered 404', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const { board } = await start(t, { log: createLogger({ level: 'info', destination: sink }), fonts: { regular: '/nonexistent/Regular.ttf', bold: '/nonexistent/Bold.ttf' } });
  t.match(lines.join(''), /"path":"\/nonexistent\/Regular.ttf".*fonts-noto-core/);
  t.equal((await http(board.url, '/font/regular')).status, 404);
});

t.test('the default font is served from the Debian package', async (t) => {
  const { board } = await start(t);
  const r = await http(board.url, '/font/bold');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'font/ttf');
  t.ok(r.body.length > 100_000, 'a whole font file');
});

t.test('url before start and an unknown time zone are clear errors', async (t) => {
  const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
  t.throws(() => board.url, /not started/);
  t.throws(() => new BoardServer({ log: silentLogger(), timezone: 'Asia/Hanoi_City', port: 0, contentPath: () => null }), /unknown time zone "Asia\/Hanoi_City"/);
});

t.test('a media download the page abandons closes its file (no descriptor per cut-short video)', async (t) => {
  const { mkdtempSync, openSync, ftruncateSync, closeSync, readdirSync, readlinkSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { connect } = await import('node:net');
  const dir = mkdtempSync(join(tmpdir(), 'loa-board-media-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Far larger than what a socket buffers: the server is still reading it when the page goes away.
  const file = join(dir, 'video.mp4');
  const fd = openSync(file, 'w');
  ftruncateSync(fd, 64 * 1024 * 1024);
  closeSync(fd);
  const sha = 'a'.repeat(64);
  const { board } = await start(t, { contentPath: (s) => (s === sha ? file : null) });
  const openOnFile = (): number => readdirSync('/proc/self/fd').filter((d) => {
    try { return readlinkSync(`/proc/self/fd/${d}`) === file; } catch { return false; }
  }).length;
  // A file is closed on the server's next turns after its socket: give it a moment, then none may be left open.
  const settled = async (): Promise<number> => {
    for (let i = 0; i < 50 && openOnFile() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    return openOnFile();
  };
  const port = Number(new URL(board.url).port);
  for (let i = 0; i < 5; i++) {
    // As Chromium does when the showing changes mid-load: the first bytes arrive, then the connection is dropped.
    await new Promise<void>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write(`GET /media/${sha} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`));
      s.once('data', () => { s.destroy(); resolve(); });
      s.once('error', reject);
    });
  }
  t.equal(await settled(), 0, 'every abandoned download closed its file');
  // And a download that runs to its end still delivers the whole file.
  const whole = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/media/${sha}`, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(whole, 64 * 1024 * 1024);
  t.equal(await settled(), 0, 'and so did the complete one');
});

t.test('media: named by their hash, so cached for good and revalidated by ETag; a range is served as asked', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'loa-board-range-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const file = join(dir, 'clip.mp4');
  writeFileSync(file, bytes);
  const sha = 'b'.repeat(64);
  const { board } = await start(t, { contentPath: (s) => (s === sha ? file : null) });
  const port = Number(new URL(board.url).port);
  const get = (headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/media/${sha}`, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });

  const whole = await get({});
  t.equal(whole.status, 200);
  t.ok(whole.body.equals(bytes), 'the whole file');
  t.equal(whole.headers.etag, `"${sha}"`, 'its ETag is its hash');
  t.match(whole.headers['cache-control'], /immutable/);
  t.equal(whole.headers['accept-ranges'], 'bytes');

  const again = await get({ 'if-none-match': `"${sha}"` });
  t.equal(again.status, 304, 'asked again with its ETag: not sent again');
  t.equal(again.body.length, 0);

  const part = await get({ range: 'bytes=100-199' });
  t.equal(part.status, 206);
  t.equal(part.headers['content-range'], 'bytes 100-199/1000');
  t.ok(part.body.equals(bytes.subarray(100, 200)), 'exactly bytes 100 to 199');
  const tail = await get({ range: 'bytes=-10' });
  t.ok(tail.status === 206 && tail.body.equals(bytes.subarray(990)), 'the last 10 bytes');
  const open = await get({ range: 'bytes=995-' });
  t.ok(open.status === 206 && open.body.equals(bytes.subarray(995)), 'from 995 to the end');
  const beyond = await get({ range: 'bytes=1000-' });
  t.equal(beyond.status, 416, 'a range past the end is refused');
  t.equal(beyond.headers['content-range'], 'bytes */1000');
  const several = await get({ range: 'bytes=0-1,5-6' });
  t.ok(several.status === 200 && several.body.equals(bytes), 'several ranges: the whole file, as the RFC allows');
});

t.test('byteRange as data', async (t) => {
  const { byteRange } = await import('../src/board/http-range.js');
  const cases: Array<[string | undefined, number, ReturnType<typeof byteRange>]> = [
    [undefined, 100, 'whole'],
    ['bytes=0-', 100, { start: 0, end: 99 }],
    ['bytes=10-20', 100, { start: 10, end: 20 }],
    ['bytes=90-500', 100, { start: 90, end: 99 }],
    ['bytes=-30', 100, { start: 70, end: 99 }],
    ['bytes=-300', 100, { start: 0, end: 99 }],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=20-10', 100, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=-', 100, 'whole'],
    ['items=0-5', 100, 'whole'],
    ['bytes=0-1,4-5', 100, 'whole'],
  ];
  for (const [header, size, want] of cases) t.same(byteRange(header, size), want, `${header ?? '(none)'} of ${size}`);
});
