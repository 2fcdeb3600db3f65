import { waitEvent } from '../../agent/test/wait.js';
import type { EventEmitter } from 'node:events';
import { silentLogger } from '../../agent/src/lib/logger.js';
import { BridgeClient, type BridgeClientOptions } from '../src/client/client.js';
import type { Impairments } from '../src/simulator/link.js';
import type { McuOptions } from '../src/simulator/mcu.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/start.js';

/** A simulated microcontroller on a real socat pty pair, and a client on the other end; both torn down with the test. */
export async function rig(
  t: { teardown: (fn: () => unknown) => void },
  o: { mcu?: McuOptions; client?: Partial<BridgeClientOptions>; impairments?: Partial<Impairments>; open?: boolean } = {},
): Promise<{ sim: RunningSimulator; client: BridgeClient; hostPath: string }> {
  const sim = await startSimulator({ log: silentLogger(), pty: {}, mcu: o.mcu, impairments: o.impairments });
  const hostPath = sim.hostPath!;
  const client = new BridgeClient({ path: hostPath, log: silentLogger(), reconnect: { initialMs: 50, maxMs: 400 }, ...o.client });
  t.teardown(async () => {
    await client.close();
    await sim.stop();
  });
  if (o.open !== false) await client.open(10_000);
  return { sim, client, hostPath };
}

/** The next emission of `event`, or a rejection naming what never came. */
/** The next `event` passing `filter`, within `timeoutMs`. */
export function next<T = unknown>(emitter: EventEmitter, event: string, timeoutMs = 8000, filter: (v: T) => boolean = () => true): Promise<T> {
  return waitEvent(emitter, event, filter, timeoutMs);
}

/** Polls until `pred` holds; generous bounds, since the machine is shared. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
