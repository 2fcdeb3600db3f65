/**
 * Notifications go through the real systemd-notify to a stand-in for
 * systemd's notify socket: a small Python datagram listener that, like
 * systemd, reads credentials and closes the file descriptor systemd-notify
 * passes with BARRIER=1 (systemd-notify 252 waits for that close; socat
 * cannot do it, and systemd-notify then fails after a timeout).
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger } from '../src/lib/logger.js';
import { createNotifier, createWatchdog, notifyArgs, statusField, watchdogIntervalMs } from '../src/daemon/systemd-notify.js';

const LISTENER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64) + socket.CMSG_SPACE(12))
    fds, pid = [], None
    for level, kind, d in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i"); a.frombytes(d[: len(d) - len(d) % 4]); fds.extend(a)
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(d[0:4], "little")
    for fd in fds:
        os.close(fd)
    print(json.dumps({"pid": pid, "fds": len(fds), "msg": data.decode()}), flush=True)
`;

interface Datagram {
  pid: number;
  fds: number;
  msg: string;
}

async function fakeSystemd(t: { teardown(fn: () => void): void }): Promise<{ socket: string; got: Datagram[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-notify-'));
  writeFileSync(join(dir, 'listen.py'), LISTENER);
  const socket = join(dir, 'notify');
  const child: ChildProcess = spawn('/usr/bin/python3', [join(dir, 'listen.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill());
  const got: Datagram[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'listening') return resolve();
      const d = JSON.parse(line) as Datagram;
      if (d.msg !== 'BARRIER=1') got.push(d);
    });
  });
  return { socket, got };
}

function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } }) };
}

const fields = (d: Datagram): string[] => d.msg.split('\n');

t.test('messages as data: one STATUS line, our pid as MAINPID', async (t) => {
  t.equal(statusField('playing "Tin tức"\nINJECTED=1'), 'STATUS=playing "Tin tức" INJECTED=1', 'a newline cannot start a new field');
  t.same(notifyArgs(42, ['READY=1']), ['--pid=42', 'READY=1']);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 7), 15_000, 'half of WatchdogSec');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7), undefined, 'meant for another process');
  t.equal(watchdogIntervalMs({}, 7), undefined);
});

t.test('outside systemd every notification is a no-op', async (t) => {
  const { log, lines } = capture();
  const n = createNotifier({ log, env: {}, command: '/nonexistent/systemd-notify' });
  t.equal(n.enabled, false);
  await n.ready('up');
  await n.watchdog();
  t.same(lines, [], 'nothing was run, so nothing failed');
});

t.test('READY, STATUS, WATCHDOG and STOPPING reach the notify socket in order', async (t) => {
  const { socket, got } = await fakeSystemd(t);
  const { log, lines } = capture();
  const n = createNotifier({ log, env: { NOTIFY_SOCKET: socket } });
  t.equal(n.enabled, true);
  await Promise.all([n.ready('schedule loaded'), n.status('playing\nWATCHDOG=1'), n.watchdog(), n.stopping()]);
  t.same(
    got.map(fields),
    [
      [`MAINPID=${process.pid}`, 'READY=1', 'STATUS=schedule loaded'],
      [`MAINPID=${process.pid}`, 'STATUS=playing WATCHDOG=1'],
      [`MAINPID=${process.pid}`, 'WATCHDOG=1'],
      [`MAINPID=${process.pid}`, 'STOPPING=1'],
    ],
  );
  t.same(lines, [], 'no failures logged');
});

t.test('a notification that cannot be sent is logged once, never thrown', async (t) => {
  const { log, lines } = capture();
  const n = createNotifier({ log, env: { NOTIFY_SOCKET: join(mkdtempSync(join(tmpdir(), 'loa-notify-')), 'absent') } });
  await n.watchdog();
  await n.watchdog();
  t.equal(lines.length, 1);
  t.match(lines[0], { msg: 'systemd notification failed', level: 40, fields: ['WATCHDOG=1'], problem: /systemd-notify exited with code 1/ });
  const missing = capture();
  await createNotifier({ log: missing.log, env: { NOTIFY_SOCKET: '/run/x' }, command: '/nonexistent/systemd-notify' }).ready();
  t.match(missing.lines[0], { problem: /cannot run \/nonexistent\/systemd-notify/ });
});

t.test('the watchdog is fed only while the main loop makes progress', async (t) => {
  let clock = 0;
  let fed = 0;
  let healthy = true;
  const { log, lines } = capture();
  const wd = createWatchdog({ notifier: { watchdog: async () => void fed++ }, log, intervalMs: 15_000, isHealthy: () => healthy, now: () => clock });
  t.equal(wd.enabled, true);
  await wd.tick();
  t.equal(fed, 1);
  clock = 29_000;
  await wd.tick();
  t.equal(fed, 2, 'within a whole WatchdogSec of the last progress');
  clock = 31_000;
  await wd.tick();
  await wd.tick();
  t.equal(fed, 2, 'a wedged loop is not covered for');
  t.equal(lines.filter((l) => l.msg === 'main loop is not making progress; no longer feeding the systemd watchdog').length, 1, 'said once');
  wd.progress();
  await wd.tick();
  t.equal(fed, 3);
  t.match(lines.at(-1), { msg: 'main loop is making progress again; feeding the systemd watchdog' });
  healthy = false;
  await wd.tick();
  t.equal(fed, 3, 'the daemon can veto a feed');
  const off = createWatchdog({ notifier: { watchdog: async () => void fed++ }, log, env: {} });
  t.equal(off.enabled, false, 'no WATCHDOG_USEC: no watchdog');
  off.start();
  await off.tick();
  t.equal(fed, 3);
  t.equal(createWatchdog({ notifier: { watchdog: async () => undefined }, log, env: { WATCHDOG_USEC: '30000000' } }).enabled, true);
});

t.test('on its timer, the watchdog feeds systemd until progress stops', async (t) => {
  const { socket, got } = await fakeSystemd(t);
  const { log } = capture();
  const notifier = createNotifier({ log, env: { NOTIFY_SOCKET: socket } });
  const wd = createWatchdog({ notifier, log, intervalMs: 100, staleAfterMs: 300 });
  let looping = true;
  const loop = setInterval(() => looping && wd.progress(), 50);
  wd.start();
  while (got.filter((d) => d.msg.endsWith('WATCHDOG=1')).length < 3) await new Promise((r) => setTimeout(r, 50));
  looping = false;
  await new Promise((r) => setTimeout(r, 1500));
  const before = got.length;
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(got.length, before, 'no feed while the loop is stuck');
  looping = true;
  while (got.length === before) await new Promise((r) => setTimeout(r, 50));
  t.pass('feeding resumes with progress');
  clearInterval(loop);
  wd.stop();
  // Let a feed in flight finish its handshake before the listener goes.
  await notifier.status('test over');
});
