#!/usr/bin/env node
// The `loa` command for field staff. Runs the compiled agent (npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/agent/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('loa: not built yet: run `npm run build` in the loa folder\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
