import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { checkConfig, formatFinding } from '../src/config/check.js';
import { loadConfig } from '../src/config/load.js';
import { makeTestTone } from '../src/audio/tones.js';
import { generateProvinceKeys } from '../src/sync/signing.js';

// The real daemon as systemd starts it: bin/loa-agent.js on the built dist/.
const agentBin = join(import.meta.dirname, '../../bin/loa-agent.js');

async function loa(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

function runAgent(configPath: string): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [agentBin, '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr }))) };
}

const dir = mkdtempSync(join(tmpdir(), 'loa-config-daemon-'));
const province = generateProvinceKeys().publicPem;
const stateFile = join(dir, 'a-file');
writeFileSync(stateFile, 'not a folder');

const station = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  station: { id: name },
  paths: { state: join(dir, name, 'state'), socket: join(dir, name, 'loa.sock') },
  relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 0 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }], zoneLeadMs: 0, tailMs: 0 },
  audio: { sink: { kind: 'file', path: join(dir, `${name}.raw`) }, chime: { enabled: false } },
  clock: { trustWithoutSync: true },
  log: { level: 'warn' },
  ...extra,
});
const sync = (over: Record<string, unknown>): Record<string, unknown> => ({ sync: { brokers: ['mqtt://127.0.0.1:1'], provinceKeys: [province], ...over } });

const mistakes: Array<[string, Record<string, unknown>, RegExp]> = [
  ['ca-folder', station('ca-folder', sync({ tls: { caFile: dir } })), /sync\.tls\.caFile: .* is a folder/],
  ['bad-key', station('bad-key', sync({ provinceKeys: ['dGhpcyBpcyBub3QgYSBrZXk='] })), /sync\.provinceKeys\.0: not an Ed25519 public key/],
  ['sink-folder', station('sink-folder', { audio: { sink: { kind: 'file', path: join(dir, 'missing', 'out.raw') } } }), /audio\.sink\.path: folder .*missing does not exist/],
  ['state-file', station('state-file', { paths: { state: stateFile, socket: join(dir, 'state-file.sock') } }), /paths\.state: .*a-file is a file, not a folder/],
];

for (const [name, doc, field] of mistakes) {
  t.test(`${name}: the daemon exits 78 naming the field, and loa doctor reports the same`, async (t) => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(doc));
    const { code, stderr } = await runAgent(path).exited;
    t.equal(code, 78, 'EX_CONFIG: systemd does not restart it (RestartPreventExitStatus=78)');
    t.match(stderr, field);

    const findings = checkConfig(loadConfig(path));
    t.equal(findings.length, 1, 'one mistake, one finding');
    for (const f of findings) t.ok(stderr.includes(formatFinding(f)), `the daemon names ${f.field} with the fix`);

    const doctor = await loa('--config', path, '--lang', 'en', 'doctor');
    t.equal(doctor.code, 1);
    // The doctor wraps at 80 columns: its continuation lines are indented.
    const unwrap = (s: string): string => s.replace(/\n {11,}/g, ' ');
    t.match(unwrap(doctor.out), /\[FAIL\s*\] config\s+.*the agent will not start \(1 problem\)/);
    for (const f of findings) {
      t.ok(unwrap(doctor.out).includes(`config     ${f.field}: ${f.problem.en}\n         → ${f.fix.en}`), `doctor shows ${f.field} the same way`);
    }
    const vi = await loa('--config', path, '--lang', 'vi', 'doctor');
    for (const f of findings) t.ok(unwrap(vi.out).includes(`${f.field}: ${f.problem.vi}`), 'and in Vietnamese');
  });
}

t.test('a misspelled configuration key stops the daemon with the nearest known key', async (t) => {
  const path = join(dir, 'typo.json');
  writeFileSync(path, JSON.stringify({ ...station('typo'), schedule: { emergencyVolum: 90 } }));
  const { code, stderr } = await runAgent(path).exited;
  t.equal(code, 78);
  t.match(stderr, /schedule: unknown key "emergencyVolum": did you mean "emergencyVolume"\?/);
  const doctor = await loa('--config', path, '--lang', 'en', 'doctor');
  t.equal(doctor.code, 1);
  t.match(doctor.out.replace(/\n {11,}/g, ' '), /\[FAIL\s*\] config\s+schedule: unknown key "emergencyVolum": did you mean "emergencyVolume"\?/);
  // systemd's ExecStopPost still switches every relay off with such a file (StateDirectory= exists).
  mkdirSync(join(dir, 'typo', 'state'), { recursive: true });
  const off = await loa('--config', path, '--json', 'safe-off');
  t.equal(off.code, 0);
  t.same((JSON.parse(off.out) as { outputs: string[] }).outputs.sort(), ['amp', 'north']);
});

