import t from 'tap';
import { fork } from 'node:child_process';
import { join } from 'node:path';

/** Runs the child; resolves with its exit code and what it reported before exiting. */
function run(args: string[]): Promise<{ code: number | null; report: { recorded: string[]; problems: string[] } | null; stderr: string }> {
  const child = fork(join(import.meta.dirname, 'fault-guard-child.ts'), args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  let report: { recorded: string[]; problems: string[] } | null = null;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('message', (m) => (report = m as typeof report));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, report, stderr })));
}

t.test('errors thrown in a listener, a microtask, a timer or a forgotten promise are reported, and the process lives', async (t) => {
  const r = await run([]);
  t.equal(r.code, 0, 'the process ran to its own end');
  t.same(r.report?.recorded.sort(), [
    'uncaughtException: Error: thrown in a listener',
    'uncaughtException: RangeError: thrown in a timer',
    'uncaughtException: TypeError: thrown in a microtask',
    'unhandledRejection: Error: a promise nobody awaited',
  ], 'each recorded with how it escaped and what it said');
  t.match(r.report?.problems, [/internal error caught \(4 since start, .*\): .*the agent kept running/], 'one problem line for loa status');
  t.match(r.stderr, /thrown in a microtask/, 'logged, with the error');
});

t.test('a storm of uncaught errors ends the process for a clean restart (EX_SOFTWARE)', async (t) => {
  const r = await run(['storm']);
  t.equal(r.code, 70);
  t.equal(r.report, null, 'it did not run on');
  t.match(r.stderr, /uncaught errors keep coming/);
});
