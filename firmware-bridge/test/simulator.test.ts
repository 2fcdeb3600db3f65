import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { silentLogger } from '../../agent/src/lib/logger.js';
import { BridgeClient, type InputChange } from '../src/client/client.js';
import { CommandError, parseCommand } from '../src/simulator/commands.js';
import { next, until } from './rig.js';

t.test('simulator commands parse as data', async (t) => {
  t.same(parseCommand('input emergency 1'), { cmd: 'input', channel: 0, level: 1 });
  t.same(parseCommand(' input 3 0 '), { cmd: 'input', channel: 3, level: 0 });
  t.same(parseCommand('analog temperature 91000'), { cmd: 'analog', which: 'temperature', milli: 91000 });
  t.same(parseCommand('analog voltage auto'), { cmd: 'analog', which: 'voltage', milli: null });
  t.same(parseCommand('noise 0.01'), { cmd: 'noise', probability: 0.01 });
  t.same(parseCommand('drop 0'), { cmd: 'drop', probability: 0 });
  t.same(parseCommand('delay 15'), { cmd: 'delay', ms: 15 });
  t.same(parseCommand('mute on'), { cmd: 'mute', on: true });
  t.same(parseCommand('reset'), { cmd: 'reset', cause: 'software' });
  t.same(parseCommand('reset brown-out'), { cmd: 'reset', cause: 'brown-out' });
  t.same(parseCommand('garbage 100'), { cmd: 'garbage', bytes: 100 });
  t.same(parseCommand('half-frame'), { cmd: 'half-frame' });
  t.throws(() => parseCommand('noise 2'), new CommandError('noise probability must be a number from 0 to 1, got 2'));
  t.throws(() => parseCommand('input door'), /input level must be 0 or 1/);
  t.throws(() => parseCommand('reset sideways'), /reset cause must be one of/);
  t.throws(() => parseCommand('fly'), /unknown simulator command "fly"/);
});

t.test('the simulator command makes its own pty pair and takes switches on stdin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'loa-sim-cli-'));
  const hostPath = join(dir, 'ttyBridge');
  const main = fileURLToPath(new URL('../src/simulator/main.ts', import.meta.url));
  // The same loaders this test runs under, so the TypeScript entry point runs as the built one would.
  const proc = spawn(process.execPath, [...process.execArgv, main, '--pty', hostPath, '--relays', '4'], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, LOA_LOG_LEVEL: 'warn' } });
  const lines = createInterface({ input: proc.stdout! });
  const out: Array<Record<string, unknown>> = [];
  lines.on('line', (l) => out.push(JSON.parse(l) as Record<string, unknown>));
  const client = new BridgeClient({ path: hostPath, log: silentLogger() });
  t.teardown(async () => {
    await client.close();
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  t.match(out[0], { event: 'ready', hostPath });
  const info = await client.open(15_000);
  t.equal(info.relayCount, 4);
  const input = next<InputChange>(client, 'input');
  proc.stdin!.write('input door 1\n');
  t.same(await input, { levels: 2, changed: 2 });
  proc.stdin!.write('bogus\n');
  await until(() => out.length >= 3, 'the answers to both commands');
  t.match(out[1], { ok: true, command: 'input' });
  t.match(out[2], { ok: false, error: /unknown simulator command/ });
});
