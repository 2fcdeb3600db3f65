import t from 'tap';
import { BridgeRelayDriver } from '../src/client/relay-driver.js';
import { McuRefusedError, NotConnectedError } from '../src/client/client.js';
import { bridgeClock, bridgeInputs, bridgeRelay, bridgeStatus, bridgeWatchdog } from '../src/control.js';
import { ErrCode } from '../src/protocol/messages.js';
import type { FaultChange, InputChange } from '../src/client/client.js';
import { next, rig } from './rig.js';

t.test('handshake: version, capabilities, counts', async (t) => {
  const { client, sim } = await rig(t);
  t.equal(client.state, 'open');
  t.match(client.info, { version: 1, relayCount: 8, inputCount: 4, analogCount: 3, window: 4, firmware: 'loa-sim 1.0.0', resetCause: 'power-on' });
  t.same(client.info!.capabilities, ['relays', 'inputs', 'analog', 'rtc', 'watchdog', 'fm', 'led']);
  t.equal(client.info!.bootId, (sim.mcu.snapshot() as { bootId: number }).bootId);
});

t.test('every request type over the pty', async (t) => {
  const { client, sim } = await rig(t);
  const retriesAtOpen = client.stats.retries;
  const s = await client.status();
  t.equal(s.bootId, client.info!.bootId);
  t.equal(s.relays, 0, 'the microcontroller boots with every relay at 0');

  t.equal(await client.setRelay(3, 1), 0b1000);
  t.equal(await client.setRelays(0b0011, 0b0001), 0b1001);
  t.equal(await client.readRelays(), 0b1001);
  t.equal(sim.mcu.relayLevels, 0b1001, 'the simulated hardware has the levels');

  sim.mcu.setInput(1, 1);
  await next(client, 'input');
  t.equal(await client.readInputs(), 0b10);

  const analog = await client.readAnalog();
  t.same(analog.map((a) => [a.kind, a.value, a.unit]), [['current', 1.8, 'A'], ['temperature', 34.5, '°C'], ['voltage', 12.1, 'V']], 'amplifier current follows relay 0');

  const rtc = await client.readRtc();
  t.ok(rtc.valid);
  t.ok(Math.abs(rtc.ms - Date.now()) < 2000, 'simulated RTC runs at system time');
  const set = await client.setRtc(Date.UTC(2030, 0, 1));
  t.ok(set.valid && Math.abs(set.ms - Date.UTC(2030, 0, 1)) < 1000);

  const w = await client.enableWatchdog(20_000, 5000);
  t.match(w, { enabled: true, timeoutMs: 20_000, warnMs: 5000, fired: 0 });
  t.ok((await client.feedWatchdog()).remainingMs > 15_000);
  t.match(await client.watchdogStatus(), { enabled: true });
  t.match(await client.disableWatchdog(), { enabled: false });

  t.match(await client.fmTune(102.7), { mhz: 102.7, rssiDbuv: 41, tuned: true, stereo: true, playing: false });
  t.match(await client.fmPlay(true), { playing: true });
  t.match(await client.fmStatus(), { mhz: 102.7, playing: true });
  t.match(await client.fmTune(88.1), { tuned: false }, 'no station there');
  t.ok(client.stats.requests >= 17);
  t.equal(client.stats.retries, retriesAtOpen, 'a clean line needs no retry');
});

t.test('refusals are errors that name the cause', async (t) => {
  const { client } = await rig(t, { mcu: { fm: false, relayCount: 4 } });
  await t.rejects(client.fmTune(99.5), { constructor: McuRefusedError, code: ErrCode.UNSUPPORTED, message: /no fm capability/ });
  await t.rejects(client.setRelay(5, 1), /channels the microcontroller lacks \(it has 4: 0-3\)/);
  await t.rejects(client.enableWatchdog(500), /watchdog timeout/);
});

