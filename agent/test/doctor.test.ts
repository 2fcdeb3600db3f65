import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loa, simStationConfig, startDaemon, stopDaemon } from './daemon-fixture.js';
import { parseThrottled, throttleFindings, parseMmcliKeys, modemFinding, modemPaths } from '../src/doctor/host.js';
import { evaluateHealth, healthTransitions, type HealthAlarm } from '../src/health/thresholds.js';
import { HEALTH_DEFAULTS } from '../src/health/config.js';
import { wrap } from '../src/cli/doctor.js';
import { simJournalPath } from '../src/relays/sim-driver.js';

interface Doc {
  checks: Array<{ name: string; code: string; status: string; detail: string; fix?: string; text: { vi: string; en: string }; action: { vi: string; en: string } }>;
  summary: Record<string, number>;
  exitCode: number;
}

const dir = mkdtempSync(join(tmpdir(), 'loa-doctor-'));
const codes = (d: Doc): string[] => d.checks.map((c) => c.code);
const byCode = (d: Doc, code: string): Doc['checks'][number] | undefined => d.checks.find((c) => c.code === code);

/** Every finding has a status, a code and what to do in both languages; the document is the whole of stdout. */
function wellFormed(t: { ok: (v: unknown, m: string) => void; match: (v: string, r: RegExp, m: string) => void }, out: string): Doc {
  const doc = JSON.parse(out) as Doc;
  for (const c of doc.checks) {
    t.ok(['ok', 'warn', 'fail', 'skip'].includes(c.status), `${c.code}: status ${c.status}`);
    t.match(c.code, /^[a-z0-9-]+\.[a-z0-9.-]+$/, `${c.code}: a code`);
    t.ok(c.text.vi && c.text.en && c.action.vi && c.action.en, `${c.code}: what was found and what to do, vi and en`);
  }
  return doc;
}

function longLines(text: string): string[] {
  return text.split('\n').filter((l) => [...l].length > 80);
}

t.test('the tools\' outputs, as data', async (t) => {
  t.equal(parseThrottled('throttled=0x50005\n'), 0x50005);
  t.equal(parseThrottled('throttled=0x0\n'), 0);
  t.equal(parseThrottled('error=1 error_msg="Command not registered"'), null);
  t.same(throttleFindings(0x50005).map((f) => [f.code, f.status]), [['power.under-voltage', 'fail']], 'under-voltage now');
  t.same(throttleFindings(0x50000).map((f) => [f.code, f.status]), [['power.under-voltage-occurred', 'warn']], 'under-voltage since boot');
  t.same(throttleFindings(0x4).map((f) => f.code), ['power.throttled']);
  t.same(throttleFindings(0).map((f) => f.status), ['ok']);
  t.same(modemPaths('modem-list.length : 1\nmodem-list.value[1] : /org/freedesktop/ModemManager1/Modem/0\n'), ['/org/freedesktop/ModemManager1/Modem/0']);
  const keys = parseMmcliKeys('modem.generic.state                             : registered\nmodem.generic.signal-quality.value              : 12\nmodem.generic.access-technologies.value[1]      : lte\nmodem.3gpp.operator-name                        : Viettel\n');
  const weak = modemFinding('/org/freedesktop/ModemManager1/Modem/0', keys);
  t.equal(weak.code, 'mobile.weak-signal');
  t.match(weak.text.en, /modem 0: weak signal 12 % \(lte, Viettel\)/);
  keys.set('modem.generic.signal-quality.value', '67');
  t.equal(modemFinding('/x/0', keys).code, 'mobile.ok');
  t.equal(modemFinding('/x/0', parseMmcliKeys('modem.generic.state : failed\nmodem.generic.state-failed-reason : sim-missing\n')).code, 'mobile.failed');
  for (const l of wrap('a '.repeat(100) + 'x'.repeat(200), '[FAIL ] storage    ', ' '.repeat(19))) t.ok(l.length <= 80, 'wrapped within 80 columns');
});

