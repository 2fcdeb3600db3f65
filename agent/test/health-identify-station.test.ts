/**
 * Health and identify on a whole station: the simulated microcontroller
 * over a socat pty, a real Mosquitto (TLS, passwords, ACL) and the
 * reference province. The microcontroller's readings and inputs cross the
 * thresholds; the province must get each alarm once when raised and once
 * when cleared. `loa identify` beeps on the monitor output (not the
 * village zones), shows the id on the board (read in a real Chromium) and
 * blinks the LED (the simulated pin's journal); it is refused during an
 * emergency.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosquittoBroker } from '../../province/src/mosquitto.js';
import { Province } from '../../province/src/province.js';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation, BRIDGE_RELAYS } from './station-fixture.js';
import { loa } from './daemon-fixture.js';
import { isTone, toneSpans } from './audio-fixture.js';
import { existsSync } from 'node:fs';
import { until } from './sync-fixture.js';
import { launchBrowser } from './chromium-fixture.js';

interface AlarmEvent {
  event: string;
  level: string;
  data: { alarm: string; state: string; text: { vi: string; en: string } };
}

t.test('health alarms from the microcontroller reach the province as transitions; identify', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-health-'));
  const keys = generateProvinceKeys();
  const broker = await MosquittoBroker.create({ dir: join(dir, 'mosq'), province: { username: 'province', password: 'pw-prov' }, stations: [{ id: 'test-station', groups: [], password: 'pw-st' }] });
  t.teardown(() => broker.stop());
  const province = new Province({ url: broker.url, username: 'province', password: 'pw-prov', ca: readFileSync(broker.certs.caFile), privateKey: keys.privateKey });
  await province.connect();
  t.teardown(() => province.close());
  const passwordFile = join(dir, 'st.password');
  writeFileSync(passwordFile, 'pw-st\n', { mode: 0o600 });
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const monitor = join(dir, 'monitor.raw');
  const village = join(dir, 'out.raw');
  const s = await startStation(
    {
      relays: BRIDGE_RELAYS,
      bridge: { path: sim.hostPath, inputs: { '0': 'emergency', '1': 'door', '2': 'amp-fault', '3': 'stop' } },
      audio: { sink: { kind: 'file', path: village }, monitor: { kind: 'file', path: monitor }, chime: { enabled: false } },
      health: { pollS: 5 },
      board: { port: 0 },
      sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], passwordFile, tls: { caFile: broker.certs.caFile }, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
    },
    dir,
    { ownRelays: false },
  );
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect to Mosquitto');
  process.env.LOA_SOCKET = s.config.paths.socket;
  t.teardown(() => delete process.env.LOA_SOCKET);

  const alarms = (): AlarmEvent[] => [...province.received.values()].filter((m) => m.kind === 'event' && (m.body as { event: string }).event === 'health.alarm').map((m) => m.body as AlarmEvent);
  const seen = (id: string, state: string): number => alarms().filter((a) => a.data.alarm === id && a.data.state === state).length;

  // The cabinet door opens (an INPUT event): an alarm at once, with what to do in both languages.
  sim.mcu.setInput(1, 1);
  await province.waitFor(() => (seen('door-open', 'raised') === 1 ? true : undefined), 20_000, 'door alarm at the province');
  const door = alarms().find((a) => a.data.alarm === 'door-open')!;
  t.equal(door.level, 'warn');
  t.match(door.data.text.vi, /cửa tủ đang MỞ/);

  // The supply sags to 10.9 V: under the station's 11 V threshold, above the firmware's own 10.5 V fault.
  sim.mcu.setAnalog('voltage', 10_900);
  await province.waitFor(() => (seen('supply-low', 'raised') === 1 ? true : undefined), 20_000, 'supply-low alarm (read every 5 s)');
  // Further down, the firmware raises its own fault (a FAULT event).
  sim.mcu.setAnalog('voltage', 10_000);
  await province.waitFor(() => (seen('mcu-fault.supply-low', 'raised') === 1 ? true : undefined), 20_000, 'the microcontroller fault');
  t.equal(alarms().find((a) => a.data.alarm === 'mcu-fault.supply-low')!.level, 'error');

  // loa doctor with the agent running names the standing alarms.
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(s.config));
  const doctor = JSON.parse((await loa('--config', configPath, '--json', 'doctor')).out) as { checks: Array<{ code: string; status: string }> };
  t.same(doctor.checks.filter((c) => c.code.startsWith('health.')).map((c) => [c.code, c.status]).sort(), [['health.door-open', 'warn'], ['health.mcu-fault.supply-low', 'fail'], ['health.supply-low', 'warn']]);

  // Everything back: each alarm cleared once; two more polls pass and nothing repeats.
  sim.mcu.setInput(1, 0);
  sim.mcu.setAnalog('voltage', null);
  await province.waitFor(() => (['door-open', 'supply-low', 'mcu-fault.supply-low'].every((id) => seen(id, 'cleared') === 1) ? true : undefined), 20_000, 'the clears');
  await new Promise((r) => setTimeout(r, 11_000));
  t.same(
    alarms().map((a) => `${a.data.alarm}:${a.data.state}`).sort(),
    ['door-open:cleared', 'door-open:raised', 'mcu-fault.supply-low:cleared', 'mcu-fault.supply-low:raised', 'supply-low:cleared', 'supply-low:raised'],
    'transitions, not repeats',
  );
  t.same(s.agent.problems().filter((p) => p.startsWith('health:')), []);

  // loa identify: beeps at the monitor, the id on the board, the LED blinking.
  const browser = await launchBrowser(join(dir, 'profile'), { width: 1280, height: 720 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(s.agent.board!.server.url);
  const ledBefore = sim.mcu.ledJournal.length;
  const r = await loa('--config', '/nonexistent', '--lang', 'en', 'identify', '--duration', '4s');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /Station: test-station/);
  t.match(r.out, /Beeped on the monitor output \(file\)/);
  t.match(r.out, /The I\/O board LED is blinking/);
  await page.waitForFunction(() => document.body.innerText.includes('test-station'), undefined, { timeout: 10_000 });
  t.ok((await page.evaluate(() => document.body.innerText)).includes('test-station'), 'the board shows the station id');
  const beeps = toneSpans(readFileSync(monitor), { silenceMs: 20 }).filter((x) => isTone(x, 1000));
  t.equal(beeps.length, 3, 'three beeps at the monitor');
  for (const b of beeps) t.ok(Math.abs(b.durationMs - 200) <= 10, `a beep of ${b.durationMs.toFixed(0)} ms`);
  t.same(existsSync(village) ? toneSpans(readFileSync(village), { silenceMs: 20 }).filter((x) => isTone(x, 1000)) : [], [], 'nothing on the village zones');
  t.equal(Number((sim.mcu.snapshot() as { relays: number }).relays) & 0b111, 0, 'no relay switched for it');
  await new Promise((res) => setTimeout(res, 4500));
  const led = sim.mcu.ledJournal.slice(ledBefore);
  t.ok(led.length >= 12 && led.length <= 18, `the LED blinked for 4 s at 2 Hz (${led.length} transitions)`);
  t.equal(led.at(-1)?.on, false, 'and is off at the end');
  t.ok(led.at(-1)!.atMs - led[0]!.atMs >= 3500, 'for about the time asked');
  t.notOk(s.agent.board!.server.showing()?.key.startsWith('identify/'), 'the board went back to its rotation');

  // During an emergency (the station's button), identify is refused.
  sim.mcu.setInput(0, 1);
  await until(() => s.agent.conductor.nowPlaying()?.priority === 9, 20_000, 'the siren on air');
  const refused = await loa('--config', '/nonexistent', '--json', 'identify');
  t.equal(refused.code, 1);
  t.match(JSON.parse(refused.out), { error: { code: 'emergency' } });
  await loa('--config', '/nonexistent', 'stop', '--all');
});
