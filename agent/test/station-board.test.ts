import t from 'tap';
import { startStation } from './station-fixture.js';

t.test('an emergency on the speakers takes over the board at once, and gives it back', async (t) => {
  const s = await startStation({ board: { port: 0 } });
  t.teardown(() => s.stop());
  const board = s.agent.board!;
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
