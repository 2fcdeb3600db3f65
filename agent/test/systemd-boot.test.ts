/**
 * The units under systemd as PID 1: a Debian 12 root (debian-root-fixture)
 * booted with systemd-nspawn, the shipped units installed and enabled, and
 * what each process may do read from inside, where systemd applied it.
 *
 * The agent is a stand-in (bin/loa-agent.js below): it tells systemd it is
 * ready, tries the devices and the clock the way the agent would, and hands
 * an RTC reading over with the real code (agent/src/clock/rtc-handover.ts,
 * transpiled), which loa-clock-set.path and loa-clock-set.service (the
 * shipped bin/loa-clock-set.js) answer. The container shares the host's
 * wall clock, so `date` is replaced by a recorder (/usr/local/bin comes
 * first in systemd's PATH); that CAP_SYS_TIME really works is proved without
 * changing the time: settimeofday(NULL, timezone of +16 h) fails with EPERM
 * without the capability and with EINVAL (range) with it, and sets nothing.
 * The kiosk browser itself cannot run in this root (no cage or Chromium):
 * its socket's permissions are checked here, its command in
 * systemd-units.test.ts.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshDebianRoot } from './debian-root-fixture.js';
import { bootContainer } from './nspawn-fixture.js';
import { REPO, transpile } from './transpile-fixture.js';

const FAKE_AGENT = `#!/usr/bin/env node
// Stand-in for the agent: the unit's view of devices, capabilities and the RTC handover.
import { spawnSync, execFileSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
const tryOpen = (p) => { try { closeSync(openSync(p, 'r+')); return 'opened'; } catch (e) { return e.code; } };
const probe = { cec: tryOpen('/dev/cec0'), serial: tryOpen('/dev/ttyS9') };
probe.privileges = execFileSync('/usr/bin/perl', ['/opt/loa/current/privilege-probe.pl', '-'], { encoding: 'utf8' }).trim();
const { setClockThroughHelper } = await import('../dist/agent/src/clock/rtc-handover.js');
const hand = (ms, o) => setClockThroughHelper(ms, o).then(() => 'set', (e) => e.message);
// One read 61 s ago (stale), then an hour ahead (applied, once), then a second reading (refused: once per boot).
probe.stale = await hand(Date.now() - 61_000, { monoNs: () => process.hrtime.bigint() - 61_000_000_000n });
probe.handovers = [await hand(Date.now() + 3_600_000), await hand(Date.now() + 7_200_000)];
writeFileSync('/run/loa/probe.json', JSON.stringify(probe));
spawnSync('systemd-notify', ['--ready']);
setInterval(() => spawnSync('systemd-notify', ['WATCHDOG=1']), 10_000);
`;

// Effective capabilities, then settimeofday(NULL, {16 h west}): EPERM (1) without CAP_SYS_TIME, EINVAL (22) with it.
const PRIVILEGE_PROBE = `open(my $s, '<', '/proc/self/status') or die; my ($eff) = grep { /^CapEff/ } <$s>; chomp $eff; $eff =~ s/:\\s+/=/;
my $tz = pack('ii', 960, 0); syscall(164, 0, $tz); my $errno = $! + 0;
if ($ARGV[0] eq '-') { print "$eff settimeofday=$errno\\n" } else { open(my $o, '>', $ARGV[0]) or die; print $o "$eff settimeofday=$errno\\n" }
`;

// Records what the helper asked, instead of setting the machine's clock.
const FAKE_DATE = `#!/bin/sh
echo "$*" >> /run/loa-clock-set/date-calls
`;

const CAP_SYS_TIME = (1n << 25n).toString(16).padStart(16, '0');

t.test('the units booted with systemd 252: the agent, the RTC helper and the kiosk socket with the privileges each needs and no more', async (t) => {
  const root = await freshDebianRoot(t);
  const chroot = (...argv: string[]): string => execFileSync('chroot', [root, ...argv], { encoding: 'utf8' });
  // What the installer does (provisioning/install.sh): users, groups, the release, the units enabled.
  chroot('groupadd', '--system', 'gpio');
  for (const user of ['loa', 'loa-board', 'loa-clock']) chroot('useradd', '--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', user);
  const release = join(root, 'opt/loa/releases/test');
  mkdirSync(join(release, 'bin'), { recursive: true });
  mkdirSync(join(release, 'node_modules'));
  copyFileSync(join(REPO, 'bin/loa-clock-set.js'), join(release, 'bin/loa-clock-set.js'));
  // The units run the scripts themselves (their #! finds loa's Node on PATH).
  writeFileSync(join(release, 'bin/loa-agent.js'), FAKE_AGENT, { mode: 0o755 });
  writeFileSync(join(release, 'bin/loa.js'), '#!/bin/sh\n', { mode: 0o755 }); // ExecStopPost's safe-off: nothing to switch here
  writeFileSync(join(release, 'privilege-probe.pl'), PRIVILEGE_PROBE);
  transpile(['agent/src/clock/rtc-handover.ts', 'agent/src/lib/logger.ts'], join(release, 'dist'));
  symlinkSync('releases/test', join(root, 'opt/loa/current'));
  symlinkSync('current/bin', join(root, 'opt/loa/bin')); // for a unit still naming the layout before /opt/loa/current
  writeFileSync(join(root, 'usr/local/bin/date'), FAKE_DATE, { mode: 0o755 });

  const unitDir = join(root, 'etc/systemd/system');
  for (const f of readdirSync(join(REPO, 'systemd')).filter((f) => /\.(service|socket|path)$/.test(f))) copyFileSync(join(REPO, 'systemd', f), join(unitDir, f));
  for (const [target, unit] of [['multi-user.target', 'loa-agent.service'], ['paths.target', 'loa-clock-set.path'], ['sockets.target', 'loa-board.socket']] as const) {
    mkdirSync(join(unitDir, `${target}.wants`), { recursive: true });
    symlinkSync(`../${unit}`, join(unitDir, `${target}.wants`, unit));
  }
  symlinkSync('/dev/null', join(unitDir, 'getty@tty1.service')); // the /dev/tty0 given for loa-board.socket is no terminal
  // Test only: the helper's privileges, read by a process it starts with exactly its own (same unit, same credentials).
  mkdirSync(join(unitDir, 'loa-clock-set.service.d'));
  writeFileSync(join(unitDir, 'loa-clock-set.service.d/privilege-probe.conf'), '[Service]\nExecStartPre=/usr/bin/perl /opt/loa/current/privilege-probe.pl /run/loa-clock-set/privileges\n');

  // Devices: a CEC adapter (the kernel's cec major where it has one), a serial port (ttyS, major 4) that no driver answers, group video / dialout as udev makes them.
  const cecMajor = /^\s*(\d+) cec$/m.exec(readFileSync('/proc/devices', 'utf8'))?.[1];
  const devices = join(root, 'opt/loa/test-devices');
  mkdirSync(devices);
  const gid = (group: string): number => Number(chroot('getent', 'group', group).split(':')[2]);
  execFileSync('mknod', [join(devices, 'cec0'), 'c', cecMajor ?? '240', '0']);
  execFileSync('mknod', [join(devices, 'ttyS9'), 'c', '4', '73']);
  chownSync(join(devices, 'cec0'), 0, gid('video'));
  chownSync(join(devices, 'ttyS9'), 0, gid('dialout'));
  for (const d of ['cec0', 'ttyS9']) chmodSync(join(devices, d), 0o660);

  const c = await bootContainer(t, root, {
    bind: [`${join(devices, 'cec0')}:/dev/cec0`, `${join(devices, 'ttyS9')}:/dev/ttyS9`, '/dev/null:/dev/tty0'],
    // Its systemd may hand CAP_SYS_TIME on (a station's has it); `date` is the recorder above.
    capabilities: ['CAP_SYS_TIME'],
    // Device policy is a BPF program: the container's systemd may load one.
    devicePolicy: true,
    bindRo: [`${process.execPath}:/usr/bin/node`, `${join(REPO, 'node_modules')}:/opt/loa/releases/test/node_modules`],
  });
  const sh = (cmd: string): string => c.exec(['sh', '-c', cmd]).out.trim();
  const show = (unit: string, prop: string): string => c.exec(['systemctl', 'show', '--value', '-p', prop, unit]).out.trim();
  const diagnosis = (): Record<string, string> => ({
    status: sh('systemctl status --no-pager loa-agent.service loa-clock-set.service loa-clock-set.path loa-board.socket 2>&1 | tail -60'),
    journal: sh('journalctl --no-pager -n 40 2>&1'),
  });

  t.equal(show('loa-agent.service', 'ActiveState'), 'active', 'the agent unit is active: it started as user loa and signalled READY', diagnosis());
  const probe = JSON.parse(sh('cat /run/loa/probe.json') || '{}') as { cec: string; serial: string; privileges: string; handovers: string[]; stale: string };

  // CEC: the group and the device rule.
  const agentPid = show('loa-agent.service', 'MainPID');
  const groups = sh(`grep ^Groups: /proc/${agentPid}/status`).split(/\s+/).slice(1).map(Number);
  t.ok(groups.includes(gid('video')), `the agent is in group video (${groups.join(' ')})`);
  t.match(show('loa-agent.service', 'DeviceAllow'), /char-cec rw/, 'systemd took the CEC device rule');
  t.equal(show('loa-agent.service', 'DevicePolicy'), 'closed');
  t.equal(probe.serial, 'ENXIO', 'a device of an allowed class passes the device policy and the file permissions (no driver answers: ENXIO)');
  if (cecMajor) t.equal(probe.cec, 'ENXIO', 'so does /dev/cec0 on this kernel\'s cec major');
  else t.equal(probe.cec, 'EPERM', 'this kernel has no cec major (no CONFIG_CEC_CORE): char-cec matches nothing, and the policy refuses an unlisted device', diagnosis());

  // The clock: the agent may not set it, the helper may and does, within its bounds.
  t.equal(probe.privileges, `CapEff=${'0'.repeat(16)} settimeofday=1`, 'the agent has no capability and may not set the clock (EPERM)');
  t.equal(sh('cat /run/loa-clock-set/privileges'), `CapEff=${CAP_SYS_TIME} settimeofday=22`, 'the helper has CAP_SYS_TIME and nothing else: the kernel let it past the permission check');
  t.equal(show('loa-clock-set.service', 'User'), 'loa-clock', 'not root');
  const ntp = sh('timedatectl show -p NTPSynchronized --value') === 'yes';
  const calls = sh('cat /run/loa-clock-set/date-calls 2>/dev/null').split('\n').filter(Boolean);
  if (ntp) {
    t.same(probe.handovers.map((m) => /: (\S+)$/.exec(m)?.[1]), ['ntp-synchronized', 'ntp-synchronized'], 'NTP holds this clock: the RTC is never used');
    t.same(calls, []);
  } else {
    t.equal(probe.handovers[0], 'set', 'the first reading set the clock; the agent got the answer');
    t.equal(calls.length, 1, 'date ran once');
    const asked = Number(/^-u -s @(\d+\.\d+)$/.exec(calls[0] ?? '')?.[1]) * 1000;
    t.ok(Math.abs(asked - (Date.now() + 3_600_000)) < 60_000, `to the reading, an hour ahead (${calls[0]})`);
    t.match(probe.handovers[1], /did not set the clock from the RTC: already-set-this-boot$/, 'a second reading in the same boot is refused');
  }
  t.match(probe.stale, /did not set the clock from the RTC: (stale|ntp-synchronized)$/, 'a reading a minute old is refused');
  t.match(sh('cat /run/loa-clock-set/result.json'), /"applied":false/, 'the last verdict is where the agent reads it');

  // The kiosk's DevTools socket: made by systemd for the kiosk user and group loa, nobody else.
  t.equal(sh('stat -c "%F %U %G %a" /run/loa-board-devtools.sock'), 'socket loa-board loa 660');
  const connectAs = (user: string, group = user): string => {
    const r = c.exec(['setpriv', `--reuid=${user}`, `--regid=${group}`, '--init-groups', '/usr/bin/node', '-e',
      "require('net').connect('/run/loa-board-devtools.sock').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); })"]);
    return r.out.trim() || `(exit ${r.code}) ${r.err.trim()}`;
  };
  t.equal(connectAs('loa'), 'connected', 'the agent\'s user connects');
  t.equal(connectAs('nobody', 'nogroup'), 'EACCES', 'another local user cannot');
});
