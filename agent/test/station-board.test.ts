import t from 'tap';
import { startStation } from './station-fixture.js';
import { until } from './sync-fixture.js';
import type { SimDisplay } from '../src/board/display.js';

t.test('an emergency on the speakers takes over the board at once, and gives it back', async (t) => {
  const s = await startStation({ board: { port: 0 } });
  t.teardown(() => s.stop());
  const board = s.agent.board!.server;
  t.not(board.showing()?.source, 'emergency', 'the board starts on its own playlist (or the clock)');
  const alert = await s.tone('alert', { seconds: 1 });
  const shown: string[] = [];
  board.on('show', (now: { source: string }) => shown.push(now.source));
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Cảnh báo lũ quét', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  await new Promise<void>((resolve) => s.agent.conductor.once('session', () => setImmediate(resolve)));
  t.equal(board.showing()?.source, 'emergency', 'full-screen emergency from the moment the session starts');
  t.match(JSON.stringify(board.showing()?.item), /Cảnh báo lũ quét/);
  await s.rows(1);
  await new Promise((r) => setTimeout(r, 200));
  t.not(board.showing()?.source, 'emergency', 'back to the playlist when the emergency ends');
  t.same(shown.filter((x) => x === 'emergency').length, 1);
  const url = board.url;
  const page = await fetch(url);
  t.equal(page.status, 200, 'the player page is served on loopback');
});

t.test('a sleeping screen is woken by an emergency and put back to sleep after it; each switch is recorded', async (t) => {
  const { DateTime } = await import('luxon');
  const later = DateTime.now().setZone('Asia/Ho_Chi_Minh').plus({ hours: 2 });
  // On only in a window two hours from now: the screen sleeps at start.
  const s = await startStation({ board: { port: 0, display: { driver: 'sim', on: [{ from: later.toFormat('HH:mm'), to: later.plus({ hours: 1 }).toFormat('HH:mm') }] } } });
  t.teardown(() => s.stop());
  const link = s.agent.board!;
  const screen = link.screen as SimDisplay;
  await until(() => screen.isOn === false, 5000, 'the screen put to sleep by its schedule');
  t.equal(link.server.blanked, true, 'and the page is black');
  const alert = await s.tone('alert', { seconds: 1 });
  s.agent.conductor.submit({ id: 'fire', mode: 'now', priority: 9, label: 'Cháy rừng', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  await until(() => screen.isOn === true, 5000, 'the screen woken by the emergency');
  t.equal(link.server.showing()?.source, 'emergency');
  await s.rows(1);
  await until(() => screen.isOn === false, 5000, 'the screen asleep again after the emergency');
  t.same(screen.transitions.map((x) => x.on), [false, true, false]);
  const events = s.agent.store.outbox.next(100).map((r) => JSON.parse(r.payload) as { body: { event?: string; data?: { on?: boolean; reason?: string } } });
  t.same(events.filter((e) => e.body.event === 'board.display').map((e) => [e.body.data?.on, e.body.data?.reason]), [[false, 'schedule'], [true, 'emergency'], [false, 'schedule']]);
});

t.test('a board that cannot start leaves the station on air, and says so', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const s = await startStation({ board: { port: (taken.address() as { port: number }).port } });
  t.teardown(() => s.stop());
  t.equal(s.agent.board, null);
  t.match(s.agent.problems(), [/board could not start: .*EADDRINUSE/]);
  const alert = await s.tone('alert', { seconds: 1 });
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: '', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  const [row] = await s.rows(1);
  t.equal(row!.result, 'played', 'the emergency aired without the board');
});

t.test('a board that fails while following an emergency never stops it on the speakers', async (t) => {
  const s = await startStation({ board: { port: 0 } });
  t.teardown(() => s.stop());
  const board = s.agent.board!.server;
  // Fault injection: the board's server breaks the moment the emergency reaches it.
  board.setEmergency = () => { throw new Error('the board broke'); };
  const alert = await s.tone('alert', { seconds: 2 });
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Lũ quét', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  await until(() => s.agent.problems().some((p) => /board could not show request:flood: the board broke/.test(p)), 5000, 'the failure reported');
  const [row] = await s.rows(1);
  t.equal(row!.result, 'played', 'the emergency played to its end');
  const events = s.agent.store.outbox.next(100).map((r) => JSON.parse(r.payload) as { body: { event?: string; message?: string } });
  t.ok(events.some((e) => e.body.event === 'board.error' && /the board broke/.test(e.body.message ?? '')), 'and recorded for the province');
});