t.test('health thresholds and transitions, as data', async (t) => {
  const r = (volt: number, extra: Partial<Parameters<typeof evaluateHealth>[0]> = {}): Parameters<typeof evaluateHealth>[0] => ({ faults: [], analog: [{ kind: 'current', milli: 1800 }, { kind: 'temperature', milli: 34_500 }, { kind: 'voltage', milli: volt }], inputs: {}, ...extra });
  t.same(evaluateHealth(r(12_100)), [], 'a healthy station: no alarm');
  t.same(evaluateHealth(r(10_900)).map((a) => a.id), ['supply-low'], 'below 11 V');
  t.same(evaluateHealth(r(11_200), HEALTH_DEFAULTS, new Set(['supply-low'])).map((a) => a.id), ['supply-low'], 'held inside the hysteresis (3 %: until 11.33 V)');
  t.same(evaluateHealth(r(11_400), HEALTH_DEFAULTS, new Set(['supply-low'])), [], 'cleared past it');
  t.same(evaluateHealth(r(12_000, { faults: ['amp-overtemp'], inputs: { door: 1, 'amp-fault': 1 } })).map((a) => [a.id, a.severity]), [['mcu-fault.amp-overtemp', 'error'], ['door-open', 'warn'], ['amp-fault-input', 'error']]);
  t.same(evaluateHealth({ ...r(12_000), analog: [{ kind: 'current', milli: 3600 }, { kind: 'temperature', milli: 71_000 }] }).map((a) => a.id), ['amp-current-high', 'amp-temp-high']);
  t.same(evaluateHealth({ ...r(12_000), underVoltage: true }).map((a) => a.id), ['under-voltage']);
  t.same(evaluateHealth(r(12_000), { ...HEALTH_DEFAULTS, supplyMinV: 12.5 }).map((a) => a.id), ['supply-low'], 'thresholds are configurable');
  const low = evaluateHealth(r(10_900));
  const prev = new Map<string, HealthAlarm>(low.map((a) => [a.id, a]));
  t.same(healthTransitions(new Map(), low), { raised: low, cleared: [] });
  t.same(healthTransitions(prev, evaluateHealth(r(10_800), HEALTH_DEFAULTS, new Set(prev.keys()))), { raised: [], cleared: [] }, 'a repeat is no transition');
  t.same(healthTransitions(prev, []), { raised: [], cleared: ['supply-low'] });
});

t.test('no configuration, no agent: exit 1, the findings, one JSON document on stdout', async (t) => {
  const missing = join(dir, 'none', 'config.json');
  const env = { LOA_SOCKET: join(dir, 'none.sock') };
  Object.assign(process.env, env);
  t.teardown(() => delete process.env.LOA_SOCKET);
  const r = await loa('--config', missing, '--json', 'doctor');
  t.equal(r.code, 1);
  const doc = wellFormed(t, r.out);
  t.equal(doc.exitCode, 1);
  t.equal(doc.checks[0]!.code, 'config.missing');
  t.match(doc.checks[0]!.text.en, missing);
  t.match(doc.checks[0]!.action.vi, /loa provision/);
  t.equal(byCode(doc, 'agent.not-running')?.status, 'warn', 'the agent is reported, not skipped');
  for (const c of ['storage', 'power', 'network', 'mobile', 'clock']) t.ok(doc.checks.some((x) => x.name === c), `${c} is still checked without a configuration`);
  t.equal(byCode(doc, 'relays.no-config')?.status, 'skip');
  const human = await loa('--config', missing, '--lang', 'vi', 'doctor');
  t.equal(human.code, 1);
  t.match(human.out, /\[LỖI {2}\] config\s+không có tệp cấu hình/);
  t.same(longLines(human.out), [], 'every line within 80 columns');
});

t.test('a wrong field is named; --json holds even for a refused command line', async (t) => {
  process.env.LOA_SOCKET = join(dir, 'none.sock');
  t.teardown(() => delete process.env.LOA_SOCKET);
  const path = join(dir, 'wrong.json');
  writeFileSync(path, JSON.stringify({ station: { id: 'wrong' }, schedule: { emergencyVolume: 900 } }));
  const r = await loa('--config', path, '--json', 'doctor');
  t.equal(r.code, 1);
  const doc = wellFormed(t, r.out);
  const bad = byCode(doc, 'config.invalid-field')!;
  t.match(bad.text.en, /^schedule\.emergencyVolume: /);
  t.match(bad.action.en, /fix the field schedule\.emergencyVolume in /);
  const args = await loa('--json', 'doctor', '--no-such-option');
  t.equal(args.code, 2);
  t.match(JSON.parse(args.out), { error: { code: 'unknown-option' } });
});

