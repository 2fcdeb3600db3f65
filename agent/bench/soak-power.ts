/**
 * scripts/soak power [--rounds N] [--seed S] [--keep]: the power soak
 * (agent/bench/soak/power.ts) against the built daemon. Progress on stderr;
 * the last stdout line is one JSON object whose counters must all be 0.
 * --sync: the province link too (targets carry the schedule, the outbox
 * every row, judged for delivery).
 * scripts/soak power --judge DIR: a kept run's folder judged again (the
 * counters only: what the run did to the agent is in its own last line).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LOA_ROOT } from '../src/version.js';
import { judgeFolder, runPowerSoak } from './soak/power.js';
import { countsOf } from './soak/judge.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, keep: { type: 'boolean', default: false }, sync: { type: 'boolean', default: false }, judge: { type: 'string' } } });
const say = (line: string): void => void process.stderr.write(`soak power: ${line}\n`);
type Counts = { lost: number; doubled: number; played_late: number; unrecorded: number; unheard: number; unattributed: number; integrity: string; delivery?: { undelivered: number; unknown_at_province: number } };
const held = (c: Counts): boolean =>
  c.lost + c.doubled + c.played_late + c.unrecorded + c.unheard + c.unattributed + (c.delivery?.undelivered ?? 0) + (c.delivery?.unknown_at_province ?? 0) === 0 && c.integrity === 'ok';
if (values.judge) {
  const { verdict, integrity, rows, delivery } = judgeFolder(values.judge);
  const counts = countsOf(verdict);
  for (const p of [...verdict.problems, ...(delivery?.problems ?? [])]) say(p);
  const out = { soak: 'power', judged: values.judge, ...counts, integrity, rows, ...(delivery ? { delivery: countsOf(delivery) } : {}) };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exitCode = held(out) ? 0 : 1;
} else {
  const result = await runPowerSoak({
    rounds: Number(values.rounds),
    seed: Number(values.seed),
    keep: values.keep,
    sync: values.sync,
    daemonEntry: join(LOA_ROOT, 'bin', 'loa-agent.js'),
    progress: say,
  });
  const { problems, dir, ...counts } = result;
  for (const p of problems) say(p);
  if (values.keep) say(`kept ${dir}`);
  process.stdout.write(`${JSON.stringify({ soak: 'power', ...counts })}\n`);
  process.exitCode = held(counts) ? 0 : 1;
}
