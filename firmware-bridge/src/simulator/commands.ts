import { encodeFrame } from '../protocol/frame.js';
import { Evt } from '../protocol/messages.js';
import type { ResetCauseName } from '../protocol/messages.js';
import { SIM_ANALOG, SIM_INPUTS, type McuSimulator, type SimAnalog } from './mcu.js';
import type { Impairments } from './link.js';

/**
 * The simulator's switches, one command per line (stdin or the control
 * socket), e.g. `input emergency 1`, `noise 0.01`, `reset watchdog`.
 * Parsing is pure; `applyCommand` acts on the simulator.
 */
export type SimCommand =
  | { cmd: 'input'; channel: number; level: 0 | 1 }
  | { cmd: 'analog'; which: SimAnalog; milli: number | null }
  | { cmd: 'noise' | 'drop'; probability: number }
  | { cmd: 'delay'; ms: number }
  | { cmd: 'mute'; on: boolean }
  | { cmd: 'reset'; cause: ResetCauseName }
  | { cmd: 'garbage'; bytes: number }
  | { cmd: 'half-frame' }
  | { cmd: 'rtc-lost' }
  | { cmd: 'status' }
  | { cmd: 'led-journal' };

const CAUSES: readonly ResetCauseName[] = ['power-on', 'watchdog', 'brown-out', 'software', 'pin'];

export const COMMAND_HELP = [
  `input <${SIM_INPUTS.join('|')}|N> 0|1`,
  `analog <${SIM_ANALOG.join('|')}> <milli-units>|auto`,
  'noise <0..1>',
  'drop <0..1>',
  'delay <ms>',
  'mute on|off',
  `reset [${CAUSES.join('|')}]`,
  'garbage <bytes>',
  'half-frame',
  'rtc-lost',
  'status',
  'led-journal',
].join('\n');

export class CommandError extends Error {}

function num(word: string | undefined, what: string, min: number, max: number): number {
  const v = Number(word);
  if (word === undefined || word === '' || !Number.isFinite(v) || v < min || v > max) throw new CommandError(`${what} must be a number from ${min} to ${max}, got ${word ?? 'nothing'}`);
  return v;
}

export function parseCommand(line: string): SimCommand {
  const [cmd, a, b] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'input': {
      const named = SIM_INPUTS.indexOf(a as (typeof SIM_INPUTS)[number]);
      const channel = named >= 0 ? named : Math.trunc(num(a, 'input channel', 0, 15));
      if (b !== '0' && b !== '1') throw new CommandError(`input level must be 0 or 1, got ${b ?? 'nothing'}`);
      return { cmd, channel, level: b === '1' ? 1 : 0 };
    }
    case 'analog': {
      if (!SIM_ANALOG.includes(a as SimAnalog)) throw new CommandError(`analog channel must be one of ${SIM_ANALOG.join(', ')}, got ${a ?? 'nothing'}`);
      return { cmd, which: a as SimAnalog, milli: b === 'auto' ? null : Math.round(num(b, 'analog value (milli-units)', -2_000_000_000, 2_000_000_000)) };
    }
    case 'noise':
    case 'drop':
      return { cmd, probability: num(a, `${cmd} probability`, 0, 1) };
    case 'delay':
      return { cmd, ms: Math.round(num(a, 'delay (ms)', 0, 60_000)) };
    case 'mute':
      if (a !== 'on' && a !== 'off') throw new CommandError(`mute takes on or off, got ${a ?? 'nothing'}`);
      return { cmd, on: a === 'on' };
    case 'reset': {
      const cause = (a ?? 'software') as ResetCauseName;
      if (!CAUSES.includes(cause)) throw new CommandError(`reset cause must be one of ${CAUSES.join(', ')}; got ${a}`);
      return { cmd, cause };
    }
    case 'garbage':
      return { cmd, bytes: Math.round(num(a, 'garbage length', 1, 65_536)) };
    case 'half-frame':
    case 'rtc-lost':
    case 'status':
    case 'led-journal':
      return { cmd };
    default:
      throw new CommandError(`unknown simulator command "${cmd ?? ''}"; commands:\n${COMMAND_HELP}`);
  }
}

/** Carries out a command; returns what to print (JSON-able). */
export function applyCommand(c: SimCommand, mcu: McuSimulator, line: Impairments, random: () => number = Math.random): Record<string, unknown> {
  switch (c.cmd) {
    case 'input':
      mcu.setInput(c.channel, c.level);
      break;
    case 'analog':
      mcu.setAnalog(c.which, c.milli);
      break;
    case 'noise':
    case 'drop':
      line[c.cmd] = c.probability;
      break;
    case 'delay':
      mcu.responseDelayMs = c.ms;
      break;
    case 'mute':
      line.mute = c.on;
      break;
    case 'reset':
      mcu.reset(c.cause);
      break;
    case 'garbage':
      mcu.transmitRaw(Uint8Array.from({ length: c.bytes }, () => Math.floor(random() * 256)));
      break;
    case 'half-frame': {
      // A frame cut short, as when the microcontroller resets mid-transmission.
      const f = encodeFrame({ type: Evt.INPUT, seq: 0, payload: new Uint8Array([1, 0, 1, 0]) });
      mcu.transmitRaw(f.subarray(0, Math.ceil(f.length / 2)));
      break;
    }
    case 'rtc-lost':
      mcu.loseRtc();
      break;
    case 'status':
      break;
    case 'led-journal':
      return { ok: true, command: c.cmd, led: mcu.ledJournal };
  }
  return { ok: true, command: c.cmd, line: { ...line }, mcu: mcu.snapshot() };
}
