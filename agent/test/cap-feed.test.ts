import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { CapFeed, capSeenKey, nextPollDelayMs, parseFeedIndex, type CapFeedAlertMeta, type CapFeedOptions } from '../src/alerts/cap/feed.js';
import type { CapAlert } from '../src/alerts/alert.js';
import { capFixtureText, rsaKey, signCap } from './cap-fixture.js';

const authority = rsaKey();
const pinned = { publicKeysPem: [authority.publicKeyPem] };
const docs = {
  warning: signCap(capFixtureText('vi/flood-warning.xml'), authority),
  update: signCap(capFixtureText('vi/flood-update.xml'), authority),
  cancel: signCap(capFixtureText('vi/flood-cancel.xml'), authority),
  unsigned: capFixtureText('vi/storm-minority-languages.xml'),
  // Validly signed, same sender/identifier/sent as `warning`, different words.
  changed: signCap(capFixtureText('vi/flood-warning.xml').replace('Cảnh báo lũ quét tại thôn Tà Rụt và thôn A Vao', 'Đã hết lũ, người dân về nhà'), authority),
};

interface Entry { id: string; updated: string; href: string }
const atom = (entries: Entry[]): string => `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:uuid:loa-test-feed</id><title>Cảnh báo thiên tai</title><updated>2026-11-21T05:30:00+07:00</updated>
  ${entries.map((e) => `<entry><id>${e.id}</id><title>${e.id}</title><updated>${e.updated}</updated>
    <link rel="related" href="/about"/><link rel="alternate" type="application/cap+xml" href="${e.href}"/></entry>`).join('\n  ')}
</feed>`;

let bomb: Buffer | undefined;

