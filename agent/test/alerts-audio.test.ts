/**
 * An alert's audio before the cache sees it: resources fetched from a real
 * HTTP server or decoded inline, bounded (a 10 MB answer is never read
 * whole, whatever it declares), checked against their CAP SHA-1 digest; and
 * Vietnamese speech from the real espeak-ng.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fetchResource, synthesise } from '../src/alerts/alert-audio.js';
import { tempDir } from './audio-fixture.js';

const LIMITS = { maxBytes: 1024 * 1024, timeoutMs: 5000 };
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

t.test('resources: fetched and digest-checked; too large, lying about their size or their digest, refused', async (t) => {
  const clip = Buffer.from('RIFF....WAVEfmt pretend audio bytes');
  let hugeSent = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/clip.wav') return void res.writeHead(200).end(clip);
    if (req.url === '/huge.wav') {
      // 10 MB, chunked, no declared length: only the reader's bound stops it.
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (hugeSent < 10 * 1024 * 1024) {
          hugeSent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = tempDir('alerts-audio');
  const resource = { description: 'clip', mimeType: 'audio/x-wav' };

  const path = await fetchResource({ ...resource, uri: `${base}/clip.wav`, size: clip.length, digest: sha1(clip) }, dir, LIMITS);
  t.same(readFileSync(path), clip, 'the bytes as served');
  const inline = await fetchResource({ ...resource, derefUri: clip.toString('base64'), digest: sha1(clip).toUpperCase() }, dir, LIMITS);
  t.same(readFileSync(inline), clip, 'inline derefUri decoded (digest case does not matter)');

  await t.rejects(fetchResource({ ...resource, uri: `${base}/clip.wav`, digest: sha1(Buffer.from('other')) }, dir, LIMITS), /does not match its digest/);
  await t.rejects(fetchResource({ ...resource, uri: `${base}/clip.wav`, size: clip.length + 1 }, dir, LIMITS), /not the .* it declares/);
  await t.rejects(fetchResource({ ...resource, uri: `${base}/huge.wav` }, dir, LIMITS), /larger than 1048576 bytes/);
  await t.rejects(fetchResource({ ...resource, uri: `${base}/huge.wav`, size: 1000 }, dir, LIMITS), /larger than 1000 bytes/, 'the declared size bounds it tighter');
  await t.rejects(fetchResource({ ...resource, derefUri: Buffer.alloc(2 * 1024 * 1024).toString('base64') }, dir, LIMITS), /inline resource .* larger than/);
  await t.rejects(fetchResource({ ...resource, uri: 'file:///etc/passwd' }, dir, LIMITS), /not http/);
  await t.rejects(fetchResource({ ...resource, uri: `${base}/missing.wav` }, dir, LIMITS), /HTTP 404/);
  await t.rejects(fetchResource(resource, dir, LIMITS), /neither uri nor derefUri/);
});

t.test('speech: espeak-ng says the Vietnamese text into a WAV, bounded in length; a text that starts like an option is text', async (t) => {
  const dir = tempDir('alerts-speech');
  const path = await synthesise('Cảnh báo lũ quét. Di chuyển lên vùng cao ngay.', dir, { voice: 'vi', maxChars: 600, timeoutMs: 10_000 });
  const seconds = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' }));
  t.ok(seconds > 1 && seconds < 10, `speech of a sensible length (${seconds} s)`);
  const long = await synthesise('lũ '.repeat(2000), dir, { voice: 'vi', maxChars: 100, timeoutMs: 10_000 });
  t.ok(statSync(long).size < statSync(path).size * 4, 'a long text is cut, not read for minutes');
  const dash = await synthesise('--help', dir, { voice: 'vi', maxChars: 100, timeoutMs: 10_000 });
  t.ok(statSync(dash).size > 1000, 'said, not taken as an option');
  await t.rejects(synthesise('   ', dir, { voice: 'vi', maxChars: 100, timeoutMs: 10_000 }), /nothing to say/);
});
