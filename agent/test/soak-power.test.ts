/**
 * The short power soak (scripts/soak power is the long one): the real
 * daemon, its state folder on powercut-fs (a FUSE layer that loses unsynced
 * writes), five rounds aimed at programmes on air: two power cuts and
 * three kill -9, one of them while a resumed programme plays, one as a new
 * target is applied. With the province link on the project's Mosquitto:
 * the schedule comes in signed targets and every row leaves through the
 * outbox. Then the schedule against the surviving rows and the sink:
 * nothing lost, doubled, played late, unrecorded or unheard, the database
 * intact; and every row the station kept at the province, none it lost.
 */
import t from 'tap';
import { join } from 'node:path';
import { runPowerSoak, type RoundPlan } from '../bench/soak/power.js';

t.test('kill -9 and power cuts during programmes: nothing lost, doubled or played late', async (t) => {
  const plans: RoundPlan[] = [
    { upMs: 2500, whilePlaying: true, downMs: 300, cut: true, fault: 'none' }, // a power cut in the first programme
    { upMs: 1500, whilePlaying: true, downMs: 300, cut: false, fault: 'none' }, // kill -9 as it resumes
    { upMs: 3000, whilePlaying: true, downMs: 300, cut: true, fault: 'none', importSchedule: true }, // a new target on the way
    { upMs: 4000, whilePlaying: true, downMs: 300, cut: false, fault: 'none' },
    { upMs: 800, downMs: 300, cut: false, fault: 'none' }, // during startup
  ];
  const r = await runPowerSoak({
    rounds: plans.length,
    plan: (n) => plans[n - 1]!,
    cycle: 4, // short items and one of 10 s
    settleMs: 20_000,
    sync: true,
    daemonEntry: join(import.meta.dirname, 'daemon-child.ts'),
    progress: (line) => t.comment(line),
    keep: process.env.LOA_SOAK_KEEP === '1',
  });
  t.comment(JSON.stringify({ ...r, problems: r.problems.length }));
  t.same(r.problems, [], 'no item lost, doubled, played late, unrecorded or unheard');
  t.match(r, { lost: 0, doubled: 0, played_late: 0, unrecorded: 0, unheard: 0, unattributed: 0, integrity: 'ok', db_rebuilt: 0, start_failures: 0 });
  t.equal(r.cuts, 2, 'two power cuts through the FUSE layer');
  t.match(r.delivery, { undelivered: 0, unknown_at_province: 0 }, `every row the station kept reached the province, and only those (${JSON.stringify(r.delivery)})`);
  t.ok(r.delivery!.rows >= 5, 'the rows of every cut and of what played');
  t.equal(r.kills, 5);
  t.ok(r.judged_items >= 2 && r.played >= 2, `programmes judged: ${r.judged_items} items, ${r.played} played`);
});
