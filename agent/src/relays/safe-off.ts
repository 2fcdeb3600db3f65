import type { RelaysConfig } from '../config/schema.js';
import type { BridgeConfig } from '../../../firmware-bridge/src/config.js';
import { isOnAt, RelayBank } from './bank.js';
import type { Level } from './driver.js';
import { createRelayDriver, type RelayDriverDeps } from './factory.js';

/** How long `loa safe-off` waits for the microcontroller: inside the unit's TimeoutStopSec (20 s), which bounds ExecStopPost too. */
const BRIDGE_OPEN_TIMEOUT_MS = 15_000;

/**
 * Drives every configured relay output off, from a process of its own.
 * systemd runs it (`loa safe-off`) as ExecStopPost=, after the agent has
 * stopped for any reason, crash and `kill -9` included: the pins (and the
 * microcontroller's coils) keep the last level the agent wrote, so only
 * another process can make them safe. With the firmware bridge it opens the
 * serial line itself and switches off every channel the microcontroller
 * has, configured or not, then reads them back.
 * Returns the outputs it switched off, for the command's output.
 */
export async function safeOff(
  cfg: RelaysConfig,
  deps: RelayDriverDeps & { bridgeConfig?: BridgeConfig },
): Promise<{ driver: string; outputs: string[] }> {
  if (cfg.driver === 'bridge' && !deps.bridge) return bridgeSafeOff(cfg, deps);
  const bank = new RelayBank(cfg, createRelayDriver(cfg, deps), { log: deps.log });
  // open() drives every line to its off level before anything else.
  await bank.open();
  await bank.close();
  return { driver: bank.driverKind, outputs: bank.outputs().map((o) => o.name) };
}

async function bridgeSafeOff(cfg: RelaysConfig, deps: RelayDriverDeps & { bridgeConfig?: BridgeConfig }): Promise<{ driver: string; outputs: string[] }> {
  if (!deps.bridgeConfig) throw new Error('relays.driver is "bridge" but the configuration has no bridge section: cannot reach the microcontroller');
  const { BridgeRelayDriver, createBridgeClient } = await import('../../../firmware-bridge/src/index.js');
  const client = createBridgeClient(deps.bridgeConfig, deps.log);
  try {
    const bank = new RelayBank(cfg, new BridgeRelayDriver(client, { requireLink: true, openTimeoutMs: BRIDGE_OPEN_TIMEOUT_MS }), { log: deps.log });
    client.start();
    // open() drives every configured output to its off level (active-low ones included) and checks the read-back.
    await bank.open();
    const configured = bank.outputs().reduce((m, o) => m | (1 << o.line), 0);
    const others = ((1 << client.info!.relayCount) - 1) & ~configured;
    if (others !== 0) await client.setRelays(others, 0);
    const levels = await client.readRelays();
    const left = [
      ...bank.outputs().filter((o) => isOnAt(o, ((levels >> o.line) & 1) as Level)).map((o) => o.name),
      ...[...Array(16).keys()].filter((ch) => (others >> ch) & 1 && (levels >> ch) & 1).map((ch) => `channel ${ch}`),
    ];
    if (left.length > 0) throw new Error(`relay outputs still on after safe-off, read back from the microcontroller: ${left.join(', ')}`);
    await bank.close();
    return { driver: 'bridge', outputs: bank.outputs().map((o) => o.name) };
  } finally {
    await client.close();
  }
}
