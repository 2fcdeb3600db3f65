import t from 'tap';
import { provincePort } from '../src/daemon/province-port.js';
import { silentLogger } from '../src/lib/logger.js';
import { main } from '../src/cli/main.js';
import type { StationCommand } from '../src/sync/station-port.js';
import { startStation, type Station } from './station-fixture.js';

/** The journal after the bank's opening (every output driven off at start). */
const afterOpen = (s: Station): ReturnType<Station['switches']> => s.switches().slice(3);
import { until } from '../../firmware-bridge/test/rig.js';

async function loa(socket: string, ...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  process.env.LOA_SOCKET = socket;
  const code = await main(['--config', '/nonexistent', '--lang', 'en', ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } });
  return { code, out };
}

function province(s: Station): ReturnType<typeof provincePort> {
  return provincePort({
    config: s.config, conductor: s.agent.conductor, alerts: s.agent.alerts, media: s.agent.media, clock: s.agent.clock, problems: () => [], log: silentLogger(),
    onRestartRequested: () => undefined, onBoardSchedule: () => undefined, boardScreenshot: null, report: () => ({}),
  });
}

const relayTest = (durationMs: number): StationCommand => ({ id: `rt-${durationMs}`, issuedMs: Date.now(), expiresMs: Date.now() + 60_000, via: { station: 'test-station' }, action: { action: 'relay-test', durationMs } });

t.test('an emergency during a province relay test: the zones stay on, the test never switches them off under it', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const siren = await s.tone('siren', { seconds: 3, freq: 880 });
  const test = province(s).runCommand(relayTest(20_000));
  await until(() => afterOpen(s).filter((x) => x.on).length === 3, 'the relay test powered amp, north and south');
  const testOnAt = Date.now();
  t.match(await loa(s.config.paths.socket, 'relay', 'amp', 'off'), { code: 1, out: /relay test[\s\S]*running/ }, 'loa relay is refused while the test runs');

  t.equal((await loa(s.config.paths.socket, 'play', siren, '--class', 'emergency')).code, 0);
  const outcome = await test;
  t.match(outcome, { status: 'done', result: { completed: false, cutBy: /emergency|cli-/ } }, 'the relay test was cut short by the emergency');
  const [row] = await s.rows(1, 30_000);
  t.equal(row!.result, 'played');
  t.equal(row!.priority, 9);
  t.ok(Date.now() - testOnAt < 20_000, 'the emergency did not wait for the test to end');
  await until(() => afterOpen(s).filter((x) => !x.on).length >= 3, 'relays off after the emergency');

  const journal = afterOpen(s);
  const lastOff = Math.min(...journal.filter((x) => !x.on).map((x) => x.atMs));
  t.same(journal.map((x) => `${x.name}:${x.on ? 'on' : 'off'}`), ['amp:on', 'north:on', 'south:on', 'north:off', 'south:off', 'amp:off'],
    'journal: on once for the test, kept on through the emergency, off only after it');
  t.ok(lastOff >= row!.endedMs!, 'the first switch-off came after the emergency\'s last sample');
});

t.test('a relay test is refused while a broadcast is on air, and so is loa relay; both work when the station is idle', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const long = await s.tone('long', { seconds: 10 });
  t.equal((await loa(s.config.paths.socket, 'play', long, '--zones', 'north')).code, 0);
  await until(() => afterOpen(s).some((x) => x.name === 'north' && x.on), 'on air, north powered');
  t.match(await province(s).runCommand(relayTest(500)), { status: 'rejected', reason: /broadcast is on air/ });
  t.match(await loa(s.config.paths.socket, 'relay', 'south', 'on'), { code: 1, out: /is\s+on\s+air:\s+relays\s+cannot\s+be\s+switched/ });
  t.notOk(s.switches().some((x) => x.name === 'south' && x.on), 'south never switched during the broadcast');
  await loa(s.config.paths.socket, 'stop');
  await until(() => afterOpen(s).filter((x) => !x.on).length >= 2, 'the stopped broadcast powered down');
  const before = s.switches().length;
  t.match(await province(s).runCommand(relayTest(300)), { status: 'done', result: { completed: true } });
  t.same(s.switches().slice(before).map((x) => `${x.name}:${x.on ? 'on' : 'off'}`), ['amp:on', 'north:on', 'south:on', 'north:off', 'south:off', 'amp:off'], 'an idle test: on, then off');
  t.equal((await loa(s.config.paths.socket, 'relay', 'south', 'on')).code, 0, 'loa relay works when idle');
  t.same(s.switches().at(-1), { ...s.switches().at(-1), name: 'south', on: true });
});
