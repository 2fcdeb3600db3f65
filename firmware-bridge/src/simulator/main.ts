#!/usr/bin/env node
/**
 * The simulated microcontroller as a command, for the demo and bench rigs:
 *
 *   node dist/firmware-bridge/src/simulator/main.js --link /dev/pts/7
 *   node dist/firmware-bridge/src/simulator/main.js --pty /tmp/loa/ttyBridge [--noise 0.01] [--drop 0.001] [--delay 5]
 *
 * With --pty it starts socat itself and prints {"hostPath": ...} on stdout
 * once the line is up. Switches are then typed on stdin (or sent to
 * --control SOCKET), one per line; see `help`.
 */
import { createServer, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createLogger } from '../../../agent/src/lib/logger.js';
import { applyCommand, COMMAND_HELP, parseCommand } from './commands.js';
import { startSimulator } from './start.js';

const USAGE = `usage: simulator (--link TTY | --pty HOST_PATH) [--relays N] [--inputs N] [--no-fm] [--rtc-invalid]
       [--noise P] [--drop P] [--delay MS] [--control SOCKET]
commands on stdin or the control socket:
${COMMAND_HELP}`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      link: { type: 'string' },
      pty: { type: 'string' },
      relays: { type: 'string', default: '8' },
      inputs: { type: 'string', default: '4' },
      'no-fm': { type: 'boolean', default: false },
      'rtc-invalid': { type: 'boolean', default: false },
      noise: { type: 'string', default: '0' },
      drop: { type: 'string', default: '0' },
      delay: { type: 'string', default: '0' },
      control: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || (values.link === undefined) === (values.pty === undefined)) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const log = createLogger({ name: 'loa-mcu-sim' });
  const sim = await startSimulator({
    log,
    ...(values.link !== undefined ? { link: values.link } : { pty: { hostPath: values.pty! } }),
    mcu: { relayCount: Number(values.relays), inputCount: Number(values.inputs), fm: !values['no-fm'], rtcValid: !values['rtc-invalid'] },
    impairments: {},
  });
  const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const run = (line: string): Record<string, unknown> | null => {
    if (!line.trim()) return null;
    if (line.trim() === 'help') return { ok: true, help: COMMAND_HELP };
    try {
      return applyCommand(parseCommand(line), sim.mcu, sim.link.impairments);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  for (const [cmd, v] of [['noise', values.noise], ['drop', values.drop], ['delay', values.delay]] as const) {
    const r = run(`${cmd} ${v}`);
    if (r && r.ok === false) {
      process.stderr.write(`--${cmd}: ${String(r.error)}\n`);
      process.exit(2);
    }
  }
  sim.mcu.on('board-reset', ({ fired }) => log.warn({ fired }, 'watchdog expired: the Linux board would be reset now'));
  print({ event: 'ready', hostPath: sim.hostPath ?? null, mcuPath: sim.pty?.mcuPath ?? values.link });

  createInterface({ input: process.stdin }).on('line', (l) => {
    const r = run(l);
    if (r) print(r);
  });
  let server: ReturnType<typeof createServer> | null = null;
  if (values.control) {
    const path = values.control;
    await rm(path, { force: true });
    server = createServer((sock: Socket) => {
      createInterface({ input: sock }).on('line', (l) => {
        const r = run(l);
        if (r) sock.write(`${JSON.stringify(r)}\n`);
      });
      sock.on('error', () => undefined);
    }).listen(path);
  }
  const shutdown = async (): Promise<void> => {
    server?.close();
    await sim.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: Error) => {
  process.stderr.write(`simulator: ${err.message}\n`);
  process.exit(1);
});
