#!/usr/bin/env node
// The kiosk browser with its DevTools on the unit's socket, not a TCP port
// (systemd runs it under cage: systemd/loa-board.service, loa-board.socket).
// Usage: loa-board-devtools.js BROWSER [FLAGS...] --remote-debugging-pipe URL
import { existsSync } from 'node:fs';

const dist = new URL('../dist/agent/src/', import.meta.url);
const entry = new URL('board/devtools-relay.js', dist);
if (!existsSync(entry)) {
  process.stderr.write('loa-board-devtools: not built yet: run `npm run build` in the loa folder\n');
  process.exit(1);
}
const { runDevtoolsRelay } = await import(entry.href);
const { createLogger } = await import(new URL('lib/logger.js', dist).href);
// The browser's exit code, or 78 when the unit is set up wrong.
process.exit(await runDevtoolsRelay(process.argv.slice(2), createLogger({ name: 'loa-board-devtools' })));
