import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/logger.js';
import { openStore, type Db } from '../src/store/database.js';
import { ContentCache, hashFile } from '../src/cache/content-cache.js';
import { makeTone, tempDir } from './audio-fixture.js';
import { stationEvents } from './cache-fixture.js';
import { EventBodySchema, OutboxMessageSchema } from '../src/sync/protocol.js';

const log = silentLogger();
const src = tempDir('cache-src');
const toneA = makeTone(src, 'a', 'mp3', { seconds: 1, levelDb: -30 });
const toneB = makeTone(src, 'b', 'wav', { seconds: 1, levelDb: -10 });
const toneC = makeTone(src, 'c', 'flac', { seconds: 1, levelDb: -20, freq: 500 });
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function setup(quotaBytes = 100 * 1024 * 1024): { dir: string; db: Db; cache: ContentCache; clock: { ms: number } } {
  const root = tempDir('cache');
  const { db } = openStore(join(root, 'loa.db'), log);
  const clock = { ms: 1_000_000 };
  const dir = join(root, 'content');
  const cache = new ContentCache({ dir, db, log, events: stationEvents(db), quotaBytes, targetLufs: -23, truePeakDbtp: -2, now: () => clock.ms });
  return { dir, db, cache, clock };
}

/** The events queued for the province, each checked against the outbox envelope the province accepts. */
function problems(db: Db): Array<{ event: string; data: { sha256: string; state: string } }> {
  return (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq").all() as Array<{ payload: string }>).map((r) => {
    const message = OutboxMessageSchema.parse(JSON.parse(r.payload));
    return EventBodySchema.parse(message.body) as unknown as { event: string; data: { sha256: string; state: string } };
  });
}

t.test('import: content addressed, measured, normalised, indexed', async (t) => {
  const { dir, cache } = setup();
  const rec = await cache.import(toneA, 'bản tin sáng');
  t.equal(rec.sha256, sha(toneA));
  t.equal(rec.name, 'bản tin sáng');
  t.equal(rec.state, 'ok');
  t.match(rec.format, /mp3/);
  t.ok(Math.abs(rec.durationMs - 1000) < 80, `duration ${rec.durationMs}`);
  t.ok(Math.abs(rec.loudnessLufs! + 30) < 1.5, `loudness ${rec.loudnessLufs}`);
  t.equal(rec.gainDb, Math.round((-23 - rec.loudnessLufs!) * 100) / 100);
  t.equal(cache.pathFor(rec.sha256), join(dir, rec.sha256.slice(0, 2), rec.sha256));
  t.equal(await hashFile(cache.pathFor(rec.sha256)), rec.sha256);
  t.same(cache.get(rec.sha256), rec);
  t.ok(cache.has(rec.sha256));
  t.same(readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp file left');
  t.same(cache.stats(), { items: 1, bytes: rec.bytes, quotaBytes: 100 * 1024 * 1024 });
});

t.test('import is idempotent', async (t) => {
  const { cache } = setup();
  const first = await cache.import(toneB);
  const again = await cache.import(toneB, 'other name');
  t.same(again, first);
  t.equal(cache.list().length, 1);
});

t.test("a file the agent hands over (a download, an upload) is moved into the cache: its bytes are written once", async (t) => {
  const { dir, cache } = setup();
  const own = join(tempDir('cache-own'), 'download.part');
  copyFileSync(toneC, own);
  const inode = statSync(own).ino;
  const rec = await cache.import(own, 'tải về', sha(toneC), 'audio', { move: true });
  t.equal(statSync(cache.pathFor(rec.sha256)).ino, inode, 'the same file, renamed: not a copy');
  t.notOk(existsSync(own), 'nothing left where it was');
  t.equal(await hashFile(cache.pathFor(rec.sha256)), sha(toneC));
  t.same(readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp file left');
  // Without it, the technician's own file stays theirs.
  const copied = await cache.import(toneA);
  t.ok(existsSync(toneA));
  t.not(statSync(cache.pathFor(copied.sha256)).ino, statSync(toneA).ino);
});

t.test('import with an expected SHA-256 refuses other content', async (t) => {
  const { dir, cache } = setup();
  await t.rejects(cache.import(toneA, 'a', sha(toneB)), new RegExp(`cannot import ${toneA}: SHA-256 is ${sha(toneA)}, expected ${sha(toneB)}`));
  t.same(cache.list(), []);
  t.same(readdirSync(dir).filter((f) => f !== 'quarantine'), [], 'nothing kept');
  const ok = await cache.import(toneA, 'a', sha(toneA).toUpperCase());
  t.equal(ok.sha256, sha(toneA));
});

t.test('import rejects what is not audio, naming the file and the problem', async (t) => {
  const { dir, cache } = setup();
  const garbage = join(src, 'garbage.mp3');
  writeFileSync(garbage, Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 151 + 3) % 256)));
  await t.rejects(cache.import(garbage), /cannot import .*garbage\.mp3: not usable media: /);
  const text = join(src, 'notes.wav');
  writeFileSync(text, 'this is not a wav file\n');
  await t.rejects(cache.import(text), /cannot import .*notes\.wav: not usable media: .*Invalid data/);
  await t.rejects(cache.import(join(src, 'absent.mp3')), /cannot import .*absent\.mp3: no such file/);
  t.same(cache.list(), []);
  t.same(readdirSync(dir), [], 'no temp or content left behind');
});

