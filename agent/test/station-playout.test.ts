import t from 'tap';
import { startStation } from './station-fixture.js';
import { STEP_SLACK_MS } from '../src/relays/sequence.js';

t.test('a scheduled programme plays its items in order, on time, through the relay sequence', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const a = await s.tone('a', { freq: 440 });
  const b = await s.tone('b', { freq: 880 });
  const since = Date.now();
  const at = s.once({ id: 'morning', name: 'Morning news', items: [{ content: a, repeat: 1, gapMs: 200 }, { content: b, repeat: 2, gapMs: 0 }], zones: ['north'] }, 1500);
  const rows = await s.rows(3);
  t.same(rows.map((r) => [r.content, r.result]), [[a, 'played'], [b, 'played'], [b, 'played']]);
  t.ok(Math.abs(rows[0]!.startedMs! - at) < 500, `first item starts at its instant (${rows[0]!.startedMs! - at} ms)`);
  t.ok(rows[1]!.startedMs! >= rows[0]!.endedMs! + 150, 'the gap is kept');
  t.equal(rows[0]!.scheduledMs, at);
  t.same(rows[0]!.zones, ['north']);
  await new Promise((r) => setTimeout(r, 800)); // tail delay, zones off, amplifier off
  const sw = s.switches().filter((x) => x.atMs > since);
  t.same(sw.map((x) => `${x.name}:${x.on ? 'on' : 'off'}`), ['amp:on', 'north:on', 'north:off', 'amp:off'], 'amplifier, zone, then off in reverse');
  // A switch up to STEP_SLACK_MS late is on time; later, the zone waits the whole warm-up after it.
  t.ok(sw[1]!.atMs - sw[0]!.atMs >= 300 - STEP_SLACK_MS - 1, `the amplifier warms up before the zone closes (${sw[1]!.atMs - sw[0]!.atMs} ms)`);
  t.ok(sw[1]!.atMs <= rows[0]!.startedMs!, 'the zone is closed before the audio starts');
  t.ok(sw[2]!.atMs >= rows[2]!.endedMs! + 150, 'the tail delay is kept after the audio');
  const stored = s.agent.store.recentPlays(10);
  t.equal(stored.length, 3, 'each row is in the database');
  t.equal(s.agent.store.outboxDepth() >= 3, true, 'and in the outbox for the province');
});

t.test('an emergency preempts a programme at once, on every zone at forced volume; the programme then resumes', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  // Long enough that a loaded machine cannot finish it before the emergency comes.
  const music = await s.tone('music', { seconds: 6, freq: 300 });
  const alert = await s.tone('alert', { seconds: 1, freq: 1200 });
  s.once({ id: 'music', name: 'Music', items: [{ content: music, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 60 }, 500);
  await new Promise<void>((resolve) => s.agent.conductor.on('session', (e: { state: string }) => e.state === 'started' && resolve()));
  await new Promise((r) => setTimeout(r, 1500));
  const asked = Date.now();
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Flood', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 10, origin: 'test' });
  const rows = await s.rows(3);
  t.same(rows.map((r) => [r.content, r.result]), [[music, 'interrupted'], [alert, 'played'], [music, 'played']]);
  t.ok(rows[1]!.startedMs! - asked < 2000, `the emergency starts within two seconds, even on a loaded machine (${rows[1]!.startedMs! - asked} ms)`);
  t.same(rows[1]!.zones, ['north', 'south'], 'every zone, whatever was asked');
  t.equal(rows[1]!.volume, 100, 'forced volume');
  t.equal(rows[1]!.priority, 9);
  // Counted in samples (a loaded machine's underruns stretch the row's span, not its audio).
  const resumedMs = rows[2]!.playedMs!;
  t.ok(resumedMs < 5500, `the normal programme resumes where it was cut, not from the start (${resumedMs} ms left)`);
});

t.test('a missing or corrupt item fails with its reason and the programme goes on', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const good = await s.tone('good');
  const bad = await s.tone('bad', { freq: 500 });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(s.agent.media.cache.pathFor(bad), Buffer.alloc(2000, 7)); // bit rot on the card
  s.once({ id: 'p', name: 'P', items: [{ content: bad, repeat: 1, gapMs: 0 }, { content: 'f'.repeat(64), repeat: 1, gapMs: 0 }, { content: good, repeat: 1, gapMs: 0 }], zones: ['south'] }, 500);
  const rows = await s.rows(3);
  t.same(rows.map((r) => r.result), ['failed', 'failed', 'played']);
  t.match(rows[0]!.reason, /corrupt|quarantin/);
  t.match(rows[1]!.reason, /not in the cache|missing|unknown/);
  t.equal(s.agent.media.cache.get(bad)?.state, 'quarantined', 'the corrupt file is quarantined, never played');
});

