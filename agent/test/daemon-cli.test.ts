import t from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { main } from '../src/cli/main.js';
import { makeTestTone } from '../src/audio/tones.js';
import { simStatePath } from '../src/relays/sim-driver.js';

/** Runs `loa ARGS` in-process against the daemon; returns exit code and output. */
async function loa(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

function startDaemon(configPath: string): Promise<ChildProcess> {
  const child = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null) return reject(new Error(`daemon exited ${child.exitCode}: ${stderr}`));
      const r = await loa('--config', configPath, 'status', '--json');
      if (r.code === 0) return resolve(child);
      if (Date.now() > deadline) return reject(new Error(`daemon not ready: ${stderr}`));
      setTimeout(() => void poll(), 100);
    };
    void poll();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'loa-daemon-'));
const configPath = join(dir, 'config.json');
writeFileSync(configPath, JSON.stringify({
  station: { id: 'daemon-test', locale: 'vi' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: {
    driver: 'sim',
    amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }],
    zones: [{ name: 'north', line: 22, amplifier: 'amp' }, { name: 'south', line: 23, amplifier: 'amp' }],
    zoneLeadMs: 50,
    tailMs: 100,
  },
  audio: { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false } },
  clock: { trustWithoutSync: true },
  log: { level: 'warn' },
}));

