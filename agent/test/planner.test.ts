import t from 'tap';
import { expandOccurrences } from '../src/schedule/planner.js';
import type { Programme } from '../src/domain/types.js';

const TZ = 'Asia/Ho_Chi_Minh';
const base: Omit<Programme, 'recurrence' | 'id'> = {
  name: 'Bản tin sáng', priority: 0, items: [{ content: 'a'.repeat(64), repeat: 1, gapMs: 0 }], zones: ['zone-1'], volume: 80,
};
const utc = (s: string): number => Date.parse(s);

t.test('a daily programme recurs at local station time', async (t) => {
  const p: Programme = { ...base, id: 'morning', recurrence: { kind: 'daily', time: '06:30' } };
  const occ = expandOccurrences([p], utc('2026-11-27T00:00:00Z'), utc('2026-11-29T00:00:00Z'), TZ);
  // 06:30 at UTC+7 is 23:30 UTC the day before.
  t.same(occ.map((o) => new Date(o.startMs).toISOString()), ['2026-11-27T23:30:00.000Z', '2026-11-28T23:30:00.000Z']);
  t.equal(occ[0]!.id, 'morning@2026-11-28T06:30:00');
});

t.test('weekdays and validity dates restrict a daily programme', async (t) => {
  const p: Programme = {
    ...base, id: 'market',
    recurrence: { kind: 'daily', time: '17:00:00', weekdays: [1, 3, 5], validFrom: '2026-11-30', validTo: '2026-12-06' },
  };
  const occ = expandOccurrences([p], utc('2026-11-20T00:00:00Z'), utc('2026-12-20T00:00:00Z'), TZ);
  // Mon 30 Nov, Wed 2 Dec, Fri 4 Dec only.
  t.same(occ.map((o) => o.id), ['market@2026-11-30T17:00:00', 'market@2026-12-02T17:00:00', 'market@2026-12-04T17:00:00']);
});

t.test('a one-off item appears once, only inside the window', async (t) => {
  const p: Programme = { ...base, id: 'flood-drill', recurrence: { kind: 'once', date: '2026-12-01', time: '08:00' } };
  t.equal(expandOccurrences([p], utc('2026-11-27T00:00:00Z'), utc('2026-12-02T00:00:00Z'), TZ).length, 1);
  t.equal(expandOccurrences([p], utc('2026-12-02T00:00:00Z'), utc('2026-12-03T00:00:00Z'), TZ).length, 0);
});

t.test('occurrences before the programme was known are not produced', async (t) => {
  const p = { ...base, id: 'new', recurrence: { kind: 'daily' as const, time: '06:00' }, knownSinceMs: utc('2026-11-27T12:00:00Z') };
  const occ = expandOccurrences([p], utc('2026-11-26T00:00:00Z'), utc('2026-11-29T00:00:00Z'), TZ);
  t.same(occ.map((o) => o.id), ['new@2026-11-28T06:00:00', 'new@2026-11-29T06:00:00']);
});

t.test('occurrences are ordered by start, then by priority', async (t) => {
  const a: Programme = { ...base, id: 'a', recurrence: { kind: 'daily', time: '07:00' } };
  const b: Programme = { ...base, id: 'b', priority: 5, recurrence: { kind: 'daily', time: '07:00' } };
  const occ = expandOccurrences([a, b], utc('2026-11-27T00:00:00Z'), utc('2026-11-27T01:00:00Z'), TZ);
  t.same(occ.map((o) => o.programmeId), ['b', 'a']);
});

t.test('a time zone with daylight saving: a time that does not exist is skipped forward, not lost', async (t) => {
  const p: Programme = { ...base, id: 'night', recurrence: { kind: 'daily', time: '02:30' } };
  const occ = expandOccurrences([p], utc('2026-03-28T00:00:00Z'), utc('2026-03-30T12:00:00Z'), 'Europe/Berlin');
  t.equal(occ.length, 3);
  // 29 March 02:30 does not exist in Berlin: it plays at 03:30 CEST (01:30 UTC).
  t.equal(new Date(occ[1]!.startMs).toISOString(), '2026-03-29T01:30:00.000Z');
});
