import { USAGE, keygen, runSimulator, schemas } from './simulator.js';

/** scripts/province: the provincial simulator's command line (see USAGE). */
async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'keygen' && rest[0]) return keygen(rest[0]);
  if (cmd === 'schemas' && rest[0]) return schemas(rest[0]);
  if (cmd === 'run') return runSimulator(rest, { input: process.stdin, write: (l) => process.stdout.write(l), signals: true });
  process.stderr.write(USAGE + '\n');
  process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`province: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
