#!/usr/bin/env node
// Before every start of the agent (systemd ExecStartPre, from the previous release): a crash-looping update is rolled back.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/agent/src/update/boot-check.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('loa-boot-check: not built (no dist): nothing checked\n');
  process.exit(0);
}
const { runBootCheck } = await import(entry.href);
await runBootCheck(process.argv.slice(2));
