/**
 * Every unit in systemd/ must pass `systemd-analyze verify` (systemd 252,
 * Debian 12) with no output at all: verify prints warnings for unknown keys
 * and bad values but still exits 0. Verify works without systemd as PID 1
 * (as here); it checks syntax, values and that the ExecStart= binary
 * exists, so each unit is checked on a copy whose /opt/loa prefix points at
 * a temp install with the two entry scripts present and whose node is this
 * node. Deliberately broken copies prove that the check catches mistakes.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const unitsDir = join(import.meta.dirname, '../../systemd');
const units = readdirSync(unitsDir).filter((f) => /\.(service|timer|socket|path)$/.test(f));

/** A temp install: /opt/loa/bin/{loa,loa-agent}.js exist; returns the unit text rewritten to it. */
function installCopy(text: string): { dir: string; unit: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loa-units-'));
  mkdirSync(join(dir, 'opt/loa/bin'), { recursive: true });
  for (const f of ['loa.js', 'loa-agent.js']) writeFileSync(join(dir, 'opt/loa/bin', f), '');
  return { dir, unit: text.replaceAll('/opt/loa/', `${dir}/opt/loa/`).replaceAll('/usr/bin/node ', `${process.execPath} `) };
}

function verify(dir: string, name: string, unit: string): string {
  const path = join(dir, name);
  writeFileSync(path, unit);
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : `\n(exit ${r.status})`);
}

t.ok(units.includes('loa-agent.service'));

for (const name of units) {
  t.test(`${name} verifies with no output`, async (t) => {
    const { dir, unit } = installCopy(readFileSync(join(unitsDir, name), 'utf8'));
    t.equal(verify(dir, name, unit), '');
  });
}

t.test('the check catches a misspelt key, a bad value and a missing binary', async (t) => {
  const { dir, unit } = installCopy(readFileSync(join(unitsDir, 'loa-agent.service'), 'utf8'));
  const broken: Array<[string, string, RegExp]> = [
    ['NoNewPrivileges=yes', 'NoNewPrivilege=yes', /Unknown key 'NoNewPrivilege'/],
    ['ProtectSystem=strict', 'ProtectSystem=strictest', /Failed to parse protect system value/],
    ['WatchdogSec=30', 'WatchdogSec=thirty', /Failed to parse sec value/],
    ['DeviceAllow=char-alsa rw', 'DeviceAllow=char-alsa rwz', /Invalid device rights 'rwz'/],
    [`${process.execPath} `, '/usr/bin/no-such-node ', /Command \/usr\/bin\/no-such-node is not executable/],
  ];
  for (const [from, to, expect] of broken) {
    t.ok(unit.includes(from), `the unit has ${from}`);
    t.match(verify(dir, 'loa-agent.service', unit.replace(from, to)), expect, `${to} is caught`);
  }
});

t.test('loa-agent.service keeps its supervision and hardening', async (t) => {
  const text = readFileSync(join(unitsDir, 'loa-agent.service'), 'utf8');
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (k: string): string | undefined => keys.get(k)?.[0];
  t.equal(one('Type'), 'notify');
  t.equal(one('NotifyAccess'), 'all', 'systemd-notify runs as a child of the agent');
  t.equal(one('WatchdogSec'), '30');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('ExecStart'), '/usr/bin/node /opt/loa/bin/loa-agent.js --config /etc/loa/config.json');
  t.equal(one('ExecStopPost'), '/usr/bin/node /opt/loa/bin/loa.js safe-off --config /etc/loa/config.json');
  t.equal(one('User'), 'loa');
  t.same(one('SupplementaryGroups')?.split(' '), ['gpio', 'audio', 'dialout']);
  t.notOk(keys.has('PrivateDevices'), 'PrivateDevices would hide GPIO, sound and serial devices');
  t.notOk(keys.has('MemoryDenyWriteExecute'), "V8's JIT needs it off");
  t.notOk(/network-online|time-sync/.test(one('After') ?? ''), 'an offline station still starts');
  t.same(keys.get('DeviceAllow'), ['char-alsa rw', 'char-gpiochip rw', 'char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyAMA rw', 'char-ttyS rw']);

  // systemd's own exposure score (0 best, 10 worst), from the file alone.
  const { dir, unit } = installCopy(text);
  writeFileSync(join(dir, 'loa-agent.service'), unit);
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=25', join(dir, 'loa-agent.service')], { encoding: 'utf8' });
  t.equal(r.status, 0, `exposure at most 2.5: ${/Overall exposure level[^\n]*/.exec(r.stdout)?.[0]}`);
});
