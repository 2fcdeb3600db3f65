/**
 * The FM tuner as a live item's last source, through the real bridge client
 * and the simulated microcontroller on a pseudo-terminal: when the stream is
 * dead the chain tunes the receiver and routes it to the amplifier, and
 * releases it when the relay ends; the row says the FM source carried it.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, BRIDGE_RELAYS } from './station-fixture.js';
import { freePort } from './stream-fixture.js';
import { until } from './sync-fixture.js';

t.test('a dead stream falls back to the bridge\'s FM tuner, tuned and released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-live-fm-'));
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const s = await startStation(
    {
      relays: BRIDGE_RELAYS,
      bridge: { path: sim.hostPath },
    },
    dir,
    { ownRelays: false },
  );
  t.teardown(() => s.stop());
  const fm = (): { mhz: number; playing: boolean } => (sim.mcu.snapshot() as { fm: { mhz: number; playing: boolean } }).fm;
  t.equal(fm().playing, false, 'the tuner is silent before the relay');
  const nobody = await freePort();
  s.once({
    id: 'vov1', name: 'Tiếp sóng VOV1', zones: ['north'],
    items: [{ live: { label: 'VOV1', durationMs: 7000, sources: [{ id: 'vov1', kind: 'http', url: `http://127.0.0.1:${nobody}/vov1.mp3` }, { id: 'fm', kind: 'fm', fmKHz: 102_700 }] } }],
  }, 1500);
  await until(() => fm().playing, 20_000, 'the tuner routed to the amplifier');
  t.equal(fm().mhz, 102.7, 'tuned to the item\'s frequency');
  const [row] = await s.rows(1, 30_000);
  await until(() => !fm().playing, 5000, 'the tuner released');
  t.pass('released when the relay ended');
  t.equal(row!.result, 'played', 'the relay played');
  t.equal(row!.live?.segments.at(-1)?.kind, 'fm', 'its last segment is the FM source');
});
