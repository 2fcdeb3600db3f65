import type { Logger } from '../../../agent/src/lib/logger.js';
import type { BridgeConfig } from '../config.js';
import { BridgeClient } from './client.js';

/** A client set up from the station configuration's `bridge` section. */
export function createBridgeClient(cfg: BridgeConfig, log: Logger): BridgeClient {
  const { path, baudRate, requestTimeoutMs, retries, heartbeatMs, deadAfterMs, reconnect } = cfg;
  return new BridgeClient({ path, log, baudRate, requestTimeoutMs, retries, heartbeatMs, deadAfterMs, reconnect });
}