/** A real HTTP server: a settable index, CAP documents, a 50 MB body, a server that never answers. */
async function feedServer(t: Test) {
  const state = { hangs: true, index: atom([]), docs: new Map<string, string>(), hits: new Map<string, number>(), hugeWritten: [] as number[] };
  const hanging = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    if (path === '/index.atom') return void res.writeHead(200, { 'content-type': 'application/atom+xml' }).end(state.index);
    if (path.startsWith('/redirect?to=')) return void res.writeHead(302, { location: decodeURIComponent(path.slice('/redirect?to='.length)) }).end();
    if (path === '/hang' || (path === '/hang.xml' && state.hangs)) { hanging.add(res); return; }
    if (path === '/huge.xml' || path === '/huge.atom') {
      // 50 MB, chunked, no declared length: only the reader's bound stops it.
      res.writeHead(200, { 'content-type': 'application/cap+xml' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let written = 0;
      const pump = (): void => {
        while (written < 50 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => state.hugeWritten.push(written));
      pump();
      return;
    }
    if (path === '/bomb.xml') {
      // 50 MB of spaces in about 50 KB of gzip: the bound applies to what is decoded.
      bomb ??= gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
      return void res.writeHead(200, { 'content-type': 'application/cap+xml', 'content-encoding': 'gzip', 'content-length': String(bomb.length) }).end(bomb);
    }
    if (path === '/declared-huge.xml') {
      res.writeHead(200, { 'content-type': 'application/cap+xml', 'content-length': String(50 * 1024 * 1024) });
      res.write('<alert');
      res.on('close', () => undefined);
      return;
    }
    const doc = state.docs.get(path);
    if (doc === undefined) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/cap+xml' }).end(doc);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { state, base, hits: (p: string) => state.hits.get(p) ?? 0 };
}

/** A pino logger whose lines the test reads. */
function capturedLog() {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  return { log, lines, count: (msg: string) => lines.filter((l) => l.msg === msg).length };
}

function feed(t: Test, opts: Partial<CapFeedOptions> & Pick<CapFeedOptions, 'url'>) {
  const alerts: Array<{ alert: CapAlert; meta: CapFeedAlertMeta }> = [];
  const refusals: Array<{ url: string; errors: string[] }> = [];
  const logged = capturedLog();
  const f = new CapFeed({
    pinned,
    log: logged.log,
    onAlert: (alert, meta) => { alerts.push({ alert, meta }); },
    onRefused: (r) => refusals.push(r),
    ...opts,
  });
  t.teardown(() => f.stop());
  return { f, alerts, refusals, logged };
}

t.test('pure: backoff and the index', async (t) => {
  t.same([0, 1, 2, 3, 10, 40].map((n) => nextPollDelayMs(n, 60_000, 900_000)), [60_000, 120_000, 240_000, 480_000, 900_000, 900_000]);
  const entries = parseFeedIndex(atom([{ id: 'e1', updated: '2026-11-21T05:30:00+07:00', href: '/cap/a.xml' }]), 'https://alerts.example.vn/feeds/index.atom');
  t.same(entries, [{ id: 'e1', updated: '2026-11-21T05:30:00+07:00', url: 'https://alerts.example.vn/cap/a.xml' }], 'the CAP link, not the related one, made absolute');
  const rss = `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>
    <item><guid>g1</guid><pubDate>Sat, 21 Nov 2026 05:30:00 +0700</pubDate><link>https://alerts.example.vn/page/1</link><enclosure url="cap/1.xml" type="application/cap+xml" length="100"/></item>
    <item><link>https://alerts.example.vn/cap/2.xml</link></item></channel></rss>`;
  t.same(parseFeedIndex(rss, 'https://alerts.example.vn/feeds/rss.xml'), [
    { id: 'g1', updated: 'Sat, 21 Nov 2026 05:30:00 +0700', url: 'https://alerts.example.vn/feeds/cap/1.xml' },
    { id: 'https://alerts.example.vn/cap/2.xml', updated: '', url: 'https://alerts.example.vn/cap/2.xml' },
  ], 'RSS: the enclosure first, else the link');
  t.throws(() => parseFeedIndex('<html><body/></html>', 'https://x.example/'), /neither an Atom feed nor an RSS channel/);
  t.equal(capSeenKey({ sender: 'a@b', identifier: 'X-1', sentMs: Date.UTC(2026, 10, 20, 22, 30) }), 'a@b,X-1,2026-11-20T22:30:00.000Z');
  t.throws(() => new CapFeed({ url: 'file:///etc/passwd', pinned, log: capturedLog().log, onAlert: () => undefined }), /must be http or https/);
});

t.test('signed entries are delivered once, unsigned ones refused, an unchanged index costs one request', async (t) => {
  const srv = await feedServer(t);
  srv.state.docs.set('/cap/warning.xml', docs.warning);
  srv.state.docs.set('/cap/unsigned.xml', docs.unsigned);
  srv.state.docs.set('/cap/update.xml', docs.update);
  srv.state.index = atom([
    { id: 'e1', updated: '2026-11-21T05:30:00+07:00', href: '/cap/warning.xml' },
    { id: 'e2', updated: '2026-11-21T06:00:00+07:00', href: '/cap/unsigned.xml' },
    { id: 'e3', updated: '2026-11-21T09:15:00+07:00', href: '/cap/update.xml' },
  ]);
  const { f, alerts, refusals, logged } = feed(t, { url: `${srv.base}/index.atom` });

  t.same(await f.pollOnce(), { delivered: 2, refused: 1, failed: 0 });
  t.same(alerts.map((a) => [a.alert.identifier, a.alert.msgType, a.meta]), [
    ['VN-QT-PCTT-2026-1121-001', 'Alert', { origin: 'cap-feed', url: `${srv.base}/cap/warning.xml` }],
    ['VN-QT-PCTT-2026-1121-002', 'Update', { origin: 'cap-feed', url: `${srv.base}/cap/update.xml` }],
  ]);
  t.equal(alerts[0]!.alert.info[0]!.areas[1]!.geocodes[0]!.value, '00292');
  t.same(refusals, [{ url: `${srv.base}/cap/unsigned.xml`, errors: ['document is not signed (no ds:Signature)'] }]);

  t.same(await f.pollOnce(), { delivered: 0, refused: 0, failed: 0 }, 'second poll: nothing new');
  t.same([srv.hits('/index.atom'), srv.hits('/cap/warning.xml'), srv.hits('/cap/unsigned.xml'), srv.hits('/cap/update.xml')], [2, 1, 1, 1], 'documents fetched once, the refused one too');
  t.equal(logged.count('cap feed: document refused'), 1, 'the refusal is logged once');
  t.match(f.status(), { state: 'ok', consecutiveFailures: 0, delivered: 2, refused: 1 });
  t.same(f.seenKeys(), [capSeenKey(alerts[0]!.alert), capSeenKey(alerts[1]!.alert)]);

  // A document changing under the same id: re-signed, same sender/identifier/sent, different headline.
  srv.state.docs.set('/cap/warning.xml', docs.changed);
  srv.state.docs.set('/cap/cancel.xml', docs.cancel);
  srv.state.index = atom([
    { id: 'e1', updated: '2026-11-21T16:00:00+07:00', href: '/cap/warning.xml' },
    { id: 'e2', updated: '2026-11-21T06:00:00+07:00', href: '/cap/unsigned.xml' },
    { id: 'e3', updated: '2026-11-21T09:15:00+07:00', href: '/cap/update.xml' },
    { id: 'e4', updated: '2026-11-21T16:40:00+07:00', href: '/cap/cancel.xml' },
  ]);
  t.same(await f.pollOnce(), { delivered: 1, refused: 1, failed: 0 });
  t.equal(srv.hits('/cap/warning.xml'), 2, 'the changed entry is fetched again');
  t.match(refusals[1], { url: `${srv.base}/cap/warning.xml`, errors: [/^document changed under the same sender, identifier and sent \(canhbao@pctt\.quangtri\.gov\.vn,VN-QT-PCTT-2026-1121-001,2026-11-20T22:30:00\.000Z\); a change must be a new message$/] });
  t.same(alerts.map((a) => a.alert.identifier), ['VN-QT-PCTT-2026-1121-001', 'VN-QT-PCTT-2026-1121-002', 'VN-QT-PCTT-2026-1121-003'], 'the changed copy never reaches onAlert; the Cancel does');
  t.same(alerts[2]!.alert.info, []);

  // A restart with the persisted keys: nothing is delivered twice.
  const again = feed(t, { url: `${srv.base}/index.atom`, seen: f.seenKeys() });
  srv.state.docs.set('/cap/warning.xml', docs.warning);
  t.same(await again.f.pollOnce(), { delivered: 0, refused: 1, failed: 0 }, 'only the unsigned one, refused again in a new process');
  t.same(again.alerts, []);
});

t.test('documents come from the feed\'s origin unless others are configured, redirects included', async (t) => {
  const srv = await feedServer(t);
  const other = await feedServer(t);
  other.state.docs.set('/cap/warning.xml', docs.warning);
  const elsewhere = `${other.base}/cap/warning.xml`;
  srv.state.index = atom([
    { id: 'e1', updated: '1', href: elsewhere },
    { id: 'e2', updated: '1', href: `/redirect?to=${encodeURIComponent(elsewhere)}` },
    { id: 'e3', updated: '1', href: 'file:///etc/passwd' },
  ]);
  const strict = feed(t, { url: `${srv.base}/index.atom` });
  t.same(await strict.f.pollOnce(), { delivered: 0, refused: 3, failed: 0 });
  t.same(strict.refusals.map((r) => r.errors[0]), [
    `document origin ${other.base} is not one the feed may use`,
    `redirected to ${other.base}, not an origin the feed may use`,
    'document origin null is not one the feed may use',
  ]);
  t.equal(other.hits('/cap/warning.xml'), 1, 'only the redirect reached the other server');
  const widened = feed(t, { url: `${srv.base}/index.atom`, documentOrigins: [srv.base, other.base] });
  t.same(await widened.f.pollOnce(), { delivered: 1, refused: 1, failed: 0 }, 'direct and redirected both reach it; the same alert is delivered once');
  t.same(widened.alerts.map((a) => a.meta.url), [elsewhere]);
  t.throws(() => feed(t, { url: `${srv.base}/index.atom`, documentOrigins: ['file:///'] }), /document origin must be http or https/);
});

t.test('a real published signed alert through the feed: Environment Canada, its certificate pinned', async (t) => {
  const srv = await feedServer(t);
  srv.state.docs.set('/cap/eccc.xml', capFixtureText('real/eccc-wind-warning-2022-signed.xml'));
  srv.state.index = atom([{ id: 'urn:oid:2.49.0.1.124.1596751993.2022', updated: '2022-10-10T10:40:09-00:00', href: '/cap/eccc.xml' }]);
  const { f, alerts, refusals } = feed(t, { url: `${srv.base}/index.atom`, pinned: { publicKeysPem: [capFixtureText('real/eccc-weather-gc-ca-2021.pem')] } });
  t.same(await f.pollOnce(), { delivered: 1, refused: 0, failed: 0 });
  t.same(refusals, []);
  t.match(alerts[0]!.alert, { identifier: 'urn:oid:2.49.0.1.124.1596751993.2022', msgType: 'Update', info: [{ language: 'en-CA', headline: 'wind warning in effect' }, { language: 'fr-CA' }] });
});

t.test('a handler that throws does not stop the feed', async (t) => {
  const srv = await feedServer(t);
  srv.state.docs.set('/cap/warning.xml', docs.warning);
  srv.state.docs.set('/cap/update.xml', docs.update);
  srv.state.index = atom([
    { id: 'e1', updated: '1', href: '/cap/warning.xml' },
    { id: 'e3', updated: '3', href: '/cap/update.xml' },
  ]);
  const got: string[] = [];
  const { f, logged } = feed(t, {
    url: `${srv.base}/index.atom`,
    onAlert: async (alert) => { got.push(alert.identifier); if (got.length === 1) throw new Error('consumer bug'); },
  });
  t.same(await f.pollOnce(), { delivered: 2, refused: 0, failed: 0 });
  t.same(got, ['VN-QT-PCTT-2026-1121-001', 'VN-QT-PCTT-2026-1121-002']);
  t.equal(logged.count('cap feed: alert handler failed'), 1);
});

t.test('a 50 MB body is cut at the bound', async (t) => {
  const srv = await feedServer(t);
  srv.state.index = atom([
    { id: 'big', updated: '1', href: '/huge.xml' },
    { id: 'declared', updated: '1', href: '/declared-huge.xml' },
    { id: 'bomb', updated: '1', href: '/bomb.xml' },
  ]);
  const { f, refusals } = feed(t, { url: `${srv.base}/index.atom` });
  t.same(await f.pollOnce(), { delivered: 0, refused: 3, failed: 0 });
  t.same(refusals, [
    { url: `${srv.base}/huge.xml`, errors: ['more than 524288 bytes (cut at the bound)'] },
    { url: `${srv.base}/declared-huge.xml`, errors: ['declared 52428800 bytes, over the 524288-byte bound'] },
    { url: `${srv.base}/bomb.xml`, errors: ['more than 524288 bytes (cut at the bound)'] },
  ]);
  await t.resolves(async () => { while (srv.state.hugeWritten.length === 0) await new Promise((r) => setTimeout(r, 20)); });
  t.ok(srv.state.hugeWritten[0]! < 8 * 1024 * 1024, `the server stopped after ${srv.state.hugeWritten[0]} of 52428800 bytes`);
  t.same(await f.pollOnce(), { delivered: 0, refused: 0, failed: 0 }, 'not downloaded again');

  // The index itself.
  const huge = feed(t, { url: `${srv.base}/huge.atom`, maxIndexBytes: 256 * 1024 });
  const r = await huge.f.pollOnce();
  t.same(r, { delivered: 0, refused: 0, failed: 0, error: `index ${srv.base}/huge.atom: more than 262144 bytes (cut at the bound)` });
  t.match(huge.f.status(), { state: 'failing', consecutiveFailures: 1 });
});

t.test('a server that hangs times out; the index backs off and logs once', async (t) => {
  const srv = await feedServer(t);
  srv.state.docs.set('/cap/warning.xml', docs.warning);
  srv.state.index = atom([
    { id: 'stuck', updated: '1', href: '/hang.xml' },
    { id: 'e1', updated: '1', href: '/cap/warning.xml' },
  ]);
  const { f, alerts, logged } = feed(t, { url: `${srv.base}/index.atom`, timeoutMs: 400 });
  t.same(await f.pollOnce(), { delivered: 1, refused: 0, failed: 1 }, 'the stuck document fails, the next one still arrives');
  t.equal(alerts.length, 1);
  t.match(logged.lines.find((l) => l.msg === 'cap feed: document download failed; retried next poll'), { url: `${srv.base}/hang.xml`, error: 'no complete answer within 400 ms' });
  t.same(await f.pollOnce(), { delivered: 0, refused: 0, failed: 1 }, 'a transport failure is retried');
  t.equal(srv.hits('/hang.xml'), 2);
  t.equal(logged.count('cap feed: document download failed; retried next poll'), 1, 'and logged once');
  srv.state.docs.set('/hang.xml', docs.update);
  srv.state.hangs = false;
  t.same(await f.pollOnce(), { delivered: 1, refused: 0, failed: 0 }, 'once the server answers, it arrives');
  t.equal(logged.count('cap feed: document downloaded again'), 1);

  const stuck = feed(t, { url: `${srv.base}/hang`, timeoutMs: 300 });
  for (let i = 1; i <= 3; i++) {
    const r = await stuck.f.pollOnce();
    t.equal(r.error, `index ${srv.base}/hang: no complete answer within 300 ms`);
    t.match(stuck.f.status(), { state: 'failing', consecutiveFailures: i, lastError: r.error });
  }
  t.equal(stuck.logged.count('cap feed: index failed; backing off'), 1, 'three failures, one log line');
  srv.state.index = atom([]);
  const recovering = feed(t, { url: `${srv.base}/nope.atom` });
  t.match((await recovering.f.pollOnce()).error, /HTTP 404$/);
});

t.test('start() polls on its timer; stop() aborts a download in flight', async (t) => {
  const srv = await feedServer(t);
  srv.state.docs.set('/cap/warning.xml', docs.warning);
  srv.state.index = atom([{ id: 'e1', updated: '1', href: '/cap/warning.xml' }]);
  let resolveFirst!: (a: CapAlert) => void;
  const first = new Promise<CapAlert>((resolve) => { resolveFirst = resolve; });
  const { f } = feed(t, { url: `${srv.base}/index.atom`, intervalMs: 50, onAlert: (a) => resolveFirst(a) });
  f.start();
  t.equal((await first).identifier, 'VN-QT-PCTT-2026-1121-001');
  while (srv.hits('/index.atom') < 3) await new Promise((r) => setTimeout(r, 20));
  f.stop();
  const hitsAtStop = srv.hits('/index.atom');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(srv.hits('/index.atom'), hitsAtStop, 'no poll after stop()');
  t.equal(f.status().state, 'stopped');

  const controller = new AbortController();
  const hung = feed(t, { url: `${srv.base}/hang`, timeoutMs: 60_000, signal: controller.signal });
  const polling = hung.f.pollOnce();
  while (srv.hits('/hang') < 1) await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  controller.abort();
  t.same(await polling, { delivered: 0, refused: 0, failed: 0, error: 'stopped' });
  t.ok(performance.now() - started < 5_000, 'the hanging download ended with the abort, not its 60 s deadline');
  t.equal(hung.logged.count('cap feed: index failed; backing off'), 0, 'stopping is not a failure');
});