t.test('board media: images and H.264 videos enter the cache as what they are, never as audio', async (t) => {
  const { cache, db } = setup();
  const ff = (args: string[]): void => void execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
  const png = join(src, 'poster.png');
  ff(['-f', 'lavfi', '-i', 'color=c=red:s=64x48', '-frames:v', '1', png]);
  const mp4 = join(src, 'clip.mp4');
  ff(['-f', 'lavfi', '-i', 'testsrc=s=64x48:d=1:r=10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', mp4]);
  const webm = join(src, 'clip.webm');
  ff(['-f', 'lavfi', '-i', 'testsrc=s=64x48:d=1:r=10', '-c:v', 'libvpx-vp9', webm]);

  const image = await cache.import(png, 'poster', undefined, 'image');
  t.match(image, { kind: 'image', durationMs: 0, gainDb: 0, loudnessLufs: null, format: /png/ });
  const video = await cache.import(mp4, 'clip', undefined, 'video');
  t.match(video, { kind: 'video', format: /mp4.*h264/ });
  t.ok(video.durationMs >= 900 && video.durationMs <= 1100, `video duration ${video.durationMs}`);
  t.equal((await cache.import(toneA)).kind, 'audio', 'without a declared kind, the file says what it is');

  await t.rejects(cache.import(webm, 'clip.webm', undefined, 'video'), /video must be H\.264 in MP4 \(it is vp9/);
  await t.rejects(cache.import(toneB, 'b', undefined, 'image'), /it is audio, not an image/);
  await t.rejects(cache.import(png, 'poster', undefined, 'audio'), /already cached as image, not audio/);
  await t.rejects(setup().cache.import(png, 'poster', undefined, 'audio'), /not usable audio: no audio stream/);
  const asAudio = await cache.verifyBeforePlay(image.sha256);
  t.match(asAudio, { problem: /an image for the board, not audio/ }, 'the speakers never get a picture');

  // The database was rebuilt: the files say again what they are.
  db.prepare('DELETE FROM content').run();
  const scan = await cache.startupScan();
  t.same(scan.quarantined, []);
  t.same([cache.get(image.sha256)?.kind, cache.get(video.sha256)?.kind], ['image', 'video'], 're-indexed as what they are');
});

t.test('verify: a corrupted file is quarantined, reported once, never offered for play', async (t) => {
  const { dir, db, cache } = setup();
  const rec = await cache.import(toneA, 'a');
  t.equal(await cache.verify(rec.sha256), 'ok');
  const ready = await cache.verifyBeforePlay(rec.sha256);
  t.same(ready, { path: cache.pathFor(rec.sha256), gainDb: rec.gainDb, durationMs: rec.durationMs, name: 'a' });
  const bytes = readFileSync(cache.pathFor(rec.sha256));
  const mid = bytes.length >> 1;
  bytes[mid] = bytes[mid]! ^ 0xff;
  writeFileSync(cache.pathFor(rec.sha256), bytes);
  t.match(await cache.verifyBeforePlay(rec.sha256), { problem: /is corrupt; not played/ });
  t.notOk(existsSync(cache.pathFor(rec.sha256)), 'moved out of the content path');
  t.equal(readdirSync(join(dir, 'quarantine')).length, 1);
  t.equal(cache.get(rec.sha256)!.state, 'quarantined');
  t.match(cache.get(rec.sha256)!.problem, /hash mismatch/);
  t.notOk(cache.has(rec.sha256));
  t.match(await cache.verifyBeforePlay(rec.sha256), { problem: /is quarantined/ });
  t.equal(await cache.verify(rec.sha256), 'missing');
  const events = problems(db);
  t.equal(events.length, 1, 'one report for one transition');
  t.match(events[0], { event: 'content.problem', data: { sha256: rec.sha256, state: 'quarantined' } });
  // The province sends it again: it is good once more.
  const back = await cache.import(toneA, 'a');
  t.equal(back.state, 'ok');
  t.match(problems(db)[1], { event: 'content.healed', data: { sha256: rec.sha256, was: 'quarantined' } }, 'the province hears it is good again');
  t.equal(await cache.verify(rec.sha256), 'ok');
  t.match(await cache.verifyBeforePlay('f'.repeat(64)), { problem: /not in the cache/ });
});

t.test('startup scan: temp files, strays, missing, corrupt, and files without a row', async (t) => {
  const { dir, db, cache } = setup();
  const a = await cache.import(toneA, 'a');
  const b = await cache.import(toneB, 'b');
  const c = await cache.import(toneC, 'c');
  writeFileSync(join(dir, '.tmp-import-deadbeef'), 'half a file');
  writeFileSync(join(dir, a.sha256.slice(0, 2), '.tmp-x'), 'half');
  writeFileSync(join(dir, 'stray.txt'), 'x');
  writeFileSync(join(dir, a.sha256.slice(0, 2), 'not-a-sha'), 'x');
  unlinkSync(cache.pathFor(b.sha256));
  writeFileSync(cache.pathFor(c.sha256), 'overwritten');
  // The database was rebuilt: a's row is gone but its file is good.
  db.prepare('DELETE FROM content WHERE sha256 = ?').run(a.sha256);
  // A file with the right name but foreign content and no row.
  const bogus = 'ab'.padEnd(64, '0');
  mkdirSync(join(dir, 'ab'), { recursive: true });
  writeFileSync(join(dir, 'ab', bogus), 'not what the name says');

  const scan = await cache.startupScan();
  t.equal(scan.removedTemps, 2);
  t.equal(scan.orphansRemoved, 2);
  t.same(scan.reindexed, [a.sha256]);
  t.same(scan.missing, [b.sha256]);
  t.same([...scan.quarantined].sort(), [c.sha256, bogus].sort());
  t.same(scan.rerequest, [b.sha256, c.sha256, bogus].sort());
  const reindexed = cache.get(a.sha256)!;
  t.equal(reindexed.state, 'ok');
  t.equal(reindexed.gainDb, a.gainDb, 'loudness measured again gives the same gain');
  t.equal(cache.get(b.sha256)!.state, 'missing');
  t.notOk(existsSync(join(dir, 'stray.txt')));
  t.same(problems(db).map((e) => e.data.state).sort(), ['missing', 'quarantined', 'quarantined']);
  // A second scan finds nothing new and reports nothing twice.
  const again = await cache.startupScan();
  t.same({ ...again, rerequest: [] }, { removedTemps: 0, orphansRemoved: 0, reindexed: [], quarantined: [], missing: [], rerequest: [] });
  t.equal(problems(db).length, 3);
});

t.test('eviction: least recently used first, never what is needed', async (t) => {
  const { cache, clock } = setup();
  const a = await cache.import(toneA, 'a');
  clock.ms += 1000;
  const b = await cache.import(toneB, 'b');
  clock.ms += 1000;
  const c = await cache.import(toneC, 'c');
  const total = a.bytes + b.bytes + c.bytes;
  clock.ms += 1000;
  cache.touch(a.sha256); // a is now the most recently used
  const tight = new ContentCache({ dir: join(cache.pathFor(a.sha256), '..', '..'), db: (cache as unknown as { db: Db }).db, log, events: stationEvents((cache as unknown as { db: Db }).db), quotaBytes: total - 1, targetLufs: -23, truePeakDbtp: -2 });
  const r1 = await tight.evict(new Set([b.sha256]));
  t.same(r1.evicted, [c.sha256], 'c: oldest use that is not needed');
  t.equal(r1.overQuotaBytes, 0);
  t.notOk(existsSync(cache.pathFor(c.sha256)));
  t.ok(existsSync(cache.pathFor(b.sha256)));
  const none = new ContentCache({ dir: join(cache.pathFor(a.sha256), '..', '..'), db: (cache as unknown as { db: Db }).db, log, events: stationEvents((cache as unknown as { db: Db }).db), quotaBytes: 1, targetLufs: -23, truePeakDbtp: -2 });
  const r2 = await none.evict(new Set([a.sha256, b.sha256]));
  t.same(r2.evicted, [], 'needed content is never evicted');
  t.equal(r2.overQuotaBytes, a.bytes + b.bytes - 1, 'and the excess is reported');
  t.ok(existsSync(cache.pathFor(a.sha256)) && existsSync(cache.pathFor(b.sha256)));
});

t.test('eviction forgets problem rows nothing needs any more', async (t) => {
  const { cache } = setup();
  const a = await cache.import(toneA, 'a');
  const b = await cache.import(toneB, 'b');
  unlinkSync(cache.pathFor(a.sha256));
  unlinkSync(cache.pathFor(b.sha256));
  await cache.verify(a.sha256);
  await cache.verify(b.sha256);
  await cache.evict(new Set([b.sha256]));
  t.equal(cache.get(a.sha256), null);
  t.equal(cache.get(b.sha256)!.state, 'missing', 'still needed: still asked for');
});
