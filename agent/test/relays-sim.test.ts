import t from 'tap';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelaysSchema } from '../src/config/schema.js';
import { createLogger, silentLogger, type Logger } from '../src/lib/logger.js';
import { RelayBank, levelFor } from '../src/relays/bank.js';
import type { Level, RelayDriver } from '../src/relays/driver.js';
import { createRelayDriver } from '../src/relays/factory.js';
import { safeOff } from '../src/relays/safe-off.js';
import { SimRelayDriver, readSimJournal, simJournalPath, simStatePath, type Transition } from '../src/relays/sim-driver.js';

const cfgInput = {
  driver: 'sim',
  amplifiers: [{ name: 'amp', line: 17, activeLow: true, warmupMs: 0 }],
  zones: [
    { name: 'north', line: 22, activeLow: true, amplifier: 'amp' },
    { name: 'south', line: 23, activeLow: false, amplifier: 'amp' },
  ],
};
const cfg = RelaysSchema.parse(cfgInput);

const tmp = (): string => mkdtempSync(join(tmpdir(), 'loa-relays-'));
const levelsIn = (path: string): Record<string, number> => (JSON.parse(readFileSync(path, 'utf8')) as { levels: Record<string, number> }).levels;

function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } }) };
}

t.test('the simulator keeps levels in its state file, records and emits every transition', async (t) => {
  const dir = tmp();
  const statePath = join(dir, 'pins.json');
  const sim = new SimRelayDriver({ statePath });
  const emitted: Transition[] = [];
  sim.on('transition', (tr) => emitted.push(tr));
  const before = Date.now();
  await sim.open([
    { line: 5, initial: 0 },
    { line: 6, initial: 1 },
  ]);
  t.same(levelsIn(statePath), { 5: 0, 6: 1 }, 'claiming drives the initial levels');
  await sim.write(5, 1);
  const ino = statSync(statePath).ino;
  await sim.write(5, 1);
  t.equal(statSync(statePath).ino, ino, 'writing the same level again does not rewrite the file');
  t.equal(await sim.read(5), 1);
  t.same(sim.transitions.map(({ line, level }) => [line, level]), [[5, 0], [6, 1], [5, 1]], 'a repeat is no transition');
  t.same(emitted, sim.transitions);
  t.ok(sim.transitions.every((tr) => tr.atMs >= before - 1 && tr.atMs <= Date.now() + 1), 'wall clock timestamps');
  t.ok(sim.transitions.some((tr) => !Number.isInteger(tr.atMs)), 'with sub-millisecond resolution');
  await t.rejects(sim.write(9, 1), /line 9 was not opened/);
  await sim.close();
});

t.test('reading a line reads the pins, as another process left them', async (t) => {
  const statePath = join(tmp(), 'pins.json');
  const agent = new SimRelayDriver({ statePath });
  await agent.open([{ line: 5, initial: 1 }]);
  const other = new SimRelayDriver({ statePath });
  await other.open([{ line: 5, initial: 0 }]);
  t.equal(await agent.read(5), 0);
  writeFileSync(statePath, '{ not json');
  await t.rejects(agent.read(5), /has no level for line 5/, 'a damaged state file means unknown levels, said plainly');
  await agent.write(5, 1);
  t.same(levelsIn(statePath), { 5: 1 }, 'and the next write replaces it');
});

t.test('the journal is JSON lines with output names, and stays small', async (t) => {
  const dir = tmp();
  const journalPath = join(dir, 'j.jsonl');
  const sim = new SimRelayDriver({ statePath: join(dir, 's.json'), journalPath, journalMaxBytes: 300, names: new Map([[5, 'amp']]) });
  await sim.open([{ line: 5, initial: 0 }]);
  for (let i = 0; i < 10; i++) await sim.write(5, (i % 2 === 0 ? 1 : 0) as Level);
  const current = await readSimJournal(journalPath);
  const rotated = await readSimJournal(`${journalPath}.1`);
  t.ok(statSync(journalPath).size <= 300, 'rotated before it passes the limit');
  t.same([...rotated, ...current].map((tr) => tr.level), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0].slice(-(rotated.length + current.length)), 'nothing lost across the rotation');
  t.same(current.at(-1), sim.transitions.at(-1));
  t.equal(current.at(-1)!.name, 'amp');
  t.same(await readSimJournal(join(dir, 'absent.jsonl')), []);
});

