/**
 * Every unit in systemd/ must pass `systemd-analyze verify` (systemd 252,
 * Debian 12) with no output at all: verify prints warnings for unknown keys
 * and bad values but still exits 0. Verify works without systemd as PID 1
 * (as here); it checks syntax, values and that the ExecStart= binary
 * exists, so each unit is checked on a copy whose /opt/loa prefix points at
 * a temp install with the two entry scripts present. Deliberately broken
 * copies prove that the check catches mistakes.
 *
 * The board's kiosk unit is also run: its exact command (cage, Debian's
 * Chromium and every flag) under cage's headless backend, as an
 * unprivileged user without new privileges or capabilities, like the unit.
 * Only what a machine without a seat cannot have is swapped: the headless
 * backend for the screen, temp folders for /run, free ports.
 */
import t from 'tap';
import { devtoolsRelay, listeningTcpPorts, processGroup, startSocketActivated } from './chromium-fixture.js';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { BoardConfigSchema } from '../src/config/schema.js';
import { BoardServer } from '../src/board/server.js';
import { DevtoolsClient } from '../src/board/devtools.js';
import { KioskWatch } from '../src/board/kiosk-watch.js';
import { relayProblem } from '../src/board/devtools-relay.js';
import { silentLogger } from '../src/lib/logger.js';

const unitsDir = join(import.meta.dirname, '../../systemd');
const units = readdirSync(unitsDir).filter((f) => /\.(service|timer|socket|path)$/.test(f));

/** A temp install where every /opt/loa script the unit names exists; returns the unit text rewritten to it. */
function installCopy(text: string, dir = mkdtempSync(join(tmpdir(), 'loa-units-'))): { dir: string; unit: string } {
  for (const script of text.match(/\/opt\/loa\/[\w/.-]+\.js/g) ?? []) {
    mkdirSync(dirname(join(dir, script)), { recursive: true });
    writeFileSync(join(dir, script), '', { mode: 0o755 });
  }
  return { dir, unit: text.replaceAll('/opt/loa/', `${dir}/opt/loa/`).replaceAll('/usr/bin/node ', `${process.execPath} `) };
}

/** Each key's values in order; `\` continuation lines joined. */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.replace(/\\\n\s*/g, ' ').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

function verify(dir: string, name: string, unit: string): string {
  const path = join(dir, name);
  writeFileSync(path, unit);
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : `\n(exit ${r.status})`);
}

t.ok(units.includes('loa-agent.service'));
t.ok(units.includes('loa-board.service'));

/** Every unit in one folder: a path or socket unit is verified with the service it starts, the agent with the path unit it wants. */
function installAll(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loa-units-'));
  for (const name of units) writeFileSync(join(dir, name), installCopy(readFileSync(join(unitsDir, name), 'utf8'), dir).unit);
  return dir;
}
const installed = installAll();
for (const name of units) {
  t.test(`${name} verifies with no output`, async (t) => {
    t.equal(verify(installed, name, readFileSync(join(installed, name), 'utf8')), '');
  });
}

t.test('the check catches a misspelt key, a bad value and a missing binary', async (t) => {
  const dir = installAll();
  const unit = readFileSync(join(dir, 'loa-agent.service'), 'utf8');
  const broken: Array<[string, string, RegExp]> = [
    ['NoNewPrivileges=yes', 'NoNewPrivilege=yes', /Unknown key 'NoNewPrivilege'/],
    ['ProtectSystem=strict', 'ProtectSystem=strictest', /Failed to parse protect system value/],
    ['WatchdogSec=30', 'WatchdogSec=thirty', /Failed to parse sec value/],
    ['DeviceAllow=char-alsa rw', 'DeviceAllow=char-alsa rwz', /Invalid device rights 'rwz'/],
    [`${dir}/opt/loa/current/bin/loa-agent.js`, '/opt/no-such-loa/loa-agent.js', /Command \/opt\/no-such-loa\/loa-agent.js is not executable/],
  ];
  for (const [from, to, expect] of broken) {
    t.ok(unit.includes(from), `the unit has ${from}`);
    t.match(verify(dir, 'loa-agent.service', unit.replace(from, to)), expect, `${to} is caught`);
  }
});

