import { mkdirSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { RelayBank } from '../relays/bank.js';
import { createRelayDriver } from '../relays/factory.js';
import { createLogger } from '../lib/logger.js';
import { both, finding, type Finding } from './finding.js';
import type { Probes } from './probes.js';

export type RelayRpc = <T = unknown>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;

/** How long a click holds a relay on: long enough to hear, too short to power an amplifier up. */
export const CLICK_MS = 300;

/** What a click read back from the hardware: the contact on while asked on, off again after. */
export interface ClickResult {
  name: string;
  onReadBack: boolean;
  offReadBack: boolean;
}

export function clickFinding(r: ClickResult): Finding {
  return r.onReadBack && !r.offReadBack
    ? finding('relays', 'relays.click-ok', 'ok', both('clickOk', { name: r.name, ms: CLICK_MS }))
    : finding('relays', 'relays.click-failed', 'fail', both('clickFailed', { name: r.name, on: String(r.onReadBack), off: String(r.offReadBack) }), both('clickFailedFix', { name: r.name }));
}

/**
 * Each relay output. The agent owns the relays while it runs: then the
 * states come from it, and a click (`--click`) is its job, in the
 * conductor's queue (refused while on air). With the agent down, the doctor
 * is the only one switching, and clicks through the same driver.
 */
export async function relayFindings(config: Config, o: { running: boolean; relays: Array<{ name: string; on: boolean }> | null; click: boolean; rpc: RelayRpc; probes: Probes }): Promise<Finding[]> {
  const r = config.relays;
  const out: Finding[] = [driverFinding(config, o.probes)];
  const outputs = [...r.amplifiers, ...r.zones];
  if (o.click) {
    if (o.running) {
      for (const x of outputs) {
        try {
          out.push(clickFinding(await o.rpc<ClickResult>('relay.click', { name: x.name }, 30_000)));
        } catch (err) {
          out.push(finding('relays', 'relays.click-refused', 'warn', both('clickRefused', { name: x.name, why: (err as Error).message }), both('clickRefusedFix')));
        }
      }
      return out;
    }
    if (r.driver === 'bridge') return [...out, finding('relays', 'relays.click-needs-agent', 'skip', both('clickNeedsAgent'), both('agentDownFix'))];
    return [...out, ...(await clickDirect(config))];
  }
  for (const x of outputs) {
    const state = o.relays?.find((s) => s.name === x.name);
    out.push(
      state
        ? finding('relays', 'relays.state', 'ok', both(state.on ? 'relayOn' : 'relayOff', { name: x.name, line: x.line }))
        : finding('relays', 'relays.not-tested', 'skip', both('relayNotTested', { name: x.name, line: x.line }), both('relayNotTestedFix')),
    );
  }
  return out;
}

/** With the agent down: on, read back, off, read back, one output at a time, every output off at the end. */
async function clickDirect(config: Config): Promise<Finding[]> {
  // The simulated bank keeps its pins in the state folder, as the agent makes it.
  if (config.relays.driver === 'sim') mkdirSync(config.paths.state, { recursive: true, mode: 0o750 });
  const bank = new RelayBank(config.relays, createRelayDriver(config.relays, { stateDir: config.paths.state, log: createLogger({ level: 'warn' }) }), { log: createLogger({ level: 'warn' }) });
  await bank.open();
  const out: Finding[] = [];
  try {
    for (const o of bank.outputs()) {
      await bank.set(o.name, true);
      const on = (await bank.state())[o.name] === true;
      await new Promise((r) => setTimeout(r, CLICK_MS));
      await bank.set(o.name, false);
      const off = (await bank.state())[o.name] === true;
      out.push(clickFinding({ name: o.name, onReadBack: on, offReadBack: off }));
    }
  } finally {
    await bank.close();
  }
  return out;
}

function driverFinding(config: Config, probes: Probes): Finding {
  const r = config.relays;
  const vars = { driver: r.driver, amps: r.amplifiers.length, zones: r.zones.length };
  switch (r.driver) {
    case 'sim':
      return finding('relays', 'relays.simulated', 'warn', both('relaysSimulated', vars), both('relaysSimulatedFix'));
    case 'sysfs':
      return probes.list(`${probes.sysRoot}/class/gpio`).length > 0 ? finding('relays', 'relays.driver-ok', 'ok', both('relaysDriver', vars)) : finding('relays', 'relays.no-sysfs-gpio', 'fail', both('noSysfsGpio'), both('noSysfsGpioFix'));
    case 'gpiod':
      return probes.list('/dev').includes(r.chip) ? finding('relays', 'relays.driver-ok', 'ok', both('relaysDriver', vars)) : finding('relays', 'relays.no-chip', 'fail', both('noGpioChip', { chip: r.chip }), both('noGpioChipFix'));
    case 'bridge':
      return finding('relays', 'relays.driver-ok', 'ok', both('relaysDriver', vars));
  }
}