t.test('the bank maps names to lines, applies active-low, and starts all off', async (t) => {
  const dir = tmp();
  const { log, lines } = capture();
  const bank = new RelayBank(cfg, createRelayDriver(cfg, { stateDir: dir, log }), { log });
  await t.rejects(bank.set('amp', true), /not open/);
  await bank.open();
  t.same(levelsIn(simStatePath(dir)), { 17: 1, 22: 1, 23: 0 }, 'off is high on active-low lines, low on active-high');
  t.same(await bank.state(), { amp: false, north: false, south: false });
  await bank.set('amp', true);
  await bank.set('south', true);
  await bank.set('south', true);
  t.same(levelsIn(simStatePath(dir)), { 17: 0, 22: 1, 23: 1 });
  t.same(await bank.state(), { amp: true, north: false, south: true });
  t.equal(lines.filter((l) => l.msg === 'relay on').length, 2, 'transitions are logged, repeats are not');
  t.match(lines.find((l) => l.relay === 'south'), { msg: 'relay on', line: 23, on: true, kind: 'zone' });
  t.same(
    Object.fromEntries(Object.entries(bank.current()).map(([n, v]) => [n, v.on])),
    { amp: true, north: false, south: true },
    'current() tells the planner what is on',
  );
  await t.rejects(bank.set('west', true), /no relay output named "west"; known outputs: amp, north, south/);
  await bank.close();
  t.same(levelsIn(simStatePath(dir)), { 17: 1, 22: 1, 23: 0 }, 'closed all off');
  const journal = await readSimJournal(simJournalPath(dir));
  t.same(
    journal.slice(-2).map((tr) => `${tr.name}:${tr.level}`),
    ['south:0', 'amp:1'],
    'zones are opened before the amplifier goes off',
  );
  t.equal(levelFor({ activeLow: true }, true), 0);
  t.equal(levelFor({ activeLow: false }, true), 1);
});

t.test('a failed switch is logged, leaves the output in doubt, and is retried', async (t) => {
  const { log, lines } = capture();
  const levels = new Map<number, Level>();
  let failNext = false;
  const flaky: RelayDriver = {
    kind: 'flaky',
    open: async (ls) => ls.forEach((l) => levels.set(l.line, l.initial)),
    write: async (line, level) => {
      if (failNext) {
        failNext = false;
        throw new Error('EIO');
      }
      levels.set(line, level);
    },
    read: async (line) => levels.get(line)!,
    close: async () => undefined,
  };
  const bank = new RelayBank(cfg, flaky, { log });
  await bank.open();
  failNext = true;
  await t.rejects(bank.set('amp', true), /EIO/);
  t.match(bank.current().amp, { on: true, uncertain: true });
  t.match(lines.find((l) => l.msg === 'relay switch failed'), { relay: 'amp', on: true, level: 50 });
  await bank.set('amp', true);
  t.equal(levels.get(17), 0, 'the same request is written again, not taken as a repeat');
  t.same(bank.current().amp!.uncertain, undefined);
  failNext = true;
  await t.rejects(bank.close(), /could not switch off relay outputs: amp: EIO/, 'close reports what stayed on');
});

t.test('after kill -9 the pins stay as they were, and safe-off switches them off', async (t) => {
  const dir = tmp();
  const child = fork(join(import.meta.dirname, 'relays-crash-child.ts'), [dir, JSON.stringify(cfgInput), 'amp', 'north'], { stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL');
  t.same(levelsIn(simStatePath(dir)), { 17: 0, 22: 0, 23: 0 }, 'amp and north still on (active-low: low) after the crash');

  const { log } = capture();
  t.same(await safeOff(cfg, { stateDir: dir, log }), { driver: 'sim', outputs: ['amp', 'north', 'south'] });
  t.same(levelsIn(simStatePath(dir)), { 17: 1, 22: 1, 23: 0 }, 'all off');
  const journal = await readSimJournal(simJournalPath(dir));
  t.same(
    journal.map((tr) => `${tr.name}:${tr.level}`),
    ['amp:1', 'north:1', 'south:0', 'amp:0', 'north:0', 'amp:1', 'north:1'],
    'the journal tells the whole story: start off, on, crash, safe-off',
  );
});

t.test('the factory builds the configured driver and names what is missing', async (t) => {
  const log = silentLogger();
  t.equal(createRelayDriver(cfg, { stateDir: tmp(), log }).kind, 'sim');
  t.equal(createRelayDriver({ ...cfg, driver: 'sysfs' }, { stateDir: tmp(), log }).kind, 'sysfs');
  t.equal(createRelayDriver({ ...cfg, driver: 'gpiod' }, { stateDir: tmp(), log }).kind, 'gpiod');
  t.throws(() => createRelayDriver({ ...cfg, driver: 'bridge' }, { stateDir: tmp(), log }), /"bridge" but no firmware bridge is configured/);
  const bridge = new SimRelayDriver({ statePath: join(tmp(), 'b.json') });
  t.equal(createRelayDriver({ ...cfg, driver: 'bridge' }, { stateDir: tmp(), log, bridge }), bridge);
});