t.test('loa-agent.service keeps its supervision and hardening', async (t) => {
  const text = readFileSync(join(unitsDir, 'loa-agent.service'), 'utf8');
  const keys = unitKeys(text);
  const one = (k: string): string | undefined => keys.get(k)?.[0];
  t.equal(one('Type'), 'notify');
  t.equal(one('NotifyAccess'), 'all', 'systemd-notify runs as a child of the agent');
  t.equal(one('WatchdogSec'), '30');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('ExecStart'), '/opt/loa/current/bin/loa-agent.js --config /etc/loa/config.json');
  t.equal(one('ExecStopPost'), '/opt/loa/current/bin/loa.js safe-off --config /etc/loa/config.json');
  t.equal(one('ExecStartPre'), '-/opt/loa/previous/bin/loa-boot-check.js --config /etc/loa/config.json', 'the previous release checks for a crash-looping update before each start');
  t.equal(one('User'), 'loa');
  t.same(one('SupplementaryGroups')?.split(' '), ['gpio', 'audio', 'dialout', 'video'], 'video: the CEC adapter (/dev/cec*)');
  t.equal(one('ProtectClock'), 'yes', 'the agent never sets the clock');
  t.equal(one('CapabilityBoundingSet'), '', 'nor holds any capability');
  t.same(one('RuntimeDirectory')?.split(' '), ['loa', 'loa-clock'], 'the RTC handover folder, watched by loa-clock-set.path');
  t.equal(one('RuntimeDirectoryMode'), '0770', 'group loa: the clock helper takes its reading away');
  t.match(keys.get('Wants')?.join(' '), /\bloa-clock-set\.path\b/);
  t.notOk(keys.has('PrivateDevices'), 'PrivateDevices would hide GPIO, sound and serial devices');
  t.notOk(keys.has('MemoryDenyWriteExecute'), "V8's JIT needs it off");
  t.notOk(/network-online|time-sync/.test(one('After') ?? ''), 'an offline station still starts');
  t.same(keys.get('DeviceAllow'), ['char-alsa rw', 'char-gpiochip rw', 'char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyAMA rw', 'char-ttyS rw', 'char-cec rw']);

  // systemd's own exposure score (0 best, 10 worst), from the file alone.
  const { dir, unit } = installCopy(text);
  writeFileSync(join(dir, 'loa-agent.service'), unit);
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=25', join(dir, 'loa-agent.service')], { encoding: 'utf8' });
  t.equal(r.status, 0, `exposure at most 2.5: ${/Overall exposure level[^\n]*/.exec(r.stdout)?.[0]}`);
});

const boardKeys = unitKeys(readFileSync(join(unitsDir, 'loa-board.service'), 'utf8'));
const boardCommand = boardKeys.get('ExecStart')![0]!.split(/\s+/);

