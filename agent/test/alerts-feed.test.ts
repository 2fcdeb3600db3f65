/**
 * A national CAP feed polled by the station (config alerts.feeds): an Atom
 * index on a real HTTP server. A document signed by the pinned key plays at
 * the sink with its identifier in the proof of play; one signed by another
 * key, and one not signed at all, are refused, reported, and never heard.
 */
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startStation } from './station-fixture.js';
import { tempDir } from './audio-fixture.js';
import { until } from './sync-fixture.js';
import { capXml, wholeSecond } from './alerts-fixture.js';
import { rsaKey, signCap } from './cap-fixture.js';

t.test('a feed: the document signed by the pinned key plays; forged and unsigned ones are refused and never heard', async (t) => {
  const authority = rsaKey();
  const stranger = rsaKey();
  const docs = new Map<string, string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/index.atom') {
      const entries = [...docs.keys()].map((p) => `<entry><id>${p}</id><title>${p}</title><updated>2026-12-02T05:30:00+07:00</updated><link rel="alternate" type="application/cap+xml" href="${p}"/></entry>`).join('');
      return void res.writeHead(200, { 'content-type': 'application/atom+xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:loa:test</id><title>Cảnh báo</title><updated>2026-12-02T05:30:00+07:00</updated>${entries}</feed>`);
    }
    if (req.url === '/flood.wav') return void res.writeHead(200, { 'content-type': 'audio/x-wav' }).end(readFileSync(wav));
    const doc = docs.get(req.url ?? '');
    if (doc === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/cap+xml' }).end(doc);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const wav = join(tempDir('alerts-feed'), 'flood.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=990:d=2:sample_rate=16000', wav]);
  const now = wholeSecond(Date.now());
  const doc = (identifier: string): string => capXml({ identifier, sentMs: now - 1000, expiresMs: now + 3_600_000, resources: [{ uri: `${base}/flood.wav`, file: wav }] });
  docs.set('/signed.xml', signCap(doc('FEED-1'), authority));
  docs.set('/forged.xml', signCap(doc('FEED-2'), stranger));
  docs.set('/unsigned.xml', doc('FEED-3'));

  const s = await startStation({ alerts: { chime: false, feeds: [{ url: `${base}/index.atom`, publicKeysPem: [authority.publicKeyPem], intervalS: 10 }] } });
  t.teardown(() => s.stop());
  const sha = createHash('sha256').update(readFileSync(wav)).digest('hex');
  const row = await until(() => s.played.find((r) => r.content === sha), 30_000, 'the signed alert played');
  t.equal(row.alertId, 'FEED-1', 'its identifier in the proof of play');
  t.equal(s.agent.alerts.status().find((a) => a.identifier === 'FEED-1')?.origin, 'cap-feed');
  const refused = (): string[] => (s.agent.store.db.prepare("SELECT payload FROM outbox WHERE kind = 'event'").all() as Array<{ payload: string }>).map((e) => e.payload).filter((p) => p.includes('alert.refused'));
  await until(() => refused().length >= 2, 20_000, 'both refusals reported');
  t.ok(refused().some((p) => p.includes('forged.xml')) && refused().some((p) => p.includes('unsigned.xml')), 'each names its document');
  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(s.played.some((r) => r.alertId === 'FEED-2' || r.alertId === 'FEED-3'), 'neither is ever played');
  t.notOk(s.agent.alerts.status().some((a) => a.identifier === 'FEED-2' || a.identifier === 'FEED-3'), 'nor in the registry');
});
