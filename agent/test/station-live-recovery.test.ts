/**
 * A power cut (kill -9 of the real daemon) during a live relay: after the
 * restart the relay is rejoined live to the end it had, even past the
 * programme grace window (the radio is still on the air), and not for a
 * whole duration again. Proven in the play log and at the sink.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { killHard, loa, loaJson, simStationConfig, sleep, startDaemon, tonesHeard, until, type Daemon } from './daemon-fixture.js';
import { startIcecast } from './stream-fixture.js';

interface Row { result: string; reason?: string; occurrenceId?: string; startedMs?: number; endedMs?: number; playedMs?: number; live?: { label: string } }

t.test('a power cut during a live relay: rejoined after the restart, to its end', async (t) => {
  const ic = await startIcecast();
  t.teardown(() => ic.close());
  await ic.feed('vov1.mp3', 440);
  const dir = mkdtempSync(join(tmpdir(), 'loa-live-recovery-'));
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  // A grace window far shorter than the cut: a file programme would not come back.
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'live-recovery', dir, sink }, { schedule: { graceMs: 2000 } })));
  let d: Daemon = await startDaemon(configPath);
  t.teardown(() => killHard(d));
  const DURATION = 25_000;
  const at = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 3 }).startOf('second');
  const file = join(dir, 'vov1.json');
  writeFileSync(file, JSON.stringify({ programmes: [{
    id: 'vov1', name: 'Tiếp sóng VOV1', recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') },
    items: [{ live: { label: 'VOV1', durationMs: DURATION, sources: [{ id: 'vov1', kind: 'http', url: ic.url('vov1.mp3') }] } }], zones: ['north'],
  }] }));
  const imported = await loa('--config', configPath, 'schedule', 'import', file);
  t.equal(imported.code, 0, `schedule imported ${imported.err}`);
  await sleep(Math.max(0, at.toMillis() + 5000 - Date.now()));
  await killHard(d);
  const cutAt = Date.now();
  const before = join(dir, 'before.raw');
  copyFileSync(sink, before);
  rmSync(sink);
  t.ok(tonesHeard(before, [440]).some((r) => r.freq === 440 && r.durationS > 3), 'the relay was on air before the cut');
  // Power comes back after 3 s: longer than the grace window.
  await sleep(Math.max(0, cutAt + 3000 - Date.now()));
  d = await startDaemon(configPath);
  t.comment(`restarted ${((Date.now() - at.toMillis()) / 1000).toFixed(1)} s into the relay`);
  t.ok(Date.now() - cutAt > 2000, 'the restart took longer than the grace window (a file programme would be missed)');
  const rows = await until('the relay done after the restart', async () => {
    const r = (await loaJson<{ rows: Row[] }>(configPath, 'log', '--limit', '10')).rows;
    return r.length >= 2 && r.at(-1)!.result === 'played' ? r : undefined;
  }, 60_000);
  t.same(rows.map((r) => [r.live?.label, r.result]), [['VOV1', 'interrupted'], ['VOV1', 'played']], 'the cut relay, then the relay rejoined');
  t.match(rows[0]!.reason, /crash or power loss/, 'the cut row says why');
  t.notMatch(rows[0]!.reason, /not resumed/, 'and that it goes on');
  const rejoined = rows[1]!;
  t.ok(rejoined.startedMs! > cutAt, 'rejoined after the restart');
  t.ok(Math.abs(rejoined.endedMs! - (at.toMillis() + DURATION)) < 1500, `ended at the relay's end (${((rejoined.endedMs! - at.toMillis()) / 1000).toFixed(2)} s after its start, for ${DURATION / 1000} s)`);
  const after = tonesHeard(sink, [440]);
  t.same(after.map((r) => r.freq), [440], 'the stream at the sink after the restart');
  t.ok(after[0]!.durationS < (DURATION - 5000) / 1000, `only what was left of it (${after[0]!.durationS} s), not the whole ${DURATION / 1000} s again`);
  t.ok(Math.abs(rejoined.playedMs! / 1000 - after[0]!.durationS) < 0.7, `playedMs ${rejoined.playedMs} matches the sink`);
});
