/** What the agent needs from the firmware bridge. */
export {
  BridgeClient,
  BridgeError,
  LinkLostError,
  McuRefusedError,
  NotConnectedError,
  RequestTimeoutError,
  type BridgeClientOptions,
  type BridgeEvents,
  type BridgeState,
  type BridgeStats,
  type FaultChange,
  type InputChange,
  type RelayFix,
} from './client/client.js';
export { BridgeRelayDriver } from './client/relay-driver.js';
export { assessRtc, clockAtBoot, planBootClock, planRtcUpdate, setSystemClockWithDate, syncRtcFromSystem, type BootClockPlan, type BootClockResult } from './client/rtc.js';
export { describeSerialPath, type SerialPathInfo } from './client/serial-path.js';
export { BridgeConfigSchema, type BridgeConfig } from './config.js';
export { createBridgeClient } from './client/from-config.js';
export { bridgeClock, bridgeInputs, bridgeRelay, bridgeStatus, bridgeWatchdog, type WatchdogAction } from './control.js';
export type { AnalogReading, FmStatus, HelloInfo, McuStatus, RtcReading, WatchdogStatus } from './protocol/messages.js';
export { startSimulator, type RunningSimulator, type StartSimulatorOptions } from './simulator/start.js';
export { startPtyPair, type PtyPair } from './simulator/pty.js';
