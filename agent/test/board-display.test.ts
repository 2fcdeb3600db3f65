/**
 * Display power: the pure schedule, the drivers (the real cec-ctl and
 * cec-client binaries, without a CEC adapter: that is the hardware we lack),
 * the controller with the simulated screen, and the board page's blanking
 * over plain HTTP. The page drawn black in Chromium is board-display-chromium.test.ts.
 */
import t, { type Test } from 'tap';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { displayPowerAt, type DisplayWindow } from '../src/board/display-schedule.js';
import {
  BlankDisplay, CecClientDisplay, CecCtlDisplay, cecClientCommand, cecClientProblem, cecCtlArgs, cecCtlProblem, createDisplayPower, runTool, SimDisplay,
  type DisplayPower, type ToolRun,
} from '../src/board/display.js';
import { DisplayController, type DisplayControllerOptions, type DisplayPowerEvent } from '../src/board/display-controller.js';
import { BoardServer } from '../src/board/server.js';
import { BoardConfigSchema } from '../src/config/schema.js';
import { createLogger, silentLogger } from '../src/lib/logger.js';
import { waitEvent } from './wait.js';

const HCM = 'Asia/Ho_Chi_Minh';
/** Station local time (UTC+7, no DST) as epoch ms. */
const hcm = (s: string): number => Date.parse(`${s}+07:00`);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const at = (s: string, windows: DisplayWindow[], emergency = false) => {
  const r = displayPowerAt(hcm(s), HCM, windows, emergency);
  return { on: r.on, reason: r.reason, until: iso(r.untilMs) };
};
const until = (s: string): string => new Date(hcm(s)).toISOString();
const DAYTIME: DisplayWindow[] = [{ from: '06:00', to: '22:00' }];

t.test('schedule: no windows is always on; an emergency is on whatever the windows say', async (t) => {
  t.same(at('2026-11-27T03:00:00', []), { on: true, reason: 'always-on', until: null });
  t.same(at('2026-11-27T03:00:00', DAYTIME, true), { on: true, reason: 'emergency', until: null });
  t.same(at('2026-11-27T03:00:00', DAYTIME), { on: false, reason: 'schedule', until: until('2026-11-27T06:00:00') });
});

t.test('schedule: a daily window, its edges exact', async (t) => {
  t.same(at('2026-11-27T05:59:59.999', DAYTIME), { on: false, reason: 'schedule', until: until('2026-11-27T06:00:00') });
  t.same(at('2026-11-27T06:00:00', DAYTIME), { on: true, reason: 'schedule', until: until('2026-11-27T22:00:00') });
  t.same(at('2026-11-27T21:59:59.999', DAYTIME), { on: true, reason: 'schedule', until: until('2026-11-27T22:00:00') });
  t.same(at('2026-11-27T22:00:00', DAYTIME), { on: false, reason: 'schedule', until: until('2026-11-28T06:00:00') });
});

t.test('schedule: a window crossing midnight, and one ending at 24:00', async (t) => {
  const night: DisplayWindow[] = [{ from: '18:00', to: '06:00' }];
  t.same(at('2026-11-27T23:00:00', night), { on: true, reason: 'schedule', until: until('2026-11-28T06:00:00') });
  t.same(at('2026-11-28T03:00:00', night), { on: true, reason: 'schedule', until: until('2026-11-28T06:00:00') }, 'began yesterday');
  t.same(at('2026-11-28T12:00:00', night), { on: false, reason: 'schedule', until: until('2026-11-28T18:00:00') });
  const toMidnight: DisplayWindow[] = [{ from: '06:00', to: '24:00' }];
  t.same(at('2026-11-27T23:59:59', toMidnight), { on: true, reason: 'schedule', until: until('2026-11-28T00:00:00') });
  t.same(at('2026-11-28T00:00:00', toMidnight), { on: false, reason: 'schedule', until: until('2026-11-28T06:00:00') });
});

