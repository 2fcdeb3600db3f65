/**
 * Child process for relays-sim.test.ts: opens the configured (simulated)
 * relay bank, switches outputs on, reports, then waits to be killed with
 * SIGKILL, as an agent that crashes mid-broadcast.
 */
import { RelaysSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/lib/logger.js';
import { RelayBank } from '../src/relays/bank.js';
import { createRelayDriver } from '../src/relays/factory.js';

const [stateDir, cfgJson, ...on] = process.argv.slice(2);
const cfg = RelaysSchema.parse(JSON.parse(cfgJson!));
const log = silentLogger();
const bank = new RelayBank(cfg, createRelayDriver(cfg, { stateDir: stateDir!, log }), { log });
await bank.open();
for (const name of on) await bank.set(name, true);
process.send!('switched');
setInterval(() => undefined, 1000);
