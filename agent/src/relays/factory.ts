import type { RelaysConfig } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import { outputsOf } from './bank.js';
import type { RelayDriver } from './driver.js';
import { GpiodRelayDriver } from './gpiod-driver.js';
import { SimRelayDriver, simFaultsPath, simJournalPath, simStatePath } from './sim-driver.js';
import { SysfsRelayDriver } from './sysfs-driver.js';

export interface RelayDriverDeps {
  /** The agent's state directory (config `paths.state`); the simulator keeps its pins there. */
  stateDir: string;
  log: Logger;
  /** The firmware bridge's driver, when `relays.driver` is "bridge". */
  bridge?: RelayDriver;
}

/** The driver `relays.driver` names. Nothing touches hardware until `open()`. */
export function createRelayDriver(cfg: RelaysConfig, deps: RelayDriverDeps): RelayDriver {
  switch (cfg.driver) {
    case 'sim':
      return new SimRelayDriver({
        statePath: simStatePath(deps.stateDir),
        journalPath: simJournalPath(deps.stateDir),
        faultsPath: simFaultsPath(deps.stateDir),
        names: new Map(outputsOf(cfg).map((o) => [o.line, o.name])),
        log: deps.log,
      });
    case 'sysfs':
      return new SysfsRelayDriver({ chip: cfg.chip });
    case 'gpiod':
      return new GpiodRelayDriver({ chip: cfg.chip, log: deps.log });
    case 'bridge':
      if (!deps.bridge) throw new Error('relays.driver is "bridge" but no firmware bridge is configured; configure the bridge or choose "gpiod", "sysfs" or "sim"');
      return deps.bridge;
  }
}
