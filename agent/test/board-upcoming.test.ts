/** What the board will show next, predicted by following the planner's deadlines (no clock, no I/O). */
import t from 'tap';
import { TZ, local, playlist, defaults } from './board-fixture.js';
import { boardUpcoming, FALLBACK_RECHECK_MS, type UpcomingShowing } from '../src/board/playlist.js';

const hms = (ms: number): string => new Date(ms + 7 * 3600_000).toISOString().slice(11, 19);
/** "source/item start-end" lines: easy to read when a test fails. */
const plan = (list: UpcomingShowing[]): string[] => list.map((s) => `${s.source}/${s.item.id} ${hms(s.startMs)}-${hms(s.endMs)}`);



t.test('the rotation, in order, each item for its duration; the one under way starts at the instant asked', async (t) => {
  const list = boardUpcoming(local('2026-11-27T10:00:05'), TZ, [], defaults, 4);
  t.same(plan(list), [
    'default/n1 10:00:05-10:00:20',
    'default/clock 10:00:20-10:00:30',
    'default/n1 10:00:30-10:00:50',
    'default/clock 10:00:50-10:01:00',
  ]);
  t.equal(list[1]!.item.kind, 'clock');
  t.equal(new Set(list.map((s) => s.key)).size, 4, 'every showing has its own key');
  t.same(boardUpcoming(local('2026-11-27T10:00:05'), TZ, [], defaults, 0), []);
});

t.test('a daypart opening cuts the default short, its items follow, and the default resumes at the window end', async (t) => {
  const market = playlist({
    id: 'market',
    dayparts: [{ from: '07:00', to: '07:01' }],
    items: [{ kind: 'text', id: 'm1', durationS: 25, text: 'Giá lúa' }, { kind: 'text', id: 'm2', durationS: 25, text: 'Giá ngô' }],
  });
  t.same(plan(boardUpcoming(local('2026-11-27T06:59:45'), TZ, [market], defaults, 6)), [
    'default/n1 06:59:45-06:59:50',
    'default/clock 06:59:50-07:00:00',
    'market/m1 07:00:00-07:00:25',
    'market/m2 07:00:25-07:00:50',
    'market/m1 07:00:50-07:01:00',
    // The default rotates from midnight: 07:01:00 falls 10 s into a 30 s cycle, inside n1.
    'default/n1 07:01:00-07:01:20',
  ]);
});

t.test('a lower playlist opening beneath the one on screen does not split its showing', async (t) => {
  const high = playlist({ id: 'high', priority: 5, dayparts: [{ from: '08:00', to: '09:00' }], items: [{ kind: 'clock', id: 'h', durationS: 600 }] });
  const low = playlist({ id: 'low', dayparts: [{ from: '08:05', to: '10:00' }] });
  t.same(plan(boardUpcoming(local('2026-11-27T08:00:00'), TZ, [high, low], defaults, 2)), [
    'high/h 08:00:00-08:10:00',
    'high/h 08:10:00-08:20:00',
  ]);
});

t.test('nothing playable: the fallback clock, one recheck at a time; the default takes over from an expired playlist', async (t) => {
  const onlyImage = playlist({ id: 'img', items: [{ kind: 'image', id: 'i', durationS: 10, content: 'b'.repeat(64) }] });
  const from = local('2026-11-27T10:00:00');
  const list = boardUpcoming(from, TZ, [], onlyImage, 2, { hasContent: () => false });
  t.same(list.map((s) => [s.source, s.item.kind, s.startMs - from, s.endMs - from]), [
    ['fallback', 'clock', 0, FALLBACK_RECHECK_MS],
    ['fallback', 'clock', FALLBACK_RECHECK_MS, 2 * FALLBACK_RECHECK_MS],
  ]);
  t.equal(boardUpcoming(from, TZ, [], onlyImage, 1)[0]!.item.id, 'i', 'shown once its file is cached');

  const expired = playlist({ id: 'old', dayparts: [{ validTo: '2026-11-26' }] });
  t.same(plan(boardUpcoming(local('2026-11-27T00:00:00'), TZ, [expired], defaults, 1)), ['default/n1 00:00:00-00:00:20']);
});