t.test('schedule: weekdays, including a crossing window that belongs to the day it starts', async (t) => {
  // 2026-11-27 is a Friday.
  const office: DisplayWindow[] = [{ weekdays: [1, 2, 3, 4, 5], from: '07:00', to: '17:00' }];
  t.same(at('2026-11-27T17:00:00', office), { on: false, reason: 'schedule', until: until('2026-11-30T07:00:00') }, 'Friday evening: off until Monday');
  t.same(at('2026-11-28T10:00:00', office), { on: false, reason: 'schedule', until: until('2026-11-30T07:00:00') }, 'Saturday: off');
  const fridayNight: DisplayWindow[] = [{ weekdays: [5], from: '20:00', to: '02:00' }];
  t.same(at('2026-11-28T01:00:00', fridayNight), { on: true, reason: 'schedule', until: until('2026-11-28T02:00:00') }, 'early Saturday is still Friday night');
  t.same(at('2026-11-28T20:30:00', fridayNight), { on: false, reason: 'schedule', until: until('2026-12-04T20:00:00') }, 'Saturday night is not');
});

t.test('schedule: touching and overlapping windows are one span; a week always covered never changes', async (t) => {
  t.same(at('2026-11-27T07:00:00', [{ from: '06:00', to: '12:00' }, { from: '12:00', to: '18:00' }]).until, until('2026-11-27T18:00:00'));
  t.same(at('2026-11-27T07:00:00', [{ from: '11:00', to: '18:00' }, { from: '06:00', to: '13:00' }]).until, until('2026-11-27T18:00:00'));
  t.same(at('2026-11-27T07:00:00', [{ from: '00:00', to: '24:00' }]), { on: true, reason: 'schedule', until: null });
  t.same(at('2026-11-27T07:00:00', [{ from: '18:00', to: '06:00' }, { from: '06:00', to: '18:00' }]).until, null);
  t.same(at('2026-11-27T07:00:00', [{ weekdays: [1, 2, 3], from: '00:00', to: '24:00' }, { weekdays: [4, 5, 6, 7], from: '00:00', to: '24:00' }]).until, null);
  // Off one hour a week (early Sunday): from a Monday, the next change is six days away.
  const allButSundayNight: DisplayWindow[] = [{ weekdays: [1, 2, 3, 4, 5, 6], from: '00:00', to: '24:00' }, { weekdays: [7], from: '01:00', to: '24:00' }];
  t.same(at('2026-11-30T10:00:00', allButSundayNight), { on: true, reason: 'schedule', until: until('2026-12-06T00:00:00') });
  t.same(at('2026-12-06T00:30:00', allButSundayNight), { on: false, reason: 'schedule', until: until('2026-12-06T01:00:00') });
});

t.test('schedule: across DST changes (Europe/Berlin) the windows keep their wall-clock times', async (t) => {
  const BER = 'Europe/Berlin';
  const ber = (ms: number, windows: DisplayWindow[]) => iso(displayPowerAt(ms, BER, windows, false).untilMs);
  // 2026-03-29 02:00 CET becomes 03:00 CEST: the night of the change is an hour shorter.
  t.equal(ber(Date.parse('2026-03-29T00:30:00Z'), [{ from: '01:00', to: '04:00' }]), '2026-03-29T02:00:00.000Z', '04:00 CEST');
  t.equal(ber(Date.parse('2026-03-28T11:00:00Z'), [{ from: '08:00', to: '09:00' }]), '2026-03-29T06:00:00.000Z', 'the next opening is 08:00 CEST');
  // 2026-10-25 03:00 CEST becomes 02:00 CET: an hour longer.
  const night: DisplayWindow[] = [{ from: '22:00', to: '06:00' }];
  t.equal(ber(Date.parse('2026-10-24T20:00:00Z'), night), '2026-10-25T05:00:00.000Z', '06:00 CET, nine hours after 22:00 CEST');
  const r = displayPowerAt(Date.parse('2026-10-25T04:59:59Z'), BER, night, false);
  t.ok(r.on, 'still on in the repeated hour');
  // A window inside the spring gap that comes out inverted never happens.
  t.same(displayPowerAt(Date.parse('2026-03-29T01:10:00Z'), BER, [{ weekdays: [7], from: '02:30', to: '03:00' }], false), {
    on: false, reason: 'schedule', untilMs: Date.parse('2026-04-05T00:30:00Z'),
  });
});