t.test('events: input changed, fault raised and cleared, watchdog about to fire', async (t) => {
  const { client, sim } = await rig(t);
  const input = next<InputChange>(client, 'input');
  sim.mcu.setInput(0, 1);
  t.same(await input, { levels: 1, changed: 1 }, 'emergency button');

  const raised = next<FaultChange>(client, 'fault');
  sim.mcu.setAnalog('temperature', 91_000);
  t.match(await raised, { name: 'amp-overtemp', active: true, faults: ['amp-overtemp'], value: 91 });
  t.same(client.activeFaults, ['amp-overtemp']);
  const cleared = next<FaultChange>(client, 'fault');
  sim.mcu.setAnalog('temperature', null);
  t.match(await cleared, { name: 'amp-overtemp', active: false, faults: [] });

  const boardReset = next<{ fired: number }>(sim.mcu, 'board-reset', 8000);
  const warned = next<{ remainingMs: number }>(client, 'watchdog-warning', 8000);
  await client.enableWatchdog(1500, 1000);
  t.same(await warned, { remainingMs: 1000 }, 'warned before firing');
  t.same(await boardReset, { fired: 1 }, 'unfed, the watchdog resets the board');
  t.match(await client.watchdogStatus(), { enabled: false, fired: 1 });
});

t.test('fed from a loop, the watchdog never fires', async (t) => {
  const { client, sim } = await rig(t);
  let fired = false;
  sim.mcu.on('board-reset', () => (fired = true));
  await client.enableWatchdog(1000, 500);
  for (let i = 0; i < 10; i++) {
    await client.feedWatchdog();
    await new Promise((r) => setTimeout(r, 200));
  }
  t.notOk(fired);
  await client.disableWatchdog();
});

t.test('BridgeRelayDriver serves the agent relay interface', async (t) => {
  const { client, sim } = await rig(t);
  const d = new BridgeRelayDriver(client);
  t.equal(d.kind, 'bridge');
  await t.rejects(d.open([{ line: 17, initial: 0 }]), /not a microcontroller relay channel/);
  await t.rejects(d.open([{ line: 9, initial: 0 }]), /do not exist on the microcontroller/);
  await d.open([
    { line: 0, initial: 0 },
    { line: 2, initial: 1 },
  ]);
  t.equal(sim.mcu.relayLevels, 0b100);
  await d.write(0, 1);
  t.equal(await d.read(0), 1);
  t.equal(await d.read(2), 1);
  sim.mcu.reset();
  // read() asks the hardware: after the reset and the client's reconcile, the levels are back.
  await next(client, 'reconciled', 8000);
  t.equal(await d.read(0), 1);
  await t.rejects(d.write(1, 1), /not opened/);
  await d.close();
});

t.test('control functions return plain JSON', async (t) => {
  const { client } = await rig(t);
  const status = await bridgeStatus(client);
  t.match(status, { state: 'open', firmware: 'loa-sim 1.0.0', protocol: 1, faults: [] });
  t.same(JSON.parse(JSON.stringify(status)), status, 'JSON round-trips');
  const r = await bridgeRelay(client, { channel: 1, level: 1 });
  t.match((r.relays as unknown[])[1], { channel: 1, level: 1, desired: 1 });
  t.match((r.relays as unknown[])[0], { channel: 0, level: 0, desired: null });
  t.match(await bridgeInputs(client, { 0: 'emergency' }), { inputs: [{ channel: 0, name: 'emergency', level: 0 }] });
  t.match(await bridgeClock(client), { rtc: { valid: true }, trusted: true, verdict: 'valid' });
  await t.rejects(bridgeClock(client, { setFromSystem: { ntpSynchronized: false } }), /not synchronised by NTP/);
  t.match(await bridgeWatchdog(client, { action: 'enable', timeoutMs: 30_000 }), { supported: true, enabled: true, warnMs: 7500 });
  t.match(await bridgeWatchdog(client, { action: 'disable' }), { enabled: false });
  await client.close();
  t.match(await bridgeStatus(client), { state: 'closed' });
  await t.rejects(bridgeRelay(client), NotConnectedError);
});