t.test('agent down, fake sysfs and tools: ext4 errors, under-voltage, mobile signal', async (t) => {
  const sys = join(dir, 'sys');
  mkdirSync(join(sys, 'fs/ext4/mmcblk0p2'), { recursive: true });
  writeFileSync(join(sys, 'fs/ext4/mmcblk0p2/errors_count'), '3\n');
  writeFileSync(join(sys, 'fs/ext4/mmcblk0p2/last_error_time'), '1764633600\n');
  mkdirSync(join(sys, 'fs/ext4/sda1'), { recursive: true });
  writeFileSync(join(sys, 'fs/ext4/sda1/errors_count'), '0\n');
  mkdirSync(join(sys, 'class/net/eth0'), { recursive: true });
  writeFileSync(join(sys, 'class/net/eth0/operstate'), 'down\n');
  mkdirSync(join(sys, 'class/net/wwan0'), { recursive: true });
  writeFileSync(join(sys, 'class/net/wwan0/operstate'), 'up\n');
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'vcgencmd'), '#!/bin/sh\n[ "$1" = get_throttled ] && echo "throttled=0x50005" && exit 0\nexit 1\n');
  writeFileSync(
    join(bin, 'mmcli'),
    `#!/bin/sh
case "$*" in
  "-L -K") printf 'modem-list.length : 1\\nmodem-list.value[1] : /org/freedesktop/ModemManager1/Modem/0\\n' ;;
  "-K -m /org/freedesktop/ModemManager1/Modem/0") printf 'modem.generic.state                        : connected\\nmodem.generic.signal-quality.value         : 9\\nmodem.generic.access-technologies.value[1] : lte\\nmodem.3gpp.operator-name                   : Viettel\\n' ;;
  *) exit 1 ;;
esac
`,
  );
  chmodSync(join(bin, 'vcgencmd'), 0o755);
  chmodSync(join(bin, 'mmcli'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  process.env.LOA_SYSFS = sys;
  t.teardown(() => {
    process.env.PATH = path;
    delete process.env.LOA_SYSFS;
  });
  const configPath = join(dir, 'down.json');
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'doc-down', dir: join(dir, 'down'), sink: join(dir, 'down.raw') })));
  const r = await loa('--config', configPath, '--json', 'doctor');
  t.equal(r.code, 1);
  const doc = wellFormed(t, r.out);
  const ext4 = byCode(doc, 'storage.ext4-errors')!;
  t.equal(ext4.status, 'fail');
  t.match(ext4.text.en, /ext4 mmcblk0p2: 3 filesystem error\(s\) \(last 2025-12-02T00:00:00.000Z\)/);
  t.match(ext4.action.vi, /thay thẻ nhớ mmcblk0p2/);
  t.equal(doc.checks.filter((c) => c.code === 'storage.ext4-errors').length, 1, 'the healthy sda1 is not reported');
  t.equal(byCode(doc, 'storage.write-ok')?.status ?? byCode(doc, 'storage.state-missing')?.status, byCode(doc, 'storage.write-ok') ? 'ok' : 'warn');
  t.equal(byCode(doc, 'power.under-voltage')?.status, 'fail');
  t.match(byCode(doc, 'power.under-voltage')!.text.en, /throttled=0x50005/);
  t.equal(byCode(doc, 'mobile.weak-signal')?.status, 'warn');
  t.match(byCode(doc, 'mobile.weak-signal')!.text.en, /signal 9 %/);
  t.match(byCode(doc, 'network.ok')!.text.en, /eth0:down wwan0:up/);
  t.equal(byCode(doc, 'agent.not-running')?.status, 'warn');
  t.equal(byCode(doc, 'relays.not-tested')?.status, 'skip', 'no click unless asked');
  t.equal(byCode(doc, 'broker.no-sync')?.status, 'skip');

  // With the agent down the doctor clicks the relays itself, through the same driver.
  const clicked = wellFormed(t, (await loa('--config', configPath, '--json', 'doctor', '--click')).out);
  t.same(clicked.checks.filter((c) => c.code === 'relays.click-ok').map((c) => c.detail.split(':')[0]), ['amp', 'north']);
  const journal = readFileSync(simJournalPath(join(dir, 'down', 'state')), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { name: string; level: number });
  const amp = journal.filter((j) => j.name === 'amp').map((j) => j.level).slice(-2);
  t.ok(amp.length === 2 && amp[0] !== amp[1], 'the amplifier relay went on, then off, in the relay journal');
  const human = await loa('--config', configPath, '--lang', 'en', 'doctor');
  t.match(human.out, /\[FAIL \] storage\s+ext4 mmcblk0p2: 3 filesystem error\(s\)/);
  t.same(longLines(human.out), [], 'every line within 80 columns');
});

t.test('agent up (the real daemon): its state, and a click goes through its conductor queue', async (t) => {
  const configPath = join(dir, 'up.json');
  const stationDir = join(dir, 'up');
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'doc-up', dir: stationDir, sink: join(dir, 'up.raw') })));
  const d = await startDaemon(configPath);
  t.teardown(() => stopDaemon(d));
  const doc = wellFormed(t, (await loa('--config', configPath, '--json', 'doctor')).out);
  const agent = byCode(doc, 'agent.running')!;
  t.equal(agent.status, 'ok');
  t.match(agent.text.en, /agent running \(version .+, up .+, nothing on air\)/);
  t.same(doc.checks.filter((c) => c.code === 'relays.state').map((c) => c.text.en), ['amp (line 17): off', 'north (line 22): off'], 'states from the agent');
  t.equal(byCode(doc, 'clock.trusted')?.status, 'ok');
  const before = readFileSync(simJournalPath(join(stationDir, 'state')), 'utf8').trim().split('\n').length;
  const clicked = wellFormed(t, (await loa('--config', configPath, '--json', 'doctor', '--click')).out);
  t.same(clicked.checks.filter((c) => c.code === 'relays.click-ok').map((c) => c.detail.split(':')[0]), ['amp', 'north']);
  const after = readFileSync(simJournalPath(join(stationDir, 'state')), 'utf8').trim().split('\n').slice(before).map((l) => JSON.parse(l) as { name: string; level: number });
  t.same(after.map((j) => j.name), ['amp', 'amp', 'north', 'north'], 'the agent switched them, one after the other');
  t.ok(after[0]!.level !== after[1]!.level && after[2]!.level !== after[3]!.level, 'each on, then back off');
  t.same(codes(clicked).filter((c) => c.startsWith('agent.')), ['agent.running']);
});
