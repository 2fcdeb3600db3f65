import t from 'tap';
import { decide, type ArbiterInput, type OccurrenceRecord } from '../src/schedule/arbiter.js';
import type { Occurrence } from '../src/domain/types.js';

const min = 60_000;
const T0 = Date.UTC(2026, 10, 27, 0, 0, 0); // 07:00 in Asia/Ho_Chi_Minh
const occ = (id: string, startMs: number, priority = 0): Occurrence => ({ id, programmeId: id.split('@')[0]!, startMs, priority });

function input(over: Partial<ArbiterInput>): ArbiterInput {
  return {
    nowMs: T0,
    clockTrusted: true,
    occurrences: [],
    records: new Map(),
    requests: [],
    playing: null,
    graceMs: 5 * min,
    leadFor: () => 3000,
    ...over,
  };
}

t.test('nothing due: sleeps until the next occurrence opens (start minus lead)', async (t) => {
  const d = decide(input({ occurrences: [occ('a@1', T0 + 10 * min)] }));
  t.equal(d.next, null);
  t.equal(d.wakeAtMs, T0 + 10 * min - 3000);
  t.same(d.missed, []);
});

t.test('an occurrence starts inside its lead window, before its instant', async (t) => {
  const d = decide(input({ nowMs: T0 - 2000, occurrences: [occ('a@1', T0)] }));
  t.equal(d.next?.key, 'occurrence:a@1');
  t.equal(d.preempt, false);
});

t.test('late within grace still plays; past grace it is missed, never played late', async (t) => {
  const late = decide(input({ nowMs: T0 + 4 * min, occurrences: [occ('a@1', T0)] }));
  t.equal(late.next?.key, 'occurrence:a@1');
  const tooLate = decide(input({ nowMs: T0 + 6 * min, occurrences: [occ('a@1', T0)] }));
  t.equal(tooLate.next, null);
  t.same(tooLate.missed.map((o) => o.id), ['a@1']);
});

t.test('an untrusted clock holds every scheduled programme but never an emergency', async (t) => {
  const d = decide(input({
    clockTrusted: false,
    occurrences: [occ('a@1', T0 - 10 * min), occ('b@1', T0)],
    requests: [{ id: 'flood', priority: 9, createdMs: T0 }],
  }));
  t.same(d.missed, [], 'nothing is judged missed while the time is unknown');
  t.equal(d.next?.key, 'request:flood');
  const quiet = decide(input({ clockTrusted: false, occurrences: [occ('b@1', T0)] }));
  t.equal(quiet.next, null);
  t.equal(quiet.wakeAtMs, null);
});

t.test('an emergency preempts a normal programme; a normal request does not', async (t) => {
  const playing = { key: 'occurrence:a@1', priority: 0 };
  const e = decide(input({ playing, requests: [{ id: 'fire', priority: 9, createdMs: T0 }] }));
  t.equal(e.next?.key, 'request:fire');
  t.equal(e.preempt, true);
  const n = decide(input({ playing, requests: [{ id: 'song', priority: 0, createdMs: T0 }] }));
  t.equal(n.next, null);
  t.equal(n.preempt, false);
});

t.test('an emergency is never cut by another emergency; they play in arrival order', async (t) => {
  const requests = [
    { id: 'second', priority: 9, createdMs: T0 + 1000 },
    { id: 'first', priority: 9, createdMs: T0 },
  ];
  const playingFirst = decide(input({ playing: { key: 'request:first', priority: 9 }, requests: requests.slice(0, 1) }));
  t.equal(playingFirst.next, null);
  const idle = decide(input({ requests }));
  t.equal(idle.next?.key, 'request:first');
});

t.test('a higher-priority programme preempts a lower one at its start', async (t) => {
  const d = decide(input({
    nowMs: T0,
    playing: { key: 'occurrence:music@1', priority: 0 },
    occurrences: [occ('news@1', T0, 5)],
  }));
  t.equal(d.next?.key, 'occurrence:news@1');
  t.equal(d.preempt, true);
});

t.test('an interrupted occurrence resumes within grace of its interruption, then is missed', async (t) => {
  const records = new Map<string, OccurrenceRecord>([
    ['a@1', { state: 'interrupted', resume: { item: 2, offsetMs: 1500 }, updatedMs: T0 + 10 * min }],
  ]);
  const occurrences = [occ('a@1', T0)];
  const soon = decide(input({ nowMs: T0 + 12 * min, occurrences, records }));
  t.equal(soon.next?.kind, 'occurrence');
  t.same(soon.next?.kind === 'occurrence' && soon.next.resume, { item: 2, offsetMs: 1500 });
  const later = decide(input({ nowMs: T0 + 16 * min, occurrences, records }));
  t.equal(later.next, null);
  t.same(later.missed.map((o) => o.id), ['a@1']);
});

t.test('done and missed occurrences are never considered again', async (t) => {
  const records = new Map<string, OccurrenceRecord>([
    ['a@1', { state: 'done', resume: { item: 0, offsetMs: 0 }, updatedMs: T0 }],
    ['b@1', { state: 'missed', resume: { item: 0, offsetMs: 0 }, updatedMs: T0 }],
  ]);
  const d = decide(input({ nowMs: T0 + 1000, occurrences: [occ('a@1', T0), occ('b@1', T0)], records }));
  t.equal(d.next, null);
  t.same(d.missed, []);
});

t.test('a programme waiting behind an equal one wakes the arbiter at its grace end', async (t) => {
  const d = decide(input({
    nowMs: T0 + 1000,
    playing: { key: 'occurrence:a@1', priority: 0 },
    occurrences: [occ('b@1', T0)],
  }));
  t.equal(d.next, null);
  t.equal(d.wakeAtMs, T0 + 5 * min + 1);
});
