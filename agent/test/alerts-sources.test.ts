/**
 * Every source of an emergency is one kind of alert: the bridge's button
 * (the simulated microcontroller on a pseudo-terminal), `loa play --class
 * emergency` (the CLI over the control socket) and a province play command
 * (signed, through the broker) each play with an alert id in the proof of
 * play, at the station and at the province.
 */
import t from 'tap';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { main } from '../src/cli/main.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, BRIDGE_RELAYS } from './station-fixture.js';
import { tempDir } from './audio-fixture.js';
import { startProvince } from './province-fixture.js';
import { until } from './sync-fixture.js';

t.test('every source of an emergency is one kind of alert: the bridge button, loa play --class emergency and a province play each have an alert id in the proof of play', async (t) => {
  const dir = tempDir('alerts-sources');
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const { broker, keys, province } = await startProvince(t);
  const s = await startStation({
    relays: BRIDGE_RELAYS,
    bridge: { path: sim.hostPath, inputs: { '0': 'emergency', '1': 'stop' }, watchdog: { enabled: true, timeoutMs: 10_000, warnMs: 2000 } },
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, groups: ['lai-chau'], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
    alerts: { stopHoldOffS: 0 },
  }, dir, { ownRelays: false });
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');

  sim.mcu.setInput(0, 1);
  const [button] = await s.rows(1, 20_000);
  t.equal(button!.content, s.agent.media.siren, 'the button plays the siren');
  t.match(button!.alertId, /^button-/, 'its row names the alert');
  t.same(button!.zones, ['north', 'south'], 'a station emergency without an area plays on every zone');
  sim.mcu.setInput(0, 0);

  const wav = join(dir, 'cli.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=700:d=1', wav]);
  let out = '';
  process.env.LOA_SOCKET = s.config.paths.socket;
  const code = await main(['--config', '/nonexistent', '--json', 'play', wav, '--class', 'emergency'], { stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (out += x) } });
  t.equal(code, 0, out);
  const cliId = (JSON.parse(out) as { id: string }).id;
  const cli = await until(() => s.played.find((r) => r.alertId === cliId), 30_000, 'the CLI emergency played');
  t.equal(cli.result, 'played', 'loa play --class emergency: its row names its alert');

  const cmd = await province.send({ group: 'lai-chau' }, { action: 'play', content: s.agent.media.siren!, priority: 9, repeat: 1, label: 'Lũ' });
  t.equal((await province.waitResponse(cmd.id)).status, 'done');
  const prov = await until(() => s.played.find((r) => r.alertId === cmd.id), 30_000, 'the province emergency played');
  t.equal(prov.result, 'played', 'a province emergency: its row names its command as the alert');
  await until(() => [...province.received.values()].some((m) => m.kind === 'play' && (m.body as { alertId?: string }).alertId === cmd.id), 20_000, 'its row at the province with the alert id');
  const origins = s.agent.alerts.status().map((a) => a.origin).sort();
  t.same(origins, ['button', 'cli', 'province'], 'each is in the alert registry with its origin');
});
