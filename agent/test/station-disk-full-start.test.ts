/**
 * The power comes back with the SD card still full, or remounted read-only
 * by the kernel: the agent must start and play all the same, on a copy of
 * its database in memory, and put that copy on the card once the card takes
 * writes again. The state folder is the soaks' real tmpfs under their FUSE
 * layer, as in station-disk-full.test.ts.
 */
import t from 'tap';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { makeTestTone } from '../src/audio/tones.js';
import { SoakDisk } from '../bench/soak/disk.js';
import { killHard, loa, loaJson, simStationConfig, sleep, startDaemon, stopDaemon, tonesHeard, until, type Daemon } from './daemon-fixture.js';

const root = process.getuid?.() === 0;

for (const fault of ['full', 'read-only'] as const) t.test(`the agent starts on a state disk that is ${fault}: it plays, and puts its records on the disk once it takes them`, { skip: root ? false : 'mounts a tmpfs and a FUSE file system: run as root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-disk-full-start-'));
  const disk = new SoakDisk(dir, 24);
  await disk.start();
  t.teardown(() => disk.stop());
  const configPath = join(dir, 'config.json');
  const sink = join(dir, 'out.raw');
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'disk-full', dir, sink })));
  let d: Daemon = await startDaemon(configPath);
  t.teardown(() => killHard(d));
  const sha = (await loaJson<{ sha256: string }>(configPath, 'cache', 'import', await makeTestTone(join(dir, 't440.wav'), 'ffmpeg', { durationMs: 3000, frequencyHz: 440 }))).sha256;
  const at = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 12 }).startOf('second');
  writeFileSync(join(dir, 's.json'), JSON.stringify({ programmes: [{ id: 'news', name: 'news', recurrence: { kind: 'once', date: at.toISODate(), time: at.toFormat('HH:mm:ss') }, items: [{ content: sha }], zones: ['north'] }] }));
  t.equal((await loa('--config', configPath, 'schedule', 'import', join(dir, 's.json'))).code, 0);
  // Stopped cleanly, or killed with the schedule still in the WAL (which SQLite cannot read on such a disk).
  if (fault === 'full') await stopDaemon(d);
  else await killHard(d);
  t.equal(existsSync(join(disk.mount, 'loa.db-wal')), fault === 'read-only', fault === 'read-only' ? 'a WAL left behind' : 'no WAL left');
  // The power comes back with the card full (or remounted read-only by the kernel): the agent must still start.
  if (fault === 'full') disk.fill();
  else disk.readOnly(true);
  d = await startDaemon(configPath);
  const st = await loaJson<{ problems: string[] }>(configPath, 'status');
  t.ok(st.problems.some((p) => /state disk takes no writes .*copy of its database in memory/.test(p)), `loa status says so: ${JSON.stringify(st.problems)}`);
  await until('the programme heard', async () => (tonesHeard(sink, [440]).length > 0 ? true : undefined), 40_000);
  await sleep(3500);
  const heard = tonesHeard(sink, [440]);
  t.same(heard.map((h) => h.freq), [440], 'the programme played');
  t.ok(Math.abs(heard[0]!.durationS - 3) <= 0.1, `whole: ${heard[0]!.durationS} s`);

  // Room again: the agent restarts by itself between programmes (systemd starts it again) and its records are on the disk.
  const healedAt = Date.now();
  disk.heal();
  t.equal(await Promise.race([d.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000).unref())]), 75, `it ends to be restarted (EX_TEMPFAIL), ${Date.now() - healedAt} ms after`);
  d = await startDaemon(configPath);
  const log = await loaJson<{ rows: Array<{ result: string; content?: string }> }>(configPath, 'log', '--limit', '20');
  t.same(log.rows.filter((r) => r.result === 'played').map((r) => r.content), [sha], 'the row of what played while the disk was refusing is there');
  t.same((await loaJson<{ problems: string[] }>(configPath, 'status')).problems.filter((p) => /state disk/.test(p)), [], 'and the problem is gone');
  await sleep(2000);
  // The file sink starts again with the new process: what it holds is the restarted agent's output.
  t.same(tonesHeard(sink, [440]), [], 'nothing played again after the restart');
  await stopDaemon(d); // before the disk goes: its teardown would wait for the mount to be free
});
