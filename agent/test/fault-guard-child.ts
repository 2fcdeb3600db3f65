/** A process with the daemon's last-resort handlers, throwing the ways a listener, a microtask, a timer and a forgotten promise can. */
import { EventEmitter } from 'node:events';
import { FaultGuard } from '../src/daemon/fault-guard.js';
import { createLogger } from '../src/lib/logger.js';

const storm = process.argv[2] === 'storm';
const guard = new FaultGuard({ log: createLogger({ level: 'error' }), exit: (code) => process.exit(code), storm: { count: storm ? 3 : 20, windowMs: 60_000 } });
guard.install();
const recorded: string[] = [];
guard.recordTo((f) => recorded.push(`${f.origin}: ${f.message}`));

const bus = new EventEmitter();
bus.on('session', () => { throw new Error('thrown in a listener'); });
setTimeout(() => bus.emit('session'), 10);
queueMicrotask(() => { throw new TypeError('thrown in a microtask'); });
setTimeout(() => { throw new RangeError('thrown in a timer'); }, 20);
void Promise.reject(new Error('a promise nobody awaited'));
if (storm) for (let i = 0; i < 5; i++) setTimeout(() => { throw new Error(`storm ${i}`); }, 50 + i);
setTimeout(() => {
  process.send!({ recorded, problems: guard.problems() });
  process.exit(0);
}, 300);
