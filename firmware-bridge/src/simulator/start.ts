import type { Logger } from '../../../agent/src/lib/logger.js';
import { SimulatorLink, type Impairments } from './link.js';
import { McuSimulator, type McuOptions } from './mcu.js';
import { startPtyPair, type PtyPair, type PtyPairOptions } from './pty.js';

export interface RunningSimulator {
  mcu: McuSimulator;
  link: SimulatorLink;
  /** The path the host opens (the pty pair's host end, or as given). */
  hostPath: string | null;
  /** The socat pair, when the simulator started it. */
  pty: PtyPair | null;
  stop(): Promise<void>;
}

export interface StartSimulatorOptions {
  log: Logger;
  /** Attach to this existing tty (the microcontroller's end of a pair someone else made)... */
  link?: string;
  /** ...or start socat and make the host's end here (and the microcontroller's in a temporary directory). */
  pty?: PtyPairOptions;
  mcu?: McuOptions;
  impairments?: Partial<Impairments>;
}

/** Starts a simulated microcontroller on a serial line, making the line with socat when asked. */
export async function startSimulator(opts: StartSimulatorOptions): Promise<RunningSimulator> {
  if ((opts.link === undefined) === (opts.pty === undefined)) throw new Error('give the simulator either an existing tty (link) or a pty pair to make (pty), not both or neither');
  const pty = opts.pty ? await startPtyPair(opts.pty) : null;
  const mcu = new McuSimulator(opts.mcu);
  const link = new SimulatorLink({ path: pty?.mcuPath ?? opts.link!, mcu, log: opts.log, impairments: opts.impairments });
  try {
    await link.start();
  } catch (err) {
    await pty?.close();
    throw err;
  }
  return {
    mcu,
    link,
    pty,
    hostPath: pty?.hostPath ?? null,
    stop: async () => {
      mcu.stop();
      await link.stop();
      await pty?.close();
    },
  };
}
