/**
 * The short offline soak (scripts/soak offline is the month): the real
 * daemon with sync configured and its broker down, six programmes a day,
 * its wall clock moved a day at a time by libfaketime, three days; then the
 * broker comes up. Every programme played once and on time (rows against
 * the sink), the outbox backlog delivered whole to the province, RSS and
 * the database bounded.
 */
import t from 'tap';
import { join } from 'node:path';
import { offlineHeld, offlineLine, runOfflineSoak } from '../bench/soak/offline.js';

t.test('three days offline: every programme once and on time, then the backlog delivered whole', async (t) => {
  const r = await runOfflineSoak({ days: 3, daemonEntry: join(import.meta.dirname, 'daemon-child.ts'), progress: (line) => t.comment(line), keep: process.env.LOA_SOAK_KEEP === '1' });
  t.comment(JSON.stringify(offlineLine(r)));
  t.comment(`delivered in ${r.deliverS} s, ${r.redelivered} redeliveries dropped by id, latest start +${r.maxLateMs} ms, ${r.durationS} s`);
  t.same(r.problems, [], 'nothing lost, doubled or late; backlog whole; RSS and database bounded');
  t.match(r, { programmes: 18, played: 18, late: 0, lost: 0, doubled: 0 });
  t.ok(r.backlog >= 18, `the backlog holds the month's rows (${r.backlog}, of which ${r.playRows} play-log rows)`);
  t.equal(r.delivered, r.backlog, 'every backlog row reached the province');
  t.equal(r.playDelivered, r.playRows, 'every play-log row reached the province');
  t.ok(offlineHeld(r));
});