t.test('a programme past its grace window is recorded missed, never played late', async (t) => {
  const s = await startStation({ schedule: { graceMs: 1000 } });
  t.teardown(() => s.stop());
  const a = await s.tone('a');
  const at = Date.now() - 120_000;
  const { DateTime } = await import('luxon');
  const local = DateTime.fromMillis(at, { zone: s.config.station.timezone });
  s.agent.store.replaceSchedule(
    { programmes: [{ id: 'late', name: 'Late', priority: 0, volume: 80, recurrence: { kind: 'once', date: local.toISODate()!, time: local.toFormat('HH:mm:ss') }, items: [{ content: a, repeat: 2, gapMs: 0 }], zones: ['north'] }] },
    at - 60_000,
  );
  s.agent.conductor.reloadSchedule();
  s.agent.conductor.kick('test');
  await s.agent.conductor.ping();
  const rows = s.agent.store.recentPlays(10);
  t.same(rows.map((r) => r.result), ['missed', 'missed'], 'one missed row per item');
  t.match(rows[0]!.reason, /grace/);
  t.same(s.switches().filter((x) => x.on), [], 'no relay was switched');
});

t.test('an operator stop ends the session: the rest is skipped, not resumed', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const a = await s.tone('a', { seconds: 2 });
  s.agent.conductor.submit({ id: 'long', mode: 'now', priority: 0, label: 'Long', items: [{ content: a, repeat: 3, gapMs: 0 }], zones: [], volume: 80, origin: 'test' });
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await s.agent.conductor.stopCurrent(), 'request:long');
  await s.agent.conductor.ping();
  const rows = s.agent.store.recentPlays(10);
  // However far it got on a busy machine: played items, the cut one, then the rest skipped.
  const results = rows.map((r) => r.result).join(' ');
  t.match(results, /^(played )*interrupted( skipped)*$/);
  t.equal(rows.length, 3, 'every item has its row');
  t.equal(s.agent.conductor.nowPlaying(), null);
});

t.test('a sound card that dies is opened again for the next item', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'loa-station-alsa-'));
  const out = join(dir, 'card.raw');
  const s = await startStation({ audio: { sink: { kind: 'alsa', device: `file:FILE=${out},FORMAT=raw` }, chime: { enabled: false } } }, dir);
  t.teardown(() => s.stop());
  const a = await s.tone('a', { seconds: 1 });
  const aplay = (): string => execFileSync('pgrep', ['-P', String(process.pid), 'aplay'], { encoding: 'utf8' }).trim();
  const first = aplay();
  execFileSync('kill', ['-9', first]); // the USB sound card is pulled
  await new Promise((r) => setTimeout(r, 200));
  s.agent.conductor.submit({ id: 'after', mode: 'now', priority: 0, label: 'After', items: [{ content: a, repeat: 1, gapMs: 0 }], zones: [], volume: 80, origin: 'test' });
  const rows = await s.rows(1);
  t.equal(rows[0]!.result, 'played', rows[0]!.reason ?? '');
  t.not(aplay(), first, 'a new aplay plays to the card');
  t.ok(statSync(out).size > 48_000 * 4 * 0.5, 'the audio reached the card');
});

t.test('a stored programme that no longer validates is skipped and reported; the others play', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const a = await s.tone('a');
  s.once({ id: 'good', name: 'Good', items: [{ content: a, repeat: 1, gapMs: 0 }], zones: ['north'] }, 500);
  // Rows damaged behind the agent's back (hand edits, an older version).
  s.agent.store.db.prepare('INSERT INTO programme (id, doc, updated_ms) VALUES (?, ?, ?)').run('broken', '{"id":"broken","name":"x","recurrence":{"kind":"weekly"}}', 0);
  s.agent.store.db.prepare('INSERT INTO programme (id, doc, updated_ms) VALUES (?, ?, ?)').run('garbled', 'not json at all', 0);
  s.agent.conductor.reloadSchedule();
  const rows = await s.rows(1);
  t.equal(rows[0]!.programmeId, 'good');
  t.equal(rows[0]!.result, 'played');
  const problems = s.agent.problems().join('\n');
  t.match(problems, /programme broken: recurrence/);
  t.match(problems, /programme garbled: stored row is not JSON/);
});