t.test('config: a window that means nothing is refused with the fix', async (t) => {
  const parse = (on: unknown) => BoardConfigSchema.safeParse({ display: { on } });
  t.ok(parse([{ from: '06:00', to: '22:00' }, { weekdays: [6, 7], from: '18:00', to: '02:00' }]).success);
  t.match(parse([{ from: '06:00', to: '06:00' }]).error?.issues[0]?.message, /must differ .*00:00-24:00/);
  t.match(parse([{ from: '24:00', to: '06:00' }]).error?.issues[0]?.message, /cannot be 24:00/);
  t.same(BoardConfigSchema.parse({}).display, { driver: 'cec-ctl', device: '/dev/cec0', on: [] });
});

t.test('cec-ctl and cec-client argument vectors', async (t) => {
  t.same(cecCtlArgs('/dev/cec0', true, true), ['--device', '/dev/cec0', '--skip-info', '--verbose', '--playback', '--osd-name', 'loa', '--to', '0', '--image-view-on']);
  t.same(cecCtlArgs('/dev/cec1', false, false), ['--device', '/dev/cec1', '--skip-info', '--verbose', '--to', '0', '--standby']);
  t.same(cecClientCommand(true), { args: ['-s', '-d', '1'], input: 'on 0\n' });
  t.same(cecClientCommand(false), { args: ['-s', '-d', '1'], input: 'standby 0\n' });
});

t.test('cec-ctl output: success is a transmit acknowledged, nothing less', async (t) => {
  const run = (over: Partial<ToolRun>): ToolRun => ({ code: 0, signal: null, stdout: '', stderr: '', timedOut: false, spawnError: null, ...over });
  // The shapes cec-ctl prints with --verbose (utils/cec-ctl/cec-ctl.cpp and libcecutil's status2s).
  const sent = '\nTransmit from Playback Device 1 to TV (4 to 0):\nIMAGE_VIEW_ON (0x04)\n\tSequence: 7 Tx Timestamp: 812.118s\n';
  t.equal(cecCtlProblem(run({ stdout: `${sent}\tTx, OK\n` }), '/dev/cec0', 1000), null);
  t.match(cecCtlProblem(run({ stdout: `${sent}\tTx, Not Acknowledged (1), Max Retries\n` }), '/dev/cec0', 1000),
    /screen did not answer on CEC adapter \/dev\/cec0 \(Tx, Not Acknowledged \(1\), Max Retries\): is HDMI-CEC enabled/);
  t.match(cecCtlProblem(run({ stdout: '\nTransmit from Playback Device 1 to TV (4 to 0):\nSTANDBY (0x36)\n' }), '/dev/cec0', 1000), /sent nothing on CEC adapter \/dev\/cec0/);
  t.match(cecCtlProblem(run({ code: 1, stderr: 'Failed to open /dev/cec0: Permission denied\n' }), '/dev/cec0', 1000), /Permission denied; the loa user needs the video group/);
  t.match(cecCtlProblem(run({ code: null, signal: 'SIGKILL', timedOut: true }), '/dev/cec0', 1000), /cec-ctl did not finish within 1000 ms and was killed \(CEC adapter \/dev\/cec0\)/);
});

t.test('the real cec-ctl: a missing adapter, and an unconfigured one that exits 0, are clear errors naming the device', async (t) => {
  const missing = new CecCtlDisplay({ device: '/dev/cec-loa-missing' });
  t.equal(missing.kind, 'cec-ctl');
  await t.rejects(missing.setPower(true), {
    message: 'CEC adapter /dev/cec-loa-missing: Failed to open /dev/cec-loa-missing: No such file or directory; list the adapters with `cec-ctl --list-devices`',
  });
  // /dev/null opens but is no adapter: cec-ctl says "unconfigured" and exits 0 without sending anything.
  const raw = await runTool('cec-ctl', cecCtlArgs('/dev/null', false, true), { timeoutMs: 10_000 });
  t.equal(raw.code, 0, 'cec-ctl itself reports success');
  t.match(raw.stderr, /Adapter is unconfigured/);
  await t.rejects(new CecCtlDisplay({ device: '/dev/null' }).setPower(false), { message: /CEC adapter \/dev\/null could not claim a logical address/ });
});

