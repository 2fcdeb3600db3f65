import { USAGE, keygen, release, runSimulator, schemas } from './simulator.js';
import { ENROLMENT_USAGE, enrolmentCommand } from './enrolment-cli.js';

/** scripts/province: the provincial simulator's command line (see USAGE). */
async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'keygen' && rest[0]) return keygen(rest[0]);
  if (cmd === 'schemas' && rest[0]) return schemas(rest[0]);
  if (cmd === 'release') return release(rest);
  if (cmd === 'run') return runSimulator(rest, { input: process.stdin, write: (l) => process.stdout.write(l), signals: true });
  if (cmd && ['serve', 'pending', 'approve', 'reject', 'token'].includes(cmd)) {
    process.exitCode = await enrolmentCommand(cmd, rest);
    return;
  }
  process.stderr.write(USAGE + '\n' + ENROLMENT_USAGE + '\n');
  process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`province: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