t.test('with the real daemon: a misspelled programme key is refused; a quarantined file shows in status and doctor until healed', async (t) => {
  const path = join(dir, 'good.json');
  writeFileSync(path, JSON.stringify(station('good')));
  const agent = runAgent(path);
  t.teardown(() => void agent.child.kill('SIGKILL'));
  for (let i = 0; (await loa('--config', path, 'status', '--json')).code !== 0; i++) {
    if (i > 300 || agent.child.exitCode !== null) throw new Error(`daemon not ready: ${(await Promise.race([agent.exited, { stderr: '' }])).stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match((await loa('--config', path, '--lang', 'en', 'doctor')).out, /\[OK\s*\] config/);

  const tone = join(dir, 'tone.wav');
  await makeTestTone(tone, 'ffmpeg', { durationMs: 3000 });
  const imported = JSON.parse((await loa('--config', path, '--json', 'cache', 'import', tone, '--label', 'Bản tin sáng')).out) as { sha256: string };

  const scheduleFile = join(dir, 'schedule.json');
  const programme = { id: 'morning', name: 'Morning', items: [{ content: imported.sha256 }], zones: ['north'], recurrence: { kind: 'daily', time: '06:00', weekday: [1] } };
  writeFileSync(scheduleFile, JSON.stringify({ programmes: [programme] }));
  const refused = await loa('--config', path, '--lang', 'en', 'schedule', 'import', scheduleFile);
  t.equal(refused.code, 1, 'refused');
  t.match(refused.err, /programmes\.0\.recurrence:\s+unknown\s+key\s+"weekday":\s+did\s+you\s+mean\s+"weekdays"\?/);
  t.equal((await loa('--config', path, 'schedule')).code, 0);
  t.notMatch((await loa('--config', path, '--lang', 'en', 'schedule')).out, /Morning/, 'nothing of it was imported');

  // Bit rot on the SD card: the cached file no longer matches its hash.
  const cached = join(dir, 'good', 'state', 'content', imported.sha256.slice(0, 2), imported.sha256);
  const bytes = readFileSync(cached);
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
  writeFileSync(cached, bytes);
  t.equal((await loa('--config', path, 'cache', 'verify', imported.sha256)).code, 1, 'the run-time check quarantines it');

  const status = await loa('--config', path, '--lang', 'en', 'status');
  t.match(status.out, /Content that cannot play \(waiting to be fetched again\):\n {2}! content "Bản tin sáng" \([0-9a-f]{12}\) quarantined\s+\(corrupt\s+file\):\s+hash\s+mismatch/);
  t.match((await loa('--config', path, '--lang', 'vi', 'status')).out, /nội dung "Bản tin sáng" [\s\S]*bị\s+cách\s+ly\s+\(tệp\s+hỏng\)/);
  const doctor = await loa('--config', path, '--lang', 'en', 'doctor');
  t.equal(doctor.code, 1);
  t.match(doctor.out.replace(/\n {11,}/g, ' '), /\[FAIL\s*\] content\s+content "Bản tin sáng" \([0-9a-f]{12}\) quarantined \(corrupt file\)/);

  // Healed (here by importing the file again; the province's download takes the same path).
  t.equal((await loa('--config', path, 'cache', 'import', tone)).code, 0);
  t.notMatch((await loa('--config', path, '--lang', 'en', 'status')).out, /cannot play|quarantined/, 'gone from status once healed');
  t.notMatch((await loa('--config', path, '--lang', 'en', 'doctor')).out, /\] content/, 'and from doctor');

  agent.child.kill('SIGTERM');
  t.equal((await agent.exited).code, 0);
  t.match((await loa('--config', path, '--lang', 'en', 'doctor')).out, /\[WARN\s*\] agent/, 'doctor works with the agent stopped');
});
