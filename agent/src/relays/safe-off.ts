import type { RelaysConfig } from '../config/schema.js';
import { RelayBank } from './bank.js';
import { createRelayDriver, type RelayDriverDeps } from './factory.js';

/**
 * Drives every configured relay output off, from a process of its own.
 * systemd runs it (`loa safe-off`) as ExecStopPost=, after the agent has
 * stopped for any reason, crash and `kill -9` included: the pins keep the
 * last level the agent wrote, so only another process can make them safe.
 * Returns the outputs it switched off, for the command's output.
 */
export async function safeOff(cfg: RelaysConfig, deps: RelayDriverDeps): Promise<{ driver: string; outputs: string[] }> {
  const bank = new RelayBank(cfg, createRelayDriver(cfg, deps), { log: deps.log });
  // open() drives every line to its off level before anything else.
  await bank.open();
  await bank.close();
  return { driver: bank.driverKind, outputs: bank.outputs().map((o) => o.name) };
}
