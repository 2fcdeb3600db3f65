import t from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { main } from '../src/cli/main.js';
import { startStation } from './station-fixture.js';
import { until } from '../../firmware-bridge/test/rig.js';

const relaysCfg = {
  driver: 'bridge',
  amplifiers: [{ name: 'amp', line: 0, activeLow: false, warmupMs: 200 }],
  zones: [{ name: 'north', line: 1, activeLow: false, amplifier: 'amp' }, { name: 'south', line: 2, activeLow: true, amplifier: 'amp' }],
  zoneLeadMs: 50,
  tailMs: 100,
};

async function loa(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } });
  return { code, out };
}

t.test('loa safe-off after kill -9 of a bridge station: it opens the line itself and every microcontroller output goes off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bridge-safeoff-'));
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    station: { id: 'bridge-crash', locale: 'en' },
    paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
    relays: relaysCfg,
    bridge: { path: sim.hostPath },
    audio: { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    log: { level: 'warn' },
  }));
  const daemon: ChildProcess = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  t.teardown(() => { daemon.kill('SIGKILL'); });
  await until(async () => (await loa('--config', configPath, 'status', '--json')).code === 0, 'the daemon answers', 30_000);
  const relays = (): number => Number((sim.mcu.snapshot() as { relays: number }).relays);
  // South is active-low: off is an energised coil.
  await until(() => relays() === 0b100, 'every configured output off at start');

  t.equal((await loa('--config', configPath, 'relay', 'amp', 'on')).code, 0);
  t.equal((await loa('--config', configPath, 'relay', 'north', 'on')).code, 0);
  t.equal((await loa('--config', configPath, 'relay', 'south', 'on')).code, 0);
  t.equal((await loa('--config', configPath, 'bridge', 'relay', '5', 'on')).code, 0, 'an unconfigured channel, switched by hand');
  t.equal(relays(), 0b100011, 'amplifier, both zones and channel 5 on, read from the microcontroller');

  const exited = new Promise((resolve) => daemon.once('exit', (_c, signal) => resolve(signal)));
  daemon.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(relays(), 0b100011, 'after kill -9 the microcontroller keeps its coils: the amplifier is still on');

  const r = await loa('--config', configPath, '--json', 'safe-off');
  t.equal(r.code, 0, r.out);
  t.match(JSON.parse(r.out), { driver: 'bridge', outputs: ['amp', 'north', 'south'] });
  t.equal(relays(), 0b100, 'every microcontroller output off (south, active-low, off by an energised coil); channel 5 too');
});

t.test('a bridge station starts without its microcontroller, says so, keeps its CLI, and plays once the line is there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bridge-absent-'));
  const hostPath = join(dir, 'ttyBridge');
  const started = Date.now();
  const s = await startStation({ relays: relaysCfg, bridge: { path: hostPath, reconnect: { initialMs: 100, maxMs: 500 } } }, dir, { ownRelays: false });
  let sim: Awaited<ReturnType<typeof startSimulator>> | null = null;
  // The station first, while its microcontroller still answers its last switch-off.
  t.teardown(async () => {
    await s.stop();
    await sim?.stop();
  });
  t.ok(Date.now() - started < 20_000, 'the agent started without waiting for the microcontroller');
  process.env.LOA_SOCKET = s.config.paths.socket;
  const status = await loa('--config', '/nonexistent', '--json', 'status');
  t.equal(status.code, 0, 'loa status answers');
  t.match(JSON.parse(status.out).problems.join('\n'), /firmware bridge on .*ttyBridge is not connected.*relays cannot switch/, 'loa status says loudly that the microcontroller is missing');
  const linkEvents = (): Array<{ level: string; message: string }> =>
    (s.agent.store.db.prepare(`SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq`).all() as Array<{ payload: string }>)
      .map((r) => (JSON.parse(r.payload) as { body: { event: string; level: string; message: string } }).body)
      .filter((e) => e.event === 'bridge.link');
  t.match(linkEvents(), [{ level: 'error', message: /firmware bridge not connected/ }], 'an event for the province says so too');

  const tone = await s.tone('after-link', { seconds: 1 });
  sim = await startSimulator({ log: silentLogger(), pty: { hostPath } });
  const mcu = sim.mcu;
  await until(async () => JSON.parse((await loa('--config', '/nonexistent', '--json', 'status')).out).problems.every((p: string) => !/firmware bridge/.test(p)), 'the link is up and the problem gone', 30_000);
  const relays = (): number => Number((mcu.snapshot() as { relays: number }).relays);
  t.equal(relays(), 0b100, 'on connection the microcontroller was reconciled to every output off');
  const seen: number[] = [];
  const poll = setInterval(() => seen.push(relays()), 20);
  t.teardown(() => clearInterval(poll));
  t.equal((await loa('--config', '/nonexistent', 'play', tone, '--zones', 'north')).code, 0);
  const [row] = await s.rows(1, 30_000);
  t.equal(row!.result, 'played');
  t.ok(seen.includes(0b111), 'amplifier and north on through the microcontroller while it played');
  t.match(row!.relays, { kind: 'mcu', zones: { north: 'confirmed' } }, 'the play-log row rests on the microcontroller\'s outputs and current');
  t.ok(row!.relays!.ampMinMa! >= 200, `the amplifier drew current throughout (at least ${row!.relays!.ampMinMa} mA)`);
  await until(() => relays() === 0b100, 'all off after the tail');
  t.match(linkEvents(), [{ level: 'error' }, { level: 'info', message: /firmware bridge connected/ }], 'the reconnection is an event as well');
});

t.test('a bridge station on a line with 10 % byte corruption: loa relay succeeds every time, host and microcontroller agree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bridge-noise-'));
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const s = await startStation({ relays: relaysCfg, bridge: { path: sim.hostPath } }, dir, { ownRelays: false });
  t.teardown(() => s.stop());
  process.env.LOA_SOCKET = s.config.paths.socket;
  sim.link.impairments.noise = 0.1;
  const relays = (): number => Number((sim.mcu.snapshot() as { relays: number }).relays);
  const failures: string[] = [];
  const disagreements: string[] = [];
  for (let i = 0; i < 10; i++) {
    const name = ['amp', 'north', 'south'][i % 3]!;
    const on = i % 2 === 0;
    const r = await loa('--config', '/nonexistent', '--json', 'relay', name, on ? 'on' : 'off');
    if (r.code !== 0) failures.push(`${name} ${on}: ${r.out}`);
    else {
      const listed = (JSON.parse(r.out) as { relays: Array<{ name: string; on: boolean }> }).relays.find((x) => x.name === name);
      if (listed?.on !== on) failures.push(`${name} read back ${String(listed?.on)}`);
    }
    // The microcontroller's coils, read from the simulator, against the bank's record.
    const current = s.agent.bank.current();
    for (const o of s.agent.bank.outputs()) {
      const coil = (relays() >> o.line) & 1;
      if (((coil === 1) !== o.activeLow) !== current[o.name]!.on || current[o.name]!.uncertain) disagreements.push(`after ${i}: ${o.name}`);
    }
  }
  t.same(failures, [], 'loa relay succeeded 10 of 10 and each read back its level');
  t.same(disagreements, [], 'after each, the bank and the microcontroller agree on every output');
});
