/** The power soak's verdict as data: each counter is 0 for a faithful run and counts the fault it names. */
import t from 'tap';
import { judge, judgeDelivery, type HeardRun, type JudgeInput, type LoggedRow, type SoakRound } from '../bench/soak/judge.js';

const a = { content: 'aa', freq: 440, durationMs: 2000 };
const b = { content: 'bb', freq: 660, durationMs: 3000 };
const programmes = [{ id: 'p0', atMs: 100_000, items: [a, b] }];
const round = (n: number, spawnMs: number, killMs: number, over: Partial<SoakRound> = {}): SoakRound => ({
  n, spawnMs, readyMs: spawnMs + 1000, killMs, cut: false, fault: 'none', exit: 'SIGKILL', playing: [{ atMs: spawnMs + 1500, key: 'occurrence:p0@x' }], sinkMs: 1000, ...over,
});
const played = (content: string, startedMs: number): LoggedRow => ({ programmeId: 'p0', content, result: 'played', reason: null, startedMs });
const interrupted = (content: string): LoggedRow => ({ programmeId: 'p0', content, result: 'interrupted', reason: 'agent stopped while on air (crash or power loss)', startedMs: null });
const heard = (n: number, freq: number, durationS: number, atKill = false): HeardRun => ({ round: n, freq, durationS, atKill });

/** a plays, the plug is pulled 1 s into b, the restarted agent plays b whole. */
function faithful(): JudgeInput {
  return {
    programmes,
    rounds: [round(1, 90_000, 104_000), round(2, 105_000, 160_000)],
    rows: [played('aa', 100_100), interrupted('bb'), played('bb', 106_500)],
    heard: [heard(1, 440, 2), heard(1, 660, 1, true), heard(2, 660, 3)],
    graceMs: 20_000,
    endMs: 160_000,
  };
}

const zeros = { lost: 0, doubled: 0, played_late: 0, unrecorded: 0, unheard: 0, unattributed: 0 };

t.test('a faithful crash and resume: every counter 0', async (t) => {
  const v = judge(faithful());
  t.match(v, { ...zeros, judged_items: 2, played: 2 });
  t.same(v.problems, []);
});

t.test('an item replayed after the restart is doubled, at the sink and in the rows', async (t) => {
  const atSink = faithful();
  atSink.heard.push(heard(2, 440, 2));
  t.match(judge(atSink), { doubled: 1 });
  const inRows = faithful();
  inRows.rows.push(played('aa', 106_000));
  t.match(judge(inRows), { doubled: 1 });
  const cutAtEnd = faithful();
  cutAtEnd.heard = [heard(1, 440, 2, true), heard(2, 440, 2), heard(2, 660, 3)];
  cutAtEnd.rows = [interrupted('aa'), played('aa', 106_000), played('bb', 108_500)];
  t.match(judge(cutAtEnd), { ...zeros, whole_at_kill: 1 }, 'heard whole as the plug was pulled (row not yet committed), then replayed: the rule working');
});

t.test('a resume after the grace window from when it was last heard is played late', async (t) => {
  const late = faithful();
  // Restarts at 105 s and 118 s die before any sound (status shows it, nothing at the sink); it plays at 131 s.
  late.rounds = [round(1, 90_000, 104_000), round(2, 105_000, 108_000, { sinkMs: 0 }), round(3, 118_000, 121_000, { sinkMs: 0 }), round(4, 130_000, 160_000)];
  late.rows = [played('aa', 100_100), interrupted('bb'), interrupted('bb'), interrupted('bb'), played('bb', 131_000)];
  late.heard = [heard(1, 440, 2), heard(1, 660, 1, true), heard(4, 660, 3)];
  const v = judge(late);
  t.match(v, { played_late: 1, lost: 0, doubled: 0 });
  t.match(v.problems[0], /played late: p0 item 1/);
});

t.test('an item never played after a short outage is lost; after a long one it is excused', async (t) => {
  const lost = faithful();
  lost.rows = [played('aa', 100_100), interrupted('bb')];
  lost.heard = [heard(1, 440, 2), heard(1, 660, 1, true)];
  lost.rounds[1]!.playing = [];
  t.match(judge(lost), { lost: 1, excused: 0 });
  const outage = { ...lost, rounds: [round(1, 90_000, 104_000), round(2, 140_000, 160_000, { playing: [] })] };
  t.match(judge(outage), { lost: 0, excused: 1 });
});

