import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, BRIDGE_RELAYS } from './station-fixture.js';
import { main } from '../src/cli/main.js';

t.test('the agent drives its relays through the microcontroller and answers its buttons', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-station-bridge-'));
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const s = await startStation(
    {
      relays: BRIDGE_RELAYS,
      bridge: { path: sim.hostPath, inputs: { '0': 'emergency', '1': 'stop' }, watchdog: { enabled: true, timeoutMs: 10_000, warnMs: 2000 } },
    },
    dir,
    { ownRelays: false },
  );
  t.teardown(() => s.stop());
  const relays = (): number => Number((sim.mcu.snapshot() as { relays: number }).relays);
  t.equal(relays(), 0, 'every relay off at start');

  let out = '';
  const io = { stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (out += x) } };
  process.env.LOA_SOCKET = s.config.paths.socket;
  t.equal(await main(['--config', '/nonexistent', '--json', 'bridge', 'status'], io), 0, out);
  t.match(out, /"state": "open"/);

  // The emergency button on the station: the siren plays on every zone at once.
  sim.mcu.setInput(0, 1);
  const rows = await s.rows(1, 20_000);
  t.equal(rows[0]!.priority, 9);
  t.equal(rows[0]!.content, s.agent.media.siren);
  t.same(rows[0]!.zones, ['north', 'south']);
  t.equal(relays() & 0b111, 0b111, 'amplifier and both zones on, through the microcontroller');
  // The stop button ends it.
  sim.mcu.setInput(1, 1);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(s.agent.conductor.nowPlaying(), null, 'the stop button stopped the emergency');
  t.equal(relays() & 0b111, 0, 'and the relays went off after the tail');
  const wd = sim.mcu.snapshot() as { watchdog?: { enabled?: boolean } };
  t.ok(wd.watchdog?.enabled, 'the hardware watchdog is armed and fed');
});
