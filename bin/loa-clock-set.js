#!/usr/bin/env node
// Sets the system clock from the RTC reading the agent handed over (systemd
// runs it: systemd/loa-clock-set.service, started by loa-clock-set.path).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/agent/src/', import.meta.url);
const entry = new URL('clock/rtc-handover.js', dist);
if (!existsSync(entry)) {
  process.stderr.write('loa-clock-set: not built yet: run `npm run build` in the loa folder\n');
  process.exit(1);
}
const { runClockSetter } = await import(entry.href);
const { createLogger } = await import(new URL('lib/logger.js', dist).href);
const result = await runClockSetter({ log: createLogger({ name: 'loa-clock-set' }) });
// A refusal is an answer; only a clock that should have been set and was not fails the unit.
process.exitCode = result?.reason === 'set-failed' ? 1 : 0;
