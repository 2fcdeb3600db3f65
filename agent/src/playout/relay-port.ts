import type { RelaysConfig } from '../config/schema.js';
import type { RelayBank } from '../relays/bank.js';
import { leadTimeMs, planPowerDown, planPowerUp, runSteps } from '../relays/sequence.js';
import type { RelayPort } from './ports.js';

/**
 * The relay bank seen from the playout. Sequences never overlap: a power-up
 * waits for an aborted power-down to settle, so it plans from the real
 * state of the contacts.
 */
export function relayPort(bank: RelayBank, cfg: RelaysConfig, now: () => number = Date.now): RelayPort {
  let last: Promise<unknown> = Promise.resolve();
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const run = last.catch(() => undefined).then(op);
    last = run;
    return run;
  };
  return {
    leadMs: (zones) => leadTimeMs(zones, cfg),
    powerUp: (zones, audioStartMs, signal) =>
      serial(async () => {
        const plan = planPowerUp({ zones, cfg, audioStartMs, nowMs: now(), current: bank.current() });
        await runSteps(bank, plan.steps, signal, now);
        return plan.audioStartMs;
      }),
    powerDown: (signal) =>
      serial(async () => {
        await runSteps(bank, planPowerDown({ audioEndMs: now(), cfg, current: bank.current() }), signal, now);
      }),
    allOff: () => serial(() => bank.allOff()),
    exclusive: (op) => serial(op),
  };
}