t.test('the real cec-client: hung on an adapter that never answers, it is killed at the time limit', async (t) => {
  const { args, input } = cecClientCommand(false);
  const started = Date.now();
  // An explicit port that does not exist: cec-client retries it for about ten seconds (and touches no real adapter).
  const run = await runTool('cec-client', [...args, '/dev/loa-no-such-cec-port'], { input, timeoutMs: 800 });
  const tookMs = Date.now() - started;
  t.ok(run.timedOut && run.signal === 'SIGKILL', JSON.stringify({ code: run.code, signal: run.signal }));
  t.ok(tookMs < 5000, `killed after ${tookMs} ms, not left running`);
  t.equal(cecClientProblem(run, 800), 'cec-client did not finish within 800 ms and was killed');
  const run2: ToolRun = { code: 1, signal: null, stdout: 'autodetect FAILED\n', stderr: '', timedOut: false, spawnError: null };
  t.equal(cecClientProblem(run2, 800), 'cec-client found no CEC adapter (autodetect FAILED)');
  t.equal(cecClientProblem({ ...run2, code: 0, stdout: '' }, 800), null);
  const absent = await runTool('loa-no-such-cec-tool', [], { timeoutMs: 1000 });
  t.equal(cecClientProblem(absent, 1000), 'cec-client is not installed (Debian package cec-utils)');
  t.match(cecCtlProblem(absent, '/dev/cec0', 1000), /^cec-ctl is not installed \(Debian package v4l-utils\)/);
});

// Never switch a real screen from a test: only on a machine without a CEC adapter.
const adapters = await runTool('cec-client', ['-l'], { timeoutMs: 10_000 });
const noAdapter = /Found devices: NONE/.test(adapters.stdout);
t.test('the real cec-client with no adapter attached: a clear error', { skip: noAdapter ? false : 'a CEC adapter is attached here' }, async (t) => {
  await t.rejects(new CecClientDisplay({ timeoutMs: 10_000 }).setPower(false), { message: 'cec-client found no CEC adapter (autodetect FAILED)' });
});

t.test('the simulated screen records each transition with its time; it can stop answering', async (t) => {
  let clock = 1000;
  const sim = new SimDisplay(() => clock);
  const seen: unknown[] = [];
  sim.on('transition', (x) => seen.push(x));
  t.equal(sim.isOn, null);
  await sim.setPower(true);
  clock = 2000;
  await sim.setPower(true);
  await sim.setPower(false);
  t.same(sim.transitions, [{ atMs: 1000, on: true }, { atMs: 2000, on: false }], 'the same state again is no transition');
  t.same(seen, sim.transitions);
  sim.fail('unplugged');
  await t.rejects(sim.setPower(true), { message: 'simulated screen did not answer: unplugged' });
  t.equal(sim.isOn, false);
  t.same([createDisplayPower({ driver: 'sim', device: '' }).kind, createDisplayPower({ driver: 'blank', device: '' }).kind,
    createDisplayPower({ driver: 'cec-client', device: '' }).kind, createDisplayPower({ driver: 'cec-ctl', device: '/dev/cec0' }).kind],
  ['sim', 'blank', 'cec-client', 'cec-ctl']);
});

/** The real clock shifted to read `local` (station time) now: real timers, a chosen instant. */
function clockAt(local: string): { now: () => number; jump: (to: string) => void } {
  let offset = hcm(local) - Date.now();
  return { now: () => Date.now() + offset, jump: (to) => { offset = hcm(to) - Date.now(); } };
}

