#!/usr/bin/env node
// The station daemon (systemd runs it: systemd/loa-agent.service).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/agent/src/daemon/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('loa-agent: not built yet: run `npm run build` in the loa folder\n');
  process.exit(1);
}
const { runDaemon } = await import(entry.href);
await runDaemon(process.argv.slice(2));