t.test('a row lost with the power, a row with nothing heard, a tone from nowhere', async (t) => {
  const unrecorded = faithful();
  unrecorded.rows = unrecorded.rows.filter((r) => r.content !== 'aa');
  t.match(judge(unrecorded), { unrecorded: 1, doubled: 0 });
  const unheard = faithful();
  unheard.heard = unheard.heard.filter((h) => h.freq !== 440);
  t.match(judge(unheard), { unheard: 1 });
  const stray = faithful();
  stray.heard.push(heard(2, 1000, 2));
  t.match(judge(stray), { unattributed: 1 });
});

t.test('power that never stays on long enough excuses an item; once it does, the item is owed', async (t) => {
  const flicker = faithful();
  // b is cut again and again by rounds of 4 s (up for 3 s, shorter than b with a start's slack), then never resumed.
  flicker.rounds = [round(1, 90_000, 104_000), round(2, 105_000, 109_000), round(3, 110_000, 114_000), round(4, 115_000, 119_000), round(5, 120_000, 124_000), round(6, 125_000, 129_000)];
  flicker.rows = [played('aa', 100_100), interrupted('bb'), interrupted('bb'), interrupted('bb'), interrupted('bb'), interrupted('bb')];
  flicker.heard = [heard(1, 440, 2), heard(1, 660, 1, true), heard(2, 660, 1.5, true), heard(3, 660, 1.5, true), heard(4, 660, 1.5, true), heard(5, 660, 1.5, true)];
  flicker.endMs = 200_000;
  t.match(judge(flicker), { ...zeros, excused: 1 });
  const heldOnce = { ...flicker, rounds: [...flicker.rounds.slice(0, 5), round(6, 125_000, 200_000)] };
  t.match(judge(heldOnce), { lost: 1 }, 'a round up from 126 s in its window could have played it');
});

t.test('an item heard whole in a round whose disk took no row, then replayed, is the rule working', async (t) => {
  const full = faithful();
  full.rounds[1] = round(2, 105_000, 112_000, { fault: 'full-disk' });
  full.rounds.push(round(3, 113_000, 160_000));
  full.rows = [played('aa', 100_100), interrupted('bb'), played('bb', 114_500)];
  full.heard = [heard(1, 440, 2), heard(1, 660, 1, true), heard(2, 660, 3), heard(3, 660, 3)];
  t.match(judge(full), { doubled: 0, replayed_unrecordable: 1 });
  const healthy = { ...full, rounds: full.rounds.map((r) => ({ ...r, fault: 'none' as const })) };
  t.match(judge(healthy), { doubled: 1, replayed_unrecordable: 0 }, 'on a healthy disk the same replay is a double');
});

t.test('a hearing belongs to the programme on air in its round, however late that round is', async (t) => {
  const late = faithful();
  // b is heard again in a round two minutes on, on air there by `loa status`: its own, not a tone from nowhere.
  late.rounds = [round(1, 90_000, 104_000), round(2, 230_000, 260_000)];
  late.rows = [played('aa', 100_100), interrupted('bb'), played('bb', 231_500)];
  late.endMs = 260_000;
  t.match(judge(late), { unattributed: 0, unheard: 0 });
  const silent = { ...late, rounds: [late.rounds[0]!, { ...late.rounds[1]!, playing: [] }] };
  t.match(judge(silent), { unattributed: 1 }, 'not on air there and long past due: from nowhere');
});

t.test('the province link under the same cuts: every kept row delivered, nothing delivered that the station lost', async (t) => {
  t.match(judgeDelivery(['r1', 'r2', 'r3'], ['r1', 'r2', 'r3']), { rows: 3, delivered: 3, undelivered: 0, unknown_at_province: 0, problems: [] });
  t.match(judgeDelivery(['r1', 'r2', 'r3'], ['r1', 'r3']), { delivered: 2, undelivered: 1 }, 'a row left behind');
  const lost = judgeDelivery(['r1'], ['r1', 'r2']);
  t.match(lost, { undelivered: 0, unknown_at_province: 1 }, 'a row published before its commit was durable');
  t.match(lost.problems[0], /r2 was reported, then lost/);
  t.match(judgeDelivery(['r1', 'r2'], ['r1'], ['r2']), { delivered: 1, undelivered: 0, queued: 1, problems: [] }, 'a row still in the outbox is kept for the next connection, not lost');
});