function logSink(): { log: ReturnType<typeof createLogger>; entries: () => Array<{ level: number; msg: string }> } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  return { log: createLogger({ level: 'debug', destination: sink }), entries: () => lines.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

function setup(t: Test, driver: DisplayPower, start: string, over: Partial<DisplayControllerOptions> = {}) {
  const board = new BoardServer({ log: silentLogger(), timezone: HCM, port: 0, contentPath: () => null });
  const clock = clockAt(start);
  const display = new DisplayController({ driver, board, timezone: HCM, windows: DAYTIME, log: silentLogger(), now: clock.now, ...over });
  const events: DisplayPowerEvent[] = [];
  display.on('power', (e) => events.push(e));
  t.teardown(() => display.stop());
  return { board, clock, display, events };
}

t.test('controller: one timer to the next boundary switches the screen on time', async (t) => {
  const sim = new SimDisplay();
  const { board, display, events } = setup(t, sim, '2026-11-27T05:59:59.600');
  display.start();
  t.ok(board.blanked, 'off before 06:00: the page is black at once');
  t.same(display.status(), { on: false, reason: 'schedule', untilMs: hcm('2026-11-27T06:00:00'), panel: 'unknown', driver: 'sim', problem: null });
  const on = await waitEvent<DisplayPowerEvent>(display, 'power', (e) => e.on, 3000);
  t.match(on, { on: true, reason: 'schedule', ok: true, problem: null, driver: 'sim' });
  t.notOk(board.blanked);
  t.same(sim.transitions.map((x) => x.on), [false, true], 'standby at start (the panel state was unknown), then on at 06:00');
  t.same(events.map((e) => [e.on, e.ok]), [[false, true], [true, true]]);
  t.equal(display.status().untilMs, hcm('2026-11-27T22:00:00'));
  t.equal(display.status().panel, 'on');
});

t.test('controller: an emergency wakes the sleeping screen at once and gives it back to the schedule', async (t) => {
  const sim = new SimDisplay();
  const { board, display, events } = setup(t, sim, '2026-11-27T23:00:00');
  display.start();
  await waitEvent(display, 'power', () => true, 3000);
  t.same([sim.isOn, board.blanked], [false, true]);
  display.setEmergency(true);
  t.notOk(board.blanked, 'the page shows before the panel has even answered');
  const woke = await waitEvent<DisplayPowerEvent>(display, 'power', (e) => e.on, 3000);
  t.match(woke, { on: true, reason: 'emergency', ok: true });
  t.equal(display.status().untilMs, null, 'no schedule boundary ends an emergency');
  display.setEmergency(true);
  display.setEmergency(false);
  t.ok(board.blanked);
  await waitEvent(display, 'power', (e: DisplayPowerEvent) => !e.on, 3000);
  t.same(sim.transitions.map((x) => x.on), [false, true, false]);
  t.same(events.map((e) => e.reason), ['schedule', 'emergency', 'schedule']);
});

t.test('controller: a failing CEC command still blanks the page, is logged once, reported, and retried', async (t) => {
  const { log, entries } = logSink();
  const { board, display, events } = setup(t, new CecCtlDisplay({ device: '/dev/cec-loa-missing' }), '2026-11-27T23:00:00', {
    log, retry: { initialMs: 20, maxMs: 40 },
  });
  display.start();
  t.ok(board.blanked, 'black whatever CEC does');
  const failed = await waitEvent<DisplayPowerEvent>(display, 'power', () => true, 5000);
  t.match(failed, { on: false, ok: false, driver: 'cec-ctl', problem: /\/dev\/cec-loa-missing: Failed to open/ });
  // Several retries of the real cec-ctl later:
  const deadline = Date.now() + 10_000;
  while (entries().filter((e) => e.msg === 'display switch failed again').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(entries().filter((e) => e.msg === 'display switch failed again').length >= 3, 'retried');
  t.equal(entries().filter((e) => e.level >= 50).length, 1, 'one error line for the transition, not one per retry');
  t.equal(events.length, 1, 'one event for the transition');
  t.same(display.problems(), [
    'display: the screen could not be switched off over cec-ctl: CEC adapter /dev/cec-loa-missing: Failed to open /dev/cec-loa-missing: No such file or directory; list the adapters with `cec-ctl --list-devices` (retrying; the page is black meanwhile)',
  ]);
  t.equal(display.status().panel, 'unknown');
});

t.test('controller: a screen that answers again is switched; a new transition does not wait for the old backoff', async (t) => {
  const { log, entries } = logSink();
  const sim = new SimDisplay();
  sim.fail('unplugged');
  const { display, events } = setup(t, sim, '2026-11-27T23:00:00', { log, retry: { initialMs: 30, maxMs: 30 } });
  display.start();
  await waitEvent(display, 'power', () => true, 3000);
  t.match(display.problems(), [/switched off over sim: simulated screen did not answer: unplugged/]);
  sim.fail(null);
  const ok = await waitEvent<DisplayPowerEvent>(display, 'power', (e) => e.ok, 3000);
  t.match(ok, { on: false, ok: true });
  t.same(display.problems(), []);
  t.ok(entries().some((e) => e.msg === 'display switched after retries'));
  t.equal(events.length, 2, 'the failure and the recovery');

  // A backoff far longer than the test: only a new transition can switch the screen now.
  const slowSim = new SimDisplay();
  slowSim.fail('unplugged');
  const { display: d2 } = setup(t, slowSim, '2026-11-27T23:00:00', { retry: { initialMs: 600_000, maxMs: 600_000 } });
  d2.start();
  await waitEvent(d2, 'power', () => true, 3000);
  slowSim.fail(null);
  d2.setEmergency(true);
  await waitEvent(d2, 'power', (e: DisplayPowerEvent) => e.on && e.ok, 3000);
  t.same(slowSim.transitions.map((x) => x.on), [true], 'woken at once');
  t.same(d2.problems(), []);
});

t.test('controller: recheck() after a clock jump; stop() leaves the screen alone', async (t) => {
  const sim = new SimDisplay();
  const { board, clock, display } = setup(t, sim, '2026-11-27T12:00:00');
  display.start();
  await waitEvent(display, 'power', () => true, 3000);
  t.equal(display.status().untilMs, hcm('2026-11-27T22:00:00'));
  clock.jump('2026-11-27T23:30:00');
  display.recheck();
  t.ok(board.blanked);
  await waitEvent(display, 'power', (e: DisplayPowerEvent) => !e.on, 3000);
  t.equal(display.status().untilMs, hcm('2026-11-28T06:00:00'));

  clock.jump('2026-11-28T05:59:59.800');
  display.recheck();
  await display.stop();
  await new Promise((r) => setTimeout(r, 500));
  t.same(sim.transitions.map((x) => x.on), [true, false], 'the 06:00 timer died with stop()');
});

t.test('controller: with the blank driver, off is the black page and nothing else', async (t) => {
  const { board, display, events } = setup(t, new BlankDisplay(), '2026-11-27T23:00:00');
  display.start();
  await waitEvent(display, 'power', () => true, 3000);
  t.ok(board.blanked);
  t.match(events, [{ on: false, ok: true, driver: 'blank' }]);
});

/** A Server-Sent Events stream's text as it arrives. */
function sse(url: string): { text: () => string; until: (re: RegExp, from?: number) => Promise<void>; close: () => void } {
  let text = '';
  const waiters: Array<() => void> = [];
  const u = new URL('/events', url);
  const req = request({ host: '127.0.0.1', port: u.port, path: u.pathname, headers: { host: u.host } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => { text += c; for (const w of waiters.splice(0)) w(); });
  });
  req.on('error', () => undefined);
  req.end();
  /** Waits for `re` in the text that arrived after offset `from`. */
  const until = async (re: RegExp, from = 0): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!re.test(text.slice(from))) {
      if (Date.now() > deadline) throw new Error(`no ${re} in ${JSON.stringify(text)}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
    }
  };
  return { text: () => text, until, close: () => req.destroy() };
}

const inOrder = (text: string, first: string, then: string): boolean => text.includes(first) && text.indexOf(first) < text.indexOf(then);

t.test('board server: blank goes to the page, and never hides an emergency', async (t) => {
  const board = new BoardServer({ log: silentLogger(), timezone: HCM, port: 0, contentPath: () => null });
  await board.start();
  t.teardown(() => board.stop());
  board.setBlank(true);
  const s = sse(board.url);
  t.teardown(s.close);
  await s.until(/event: blank\ndata: \{"blank":true\}/);
  t.ok(board.blanked);

  const mark = s.text().length;
  board.setEmergency({ key: 'flood', title: 'Lũ quét' });
  t.notOk(board.blanked, 'an emergency is never blank');
  await s.until(/event: blank\ndata: \{"blank":false\}/, mark);
  const started = s.text().slice(mark);
  t.ok(inOrder(started, '"kind":"emergency"', '"blank":false'), 'the emergency is on the page before it unblanks');
  board.setBlank(true);
  t.notOk(board.blanked, 'asked again during the emergency: still shown');

  const mark2 = s.text().length;
  board.setEmergency(null);
  t.ok(board.blanked, 'the request holds once the emergency ends');
  await s.until(/event: show/, mark2);
  const ended = s.text().slice(mark2);
  t.ok(inOrder(ended, '"blank":true', 'event: show'), 'black before the rotation returns');

  // Reconnecting pages learn the state at once.
  const again = sse(board.url);
  t.teardown(again.close);
  await again.until(/event: blank\ndata: \{"blank":true\}/);
});