t.test('the loa command against a running daemon, and a kill -9 on air', async (t) => {
  let daemon = await startDaemon(configPath);
  t.teardown(() => { daemon.kill('SIGKILL'); });

  const status = await loa('--config', configPath, 'status');
  t.equal(status.code, 0);
  t.match(status.out, /Đài: daemon-test/, 'Vietnamese by the station locale');
  t.match((await loa('--config', configPath, '--lang', 'en', 'status')).out, /Station: daemon-test/, 'English on request');

  const tone = await makeTestTone(join(dir, 'bulletin.wav'), 'ffmpeg', { durationMs: 1500 });
  const imported = await loa('--config', configPath, '--json', 'cache', 'import', tone);
  t.equal(imported.code, 0, imported.err);
  const sha = (JSON.parse(imported.out) as { sha256: string }).sha256;
  t.match((await loa('--config', configPath, 'cache', 'ls')).out, new RegExp(sha.slice(0, 12)));

  // A schedule with a mistake is rejected whole, with the field named.
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ programmes: [{ id: 'x', name: 'X', recurrence: { kind: 'daily', time: '25:00' }, items: [{ content: sha }], zones: ['north'] }] }));
  const rejected = await loa('--config', configPath, 'schedule', 'import', bad);
  t.equal(rejected.code, 1);
  t.match(rejected.err, /programmes\.0\.recurrence\.time/);

  const start = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ seconds: 2 }).startOf('second');
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ programmes: [{
    id: 'news', name: 'Bản tin', recurrence: { kind: 'once', date: start.toISODate(), time: start.toFormat('HH:mm:ss') },
    items: [{ content: sha, repeat: 4 }], zones: ['north'],
  }] }));
  const ok = await loa('--config', configPath, 'schedule', 'import', good);
  t.equal(ok.code, 0, ok.err);
  t.match((await loa('--config', configPath, '--lang', 'en', 'schedule')).out, /scheduled .* Bản tin/);

  // Wait until the first item has played and the second is on air, then pull the plug.
  for (let i = 0; i < 200; i++) {
    const log = JSON.parse((await loa('--config', configPath, '--json', 'log')).out) as { rows: unknown[] };
    if (log.rows.length >= 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  daemon.kill('SIGKILL');
  await new Promise((r) => daemon.once('exit', r));
  const pins = JSON.parse(readFileSync(simStatePath(join(dir, 'state')), 'utf8')) as { levels: Record<string, number> };
  t.ok(Object.values(pins.levels).includes(0), 'relays were left on by the dead agent (active-low 0 = on), as real pins are');

  const off = await loa('--config', configPath, 'safe-off');
  t.equal(off.code, 0, off.err);
  const after = JSON.parse(readFileSync(simStatePath(join(dir, 'state')), 'utf8')) as { levels: Record<string, number> };
  t.same(Object.values(after.levels), [1, 1, 1], 'safe-off (systemd ExecStopPost) turns every relay off');

  daemon = await startDaemon(configPath);
  for (let i = 0; i < 300; i++) {
    const s = JSON.parse((await loa('--config', configPath, '--json', 'schedule')).out) as { occurrences: Array<{ state: string }> };
    if (s.occurrences[0]?.state === 'done') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rows = (JSON.parse((await loa('--config', configPath, '--json', 'log')).out) as { rows: Array<{ result: string; reason?: string }> }).rows;
  t.equal(rows[0]!.result, 'played', 'the row written before the crash survived');
  t.equal(rows[1]!.result, 'interrupted');
  t.match(rows[1]!.reason, /crash or power loss/);
  t.same(rows.slice(2).map((r) => r.result), ['played', 'played', 'played'], 'the programme resumed from the cut item after restart');

  // Operator commands.
  const play = await loa('--config', configPath, '--lang', 'en', 'play', sha.slice(0, 12), '--class', 'emergency');
  t.equal(play.code, 0, play.err);
  t.match(play.out, /accepted \(emergency\)/);
  t.match((await loa('--config', configPath, 'play', sha, '--zones', 'nowhere')).err, /Đài không có cụm loa nowhere\. Các cụm loa của đài: north, south/);
  t.equal((await loa('--config', configPath, 'relay', 'north', 'on')).code, 1, 'no manual relay switching while on air');
  for (let i = 0; i < 150; i++) {
    const st = JSON.parse((await loa('--config', configPath, '--json', 'status')).out) as { playing: unknown };
    if (st.playing === null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500)); // the relay tail
  const relay = await loa('--config', configPath, '--lang', 'en', 'relay', 'north', 'on');
  t.equal(relay.code, 0, relay.err);
  t.match(relay.out, /north\s+zone\s+ON/);
  t.equal((await loa('--config', configPath, 'relay', 'north', 'off')).code, 0);
  t.equal((await loa('--config', configPath, 'nonsense')).code, 2);
  const verify = await loa('--config', configPath, '--lang', 'en', 'cache', 'verify');
  t.equal(verify.code, 0, verify.err);
  t.match(verify.out, /All \d+ files intact/);
  const toneRequest = JSON.parse((await loa('--config', configPath, '--json', 'test-tone', '--zones', 'south')).out) as { id: string };
  for (let i = 0; i < 100; i++) {
    const log = JSON.parse((await loa('--config', configPath, '--json', 'log')).out) as { rows: Array<{ requestId?: string; result: string; zones: string[] }> };
    const row = log.rows.find((r) => r.requestId === toneRequest.id);
    if (row) {
      t.equal(row.result, 'played', 'the test tone played');
      t.same(row.zones, ['south']);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const doctor = await loa('--config', configPath, '--lang', 'en', 'doctor');
  t.match(doctor.out, /\[OK\s*\] ffmpeg/);
  t.match(doctor.out, /\[OK\s*\] database/);
  t.match(doctor.out, /\[OK\s*\] agent/);

  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  t.equal((await loa('--config', configPath, 'status')).code, 3, 'a stopped daemon is reported, with what to do');
  t.ok(existsSync(join(dir, 'state', 'loa.db')));
});

t.test('a bad configuration file is refused with the field and the fix', async (t) => {
  const badPath = join(dir, 'bad-config.json');
  writeFileSync(badPath, JSON.stringify({ station: { id: 'x', timezone: 'Mars/Olympus' }, relays: { zones: [{ name: 'a', line: 5, amplifier: 'nope' }] } }));
  const child = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', badPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 78, 'EX_CONFIG');
  t.match(err, /relays\.zones\.0\.amplifier: no amplifier named "nope"/);
  const doctor = await loa('--config', badPath, '--lang', 'en', 'doctor');
  t.equal(doctor.code, 1);
  t.match(doctor.out, /FAIL/);
});

t.test('loa doctor checks the board: fonts, kiosk programs, the CEC adapter', async (t) => {
  const path = join(dir, 'board-config.json');
  writeFileSync(path, JSON.stringify({
    station: { id: 'board-doctor' },
    paths: { state: join(dir, 'board-state'), socket: join(dir, 'board.sock') },
    board: { kiosk: {}, display: { driver: 'cec-ctl', device: join(dir, 'no-cec0') } },
  }));
  const doctor = await loa('--config', path, '--lang', 'en', 'doctor');
  t.match(doctor.out, /\[OK\s*\] board\s+http:\/\/127\.0\.0\.1:8090\//, 'the Vietnamese fonts are installed');
  // The doctor wraps at 80 columns: its continuation lines are indented.
  t.match(doctor.out.replace(/\n {11,}/g, ' '), /\[WARN\s*\] display\s+no CEC adapter .*no-cec0: the screen is only blanked/);
  t.match(doctor.out, /vc4-kms-v3d/, 'with what to do');
});