t.test('loa-board.service outlives the agent, never gives up, and matches the agent\'s board defaults', async (t) => {
  const one = (k: string): string | undefined => boardKeys.get(k)?.[0];
  t.match(boardKeys.get('After')!.join(' '), /\bloa-agent\.service\b/, 'starts after the agent, so the first load finds the page');
  for (const k of ['Requires', 'Requisite', 'BindsTo', 'PartOf', 'Wants']) {
    t.notMatch((boardKeys.get(k) ?? []).join(' '), /loa-agent/, `no ${k}= on the agent: restarting it must not blank the screen`);
  }
  t.equal(one('Restart'), 'always');
  t.equal(one('StartLimitIntervalSec'), '0');
  t.equal(one('User'), 'loa-board', 'its own unprivileged user');
  t.same(one('SupplementaryGroups')?.split(' '), ['video', 'render', 'input']);
  t.equal(one('PAMName'), 'loa-board', 'systemd/loa-board.pam, installed as /etc/pam.d/loa-board');
  t.ok(readFileSync(join(unitsDir, 'loa-board.pam'), 'utf8').includes('session  required  pam_systemd.so'), 'the PAM session registers with logind');
  t.equal(one('TTYPath'), '/dev/tty7');
  t.equal(one('UtmpIdentifier'), 'tty7');
  t.same(boardCommand.slice(0, 5), ['/usr/bin/cage', '-d', '--', '/opt/loa/current/bin/loa-board-devtools.js', '/usr/bin/chromium'], 'the browser behind the DevTools relay');

  const defaults = BoardConfigSchema.parse({ kiosk: {} });
  t.equal(boardCommand.at(-1), `http://127.0.0.1:${defaults.port}/`, 'the page at config board.port');
  t.ok(boardCommand.includes('--remote-debugging-pipe'), 'DevTools on a pipe to the relay');
  t.notOk(boardCommand.some((a) => a.startsWith('--remote-debugging-port') || a.startsWith('--remote-debugging-address')), 'no DevTools TCP port');
  const socket = unitKeys(readFileSync(join(unitsDir, 'loa-board.socket'), 'utf8'));
  t.same(socket.get('ListenStream'), [defaults.kiosk!.devtoolsSocket], 'the socket where config board.kiosk.devtoolsSocket looks');
  t.same([socket.get('SocketUser'), socket.get('SocketGroup'), socket.get('SocketMode')], [['loa-board'], ['loa'], ['0660']], 'the kiosk user and group loa only');
  t.match(boardKeys.get('Requires')?.join(' '), /\bloa-board\.socket\b/);
  t.same(defaults.kiosk!.restartCommand, ['systemctl', 'restart', 'loa-board.service'], 'the agent restarts this unit');
  for (const flag of ['--kiosk', '--noerrdialogs', '--disable-infobars', '--disable-session-crashed-bubble', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--ozone-platform=wayland']) {
    t.ok(boardCommand.includes(flag), flag);
  }
  t.notOk(boardCommand.includes('--no-sandbox'), "Chromium's sandbox stays on");
  const dataDir = boardCommand.find((a) => a.startsWith('--user-data-dir='))!.split('=')[1]!;
  t.ok(dataDir.startsWith(`/run/${one('RuntimeDirectory')}/`), 'the profile is in the RuntimeDirectory: RAM, fresh at each start');
});

t.test('the polkit rule lets the agent restart the board browser and nothing else', async (t) => {
  const rules: Array<(action: unknown, subject: unknown) => unknown> = [];
  const polkit = { addRule: (f: (a: unknown, s: unknown) => unknown) => rules.push(f), Result: { YES: 'yes', NO: 'no', NOT_HANDLED: null } };
  runInNewContext(readFileSync(join(unitsDir, 'loa-board.rules'), 'utf8'), { polkit });
  t.equal(rules.length, 1);
  const ask = (id: string, unit: string, verb: string, user: string): unknown =>
    rules[0]!({ id, lookup: (k: string) => ({ unit, verb })[k] }, { user });
  const manage = 'org.freedesktop.systemd1.manage-units';
  t.equal(ask(manage, 'loa-board.service', 'restart', 'loa'), 'yes');
  t.equal(ask(manage, 'loa-board.service', 'stop', 'loa'), null, 'not stop');
  t.equal(ask(manage, 'loa-agent.service', 'restart', 'loa'), null, 'not another unit');
  t.equal(ask(manage, 'loa-board.service', 'restart', 'loa-board'), null, 'not another user');
  t.equal(ask('org.freedesktop.systemd1.manage-unit-files', 'loa-board.service', 'restart', 'loa'), null, 'not another action');
});


t.test("loa-board.service's command shows the board full screen, watchable over DevTools", async (t) => {
  const board = new BoardServer({ log: silentLogger(), timezone: 'Asia/Ho_Chi_Minh', port: 0, contentPath: () => null });
  await board.start();
  t.teardown(() => board.stop());
  board.setSchedule({ defaultPlaylist: { id: 'd', items: [{ kind: 'text', id: 'x', durationS: 3600, text: 'Bảng tin xã' }] } });

  const dir = mkdtempSync(join(tmpdir(), 'loa-kiosk-unit-'));
  const runtime = join(dir, 'run');
  const xdgRuntime = join(dir, 'xdg');
  mkdirSync(runtime);
  mkdirSync(xdgRuntime, { mode: 0o700 });
  // cage refuses to run as root; the unit runs it as loa-board.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    for (const d of [runtime, xdgRuntime]) chownSync(d, 65534, 65534);
  }
  const unitDataDir = `/run/${boardKeys.get('RuntimeDirectory')![0]}`;
  const relay = boardCommand.indexOf('/opt/loa/current/bin/loa-board-devtools.js');
  const swap = (s: string): string => s.replaceAll(unitDataDir, runtime).replace(/^http:\/\/127\.0\.0\.1:\d+\/$/, board.url);
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  for (const assignment of (boardKeys.get('Environment') ?? []).flatMap((e) => e.split(/\s+/))) {
    const [k, v] = assignment.split(/=(.*)/s) as [string, string];
    env[k] = swap(v);
  }
  // What the PAM session and a seat would give: a runtime dir, and a screen (here, wlroots' headless one).
  Object.assign(env, { XDG_RUNTIME_DIR: xdgRuntime, WLR_BACKENDS: 'headless', WLR_RENDERER: 'pixman' });
  // The relay from the sources in place of the installed bin/loa-board-devtools.js; everything else as in the unit.
  const command = [...boardCommand.slice(0, relay), ...devtoolsRelay(), ...boardCommand.slice(relay + 1)].map(swap);
  const argv = asRoot
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--bounding-set=-all', '--inh-caps=-all', '--', ...command]
    : command;
  let stderr = '';
  // As loa-board.socket hands it over: systemd's socket, passed through cage to the relay.
  const kiosk = await startSocketActivated(join(dir, 'devtools.sock'), argv, { pageUrl: 'http://127.0.0.1:', env, stderr: (d) => { stderr = (stderr + d).slice(-4000); } })
    .catch((err: Error) => { throw new Error(`${err.message}\n${stderr}`); });
  t.teardown(async () => {
    await watch.close();
    // cage, the relay and every Chromium process: one process group. Gone before their profile is removed.
    await kiosk.kill();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  const watch = new KioskWatch({
    devtoolsSocket: kiosk.socket, boardUrl: board.url, log: silentLogger(), probeTimeoutMs: 3000,
    expectedKey: () => board.showing()?.key ?? null, restart: async (reason) => { throw new Error(`kiosk needed a restart: ${reason}\n${stderr}`); },
  });
  let health = '';
  for (let i = 0; i < 150 && health !== 'ok'; i++) {
    health = await watch.check();
    if (health !== 'ok') await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(health, 'ok', 'the board page is up and current under cage, driven over the socket', health === 'ok' ? {} : { stderr: stderr.slice(-1500) });

  const devtools = await DevtoolsClient.connect(kiosk.socket, 3000);
  t.teardown(() => devtools.close());
  const { targetInfos } = await devtools.send('Target.getTargets', {}, { timeoutMs: 3000 });
  const page = (targetInfos as Array<{ targetId: string; url: string }>).find((p) => p.url === board.url)!;
  const { sessionId } = await devtools.send('Target.attachToTarget', { targetId: page.targetId, flatten: true }, { timeoutMs: 3000 });
  const { result } = await devtools.send('Runtime.evaluate', {
    expression: '({ inner: [innerWidth, innerHeight], output: [screen.width, screen.height], text: document.body.innerText })', returnByValue: true,
  }, { sessionId: String(sessionId), timeoutMs: 3000 });
  const shown = (result as { value: { inner: number[]; output: number[]; text: string } }).value;
  t.same(shown.inner, shown.output, 'kiosk: the page fills the whole output, no browser frame');
  t.match(shown.text, /Bảng tin xã/);

  const kioskPids = processGroup(kiosk.child.pid!);
  t.ok(kioskPids.length >= 4, `cage, the relay and Chromium's processes (${kioskPids.length})`);
  t.same(listeningTcpPorts(kioskPids), [], 'no process of the kiosk listens on a TCP port');
  t.same(listeningTcpPorts([process.pid]), [Number(new URL(board.url).port)], 'the check sees a listening port: the board server in this process');
});

t.test('loa-clock-set.service holds CAP_SYS_TIME and nothing else, as its own user', async (t) => {
  const keys = unitKeys(readFileSync(join(unitsDir, 'loa-clock-set.service'), 'utf8'));
  const one = (k: string): string | undefined => keys.get(k)?.[0];
  t.equal(one('User'), 'loa-clock');
  t.equal(one('CapabilityBoundingSet'), 'CAP_SYS_TIME');
  t.equal(one('AmbientCapabilities'), 'CAP_SYS_TIME');
  t.equal(one('SupplementaryGroups'), 'loa', 'reads the agent\'s request, nothing more');
  t.equal(one('PrivateNetwork'), 'yes');
  t.match(one('SystemCallFilter'), /@clock/);
  const path = unitKeys(readFileSync(join(unitsDir, 'loa-clock-set.path'), 'utf8'));
  t.same(path.get('PathExists'), ['/run/loa-clock/request.json'], 'started while the agent\'s request is there (it takes it away)');
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=25', join(installed, 'loa-clock-set.service')], { encoding: 'utf8' });
  t.equal(r.status, 0, `exposure at most 2.5: ${/Overall exposure level[^\n]*/.exec(r.stdout)?.[0]}`);
});

t.test('the DevTools relay refuses a unit that would open a port or has no socket', async (t) => {
  const ok = { LISTEN_FDS: '1', LISTEN_PID: '7' };
  const pids = { pid: 8, ppid: 7 };
  t.equal(relayProblem(['/usr/bin/chromium', '--remote-debugging-pipe', 'http://x/'], ok, pids), null, 'the socket passed to cage, our parent');
  t.match(relayProblem(['/usr/bin/chromium', 'http://x/'], ok, pids), /lacks --remote-debugging-pipe/);
  t.match(relayProblem(['/usr/bin/chromium', '--remote-debugging-pipe', '--remote-debugging-port=9222'], ok, pids), /opens a DevTools TCP port/);
  t.match(relayProblem(['/usr/bin/chromium', '--remote-debugging-pipe'], {}, pids), /start loa-board.service through loa-board.socket/);
  t.match(relayProblem(['/usr/bin/chromium', '--remote-debugging-pipe'], { ...ok, LISTEN_PID: '99' }, pids), /LISTEN_FDS/, 'a socket meant for another process');
});
