/**
 * scripts/soak power [--rounds N] [--seed S] [--keep]: the power soak
 * (agent/bench/soak/power.ts) against the built daemon. Progress on stderr;
 * the last stdout line is one JSON object whose counters must all be 0.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LOA_ROOT } from '../src/version.js';
import { runPowerSoak } from './soak/power.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, keep: { type: 'boolean', default: false } } });
const result = await runPowerSoak({
  rounds: Number(values.rounds),
  seed: Number(values.seed),
  keep: values.keep,
  daemonEntry: join(LOA_ROOT, 'bin', 'loa-agent.js'),
  progress: (line) => process.stderr.write(`soak power: ${line}\n`),
});
const { problems, dir, ...counts } = result;
for (const p of problems) process.stderr.write(`soak power: ${p}\n`);
if (values.keep) process.stderr.write(`soak power: kept ${dir}\n`);
process.stdout.write(`${JSON.stringify({ soak: 'power', ...counts })}\n`);
process.exitCode = counts.lost + counts.doubled + counts.played_late + counts.unrecorded + counts.unheard + counts.unattributed === 0 && counts.integrity === 'ok' ? 0 : 1;
