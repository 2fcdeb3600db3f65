/**
 * scripts/soak offline [--days N] [--keep]: the offline soak
 * (agent/bench/soak/offline.ts) against the built daemon. Progress on
 * stderr; the last stdout line is one JSON object; exit 0 when it held.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LOA_ROOT } from '../src/version.js';
import { offlineHeld, offlineLine, runOfflineSoak } from './soak/offline.js';

const { values } = parseArgs({ options: { days: { type: 'string', default: '30' }, keep: { type: 'boolean', default: false } } });
const result = await runOfflineSoak({
  days: Number(values.days),
  keep: values.keep,
  daemonEntry: join(LOA_ROOT, 'bin', 'loa-agent.js'),
  progress: (line) => process.stderr.write(`soak offline: ${line}\n`),
});
for (const p of result.problems) process.stderr.write(`soak offline: ${p}\n`);
process.stderr.write(
  `soak offline: backlog delivered in ${result.deliverS} s (${result.redelivered} redeliveries dropped by id); play log ${result.playDelivered}/${result.playRows} at the province; ` +
    `latest start ${result.maxLateMs} ms after its slot; rss max ${result.rssMaxMb} MB; ${result.durationS} s\n`,
);
if (values.keep) process.stderr.write(`soak offline: kept ${result.dir}\n`);
process.stdout.write(`${JSON.stringify(offlineLine(result))}\n`);
process.exitCode = offlineHeld(result) ? 0 : 1;
