/**
 * The station's updater on a real agent (conductor, store, ffmpeg, file
 * sink) with real signed bundles served over HTTP: resume after a cut,
 * refusals (signature, digest, size), the switch only in a gap, the backup.
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startStation, type Station } from './station-fixture.js';
import { ContentServer } from '../../province/src/content-server.js';
import { fakeBundle, installRoot, releaseKeys, updateEvents } from './update-fixture.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { signManifest } from '../src/update/manifest.js';
import { readMarker } from '../src/update/releases.js';
import { until } from './daemon-fixture.js';

async function rig(t: Test, over: Record<string, unknown> = {}): Promise<{ s: Station; root: string; content: ContentServer; restarts: () => number }> {
  const root = await installRoot('0.1.0');
  let restarts = 0;
  const s = await startStation({ update: { root, releaseKey: releaseKeys.publicPem, gapS: 10, checkEveryS: 1, ...over } }, undefined, { onRestartRequested: () => restarts++ });
  t.teardown(() => s.stop());
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  return { s, root, content, restarts: () => restarts };
}

const current = (root: string): string => readlinkSync(join(root, 'current'));

t.test('a cut download resumes with a Range request; verified, unpacked beside, switched in a gap, restart asked', async (t) => {
  const { s, root, content, restarts } = await rig(t);
  const built = await fakeBundle('0.2.0');
  const entry = content.add(built.bundle);
  content.faults.cutAfterBytes = Math.floor(built.manifest.bytes / 2);
  content.faults.cuts = 1;
  const answer = await s.agent.updater.offer({ manifest: built.signed, url: entry.url });
  t.equal(answer.status, 'done', 'accepted at once');
  await until('the switch', () => (current(root) === 'releases/0.2.0' ? true : undefined), 60_000);
  t.ok(content.requests.some((r) => r.range && Number(/bytes=(\d+)-/.exec(r.range)?.[1]) > 0), `resumed: ${JSON.stringify(content.requests)}`);
  t.equal(JSON.parse(readFileSync(join(root, 'releases/0.2.0/package.json'), 'utf8')).version, '0.2.0', 'unpacked as releases/0.2.0');
  t.equal(readFileSync(join(root, 'releases/0.2.0/bin/loa-agent.js'), 'utf8'), "process.stdout.write('release 0.2.0\\n');\n");
  t.ok(existsSync(join(root, 'releases/0.1.0/bin/loa-agent.js')), 'the running release is untouched');
  t.equal(readlinkSync(join(root, 'previous')), 'releases/0.1.0', 'previous: the release switched away from');
  await until('the restart request', () => (restarts() > 0 ? true : undefined));
  const marker = readMarker(s.config.paths.state)!;
  t.match(marker, { state: 'trial', from: '0.1.0', to: '0.2.0', starts: 0 });
  const backup = new Database(marker.backup!, { readonly: true });
  t.equal(backup.pragma('user_version', { simple: true }), s.agent.store.db.pragma('user_version', { simple: true }), 'the backup is the database as it was');
  backup.close();
  t.same(updateEvents(s.agent.store.db).map((e) => e.event), ['update.downloading', 'update.ready', 'update.switching']);
  t.notOk(readdirSync(root).some((n) => n.startsWith('.tmp-')), 'no temp link left');
});

t.test('refused: a manifest not signed by the pinned release key, a wrong digest, a bundle larger than its manifest', async (t) => {
  const { s, root, content } = await rig(t);
  const built = await fakeBundle('0.3.0');
  const entry = content.add(built.bundle);

  const forged = await fakeBundle('0.3.0', { key: generateProvinceKeys() });
  const refused = await s.agent.updater.offer({ manifest: forged.signed, url: entry.url });
  t.equal(refused.status, 'rejected', 'another key: refused');
  t.match(refused.reason, /release manifest refused \(unknown-key\)/);
  t.equal(content.requests.length, 0, 'nothing fetched for it');

  const wrongDigest = signManifest(releaseKeys.privateKey, { ...built.manifest, sha256: 'ab'.repeat(32) });
  t.equal((await s.agent.updater.offer({ manifest: wrongDigest, url: entry.url })).status, 'done');
  const failed = await until('update.failed', () => updateEvents(s.agent.store.db).find((e) => e.event === 'update.failed'), 60_000);
  t.match(failed.message, /hash mismatch/, 'the digest is checked before anything is unpacked');
  t.notOk(existsSync(join(root, 'releases/0.3.0')), 'nothing unpacked');

  const small = signManifest(releaseKeys.privateKey, { ...built.manifest, bytes: built.manifest.bytes - 1000 });
  t.equal((await s.agent.updater.offer({ manifest: small, url: entry.url })).status, 'done');
  const oversize = await until('second update.failed', () => updateEvents(s.agent.store.db).filter((e) => e.event === 'update.failed')[1], 60_000);
  t.match(oversize.message, /sends \d+ bytes or more, the manifest says \d+; stopped/);
  t.same(readdirSync(join(s.config.paths.state, 'update', 'downloads')), [], 'the partial file is deleted');
  t.equal(current(root), 'releases/0.1.0', 'the running release stays');
  t.same(readMarker(s.config.paths.state), null, 'no marker: nothing switched');
});

t.test('no switch while a programme or an emergency is on air: the update waits for the gap', async (t) => {
  const { s, root, content } = await rig(t);
  const programme = await s.tone('programme', { seconds: 10, freq: 440 });
  const siren = await s.tone('siren', { seconds: 4, freq: 880 });
  s.once({ id: 'news', name: 'News', items: [{ content: programme, repeat: 1, gapMs: 0 }], zones: ['north'] }, 0);
  await until('the programme on air', () => (s.agent.conductor.nowPlaying() ? true : undefined), 10_000);
  const built = await fakeBundle('0.4.0');
  await s.agent.updater.offer({ manifest: built.signed, url: content.add(built.bundle).url });
  await until('waiting for a gap', () => (/on air \(News\)/.test(s.agent.updater.status().waitingFor ?? '') ? true : undefined), 30_000);
  t.equal(current(root), 'releases/0.1.0', 'not switched over the programme');
  // An emergency comes while the update waits: it plays, the update keeps waiting.
  s.agent.alerts.submit({ id: 'em-1', mode: 'now', priority: 9, label: 'Lũ', items: [{ content: siren, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'cli' });
  await until('the emergency on air', () => (s.agent.conductor.nowPlaying()?.priority === 9 ? true : undefined), 10_000);
  const why = await until('the update waits for the emergency', () => { const w = s.agent.updater.status().waitingFor ?? ''; return /emergency active|Lũ/.test(w) ? w : undefined; }, 10_000);
  t.pass(`waiting: ${why}`);
  t.equal(current(root), 'releases/0.1.0', 'not switched over the emergency');
  await until('the switch after both', () => (current(root) === 'releases/0.4.0' ? true : undefined), 60_000);
  const rows = s.played.map((r) => ({ content: r.content, result: r.result }));
  t.same(rows.filter((r) => r.content === siren), [{ content: siren, result: 'played' }], 'the emergency played whole');
  t.ok(rows.filter((r) => r.content === programme).every((r) => r.result === 'played' || r.result === 'interrupted'), 'the programme was cut only by the emergency');
  t.ok(readMarker(s.config.paths.state)!.switchedMs >= Math.max(...s.played.map((r) => r.endedMs ?? 0)), 'switched after the last item ended');
});
