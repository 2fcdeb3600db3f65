import t from 'tap';
import type { RelayFix } from '../src/client/client.js';
import { applyCommand, parseCommand } from '../src/simulator/commands.js';
import { next, rig, until } from './rig.js';

t.test('lossy line: every request succeeds through retries, none acts twice', async (t) => {
  const { client, sim } = await rig(t, { client: { retries: 6, requestTimeoutMs: 150 } });
  let duplicates = 0;
  sim.mcu.on('request', (r) => (r.duplicate ? duplicates++ : 0));
  sim.link.impairments.drop = 0.005;
  const wrong: number[] = [];
  for (let i = 0; i < 150; i++) {
    const level = (i % 2) as 0 | 1;
    if ((((await client.setRelay(4, level)) >> 4) & 1) !== level) wrong.push(i);
  }
  t.same(wrong, [], 'every relay write read back its level');
  t.ok(client.stats.retries > 0, `retries happened (${client.stats.retries})`);
  t.ok(duplicates > 0, `lost responses were answered from the duplicate cache (${duplicates})`);
  t.equal(client.state, 'open', 'a lossy line is not a lost link');
});

t.test('noise: corrupted frames are rejected by CRC and retried', async (t) => {
  const { client, sim } = await rig(t, { client: { retries: 6, requestTimeoutMs: 150 } });
  sim.link.impairments.noise = 0.005;
  for (let i = 0; i < 150; i++) await client.readRelays();
  const e = client.stats.decoder.errors;
  t.ok(e.crc + e.cobs + e.length + e.short > 0, `damaged frames seen: ${JSON.stringify(e)}`);
  t.ok(client.stats.retries > 0);
});

t.test('resync after injected garbage and half frames, between and during requests', async (t) => {
  const { client, sim } = await rig(t);
  const errorsBefore = Object.values(client.stats.decoder.errors).reduce((a, b) => a + b, 0);
  const answers: number[] = [];
  for (let i = 0; i < 30; i++) {
    applyCommand(parseCommand(i % 3 === 0 ? 'half-frame' : `garbage ${1 + i * 17}`), sim.mcu, sim.link.impairments);
    const [relays, inputs] = await Promise.all([client.readRelays(), client.readInputs()]);
    answers.push(relays, inputs);
  }
  t.same(answers, new Array(60).fill(0), 'every request answered correctly');
  // Garbage longer than any frame, then a request at once.
  sim.mcu.transmitRaw(new Uint8Array(2000).fill(0x41));
  t.equal(await client.setRelay(0, 1), 1);
  const errorsAfter = Object.values(client.stats.decoder.errors).reduce((a, b) => a + b, 0);
  t.ok(errorsAfter > errorsBefore, 'the garbage was seen and dropped');
  t.ok(client.stats.decoder.errors.overrun >= 1, 'the long run was cut off, not buffered');
});

t.test('a silent line is detected by heartbeat, not by a close event', async (t) => {
  const { client, sim } = await rig(t, { client: { heartbeatMs: 200, deadAfterMs: 700 } });
  await client.setRelay(5, 1);
  const lost = next<{ reason: string }>(client, 'link-lost');
  sim.link.impairments.mute = true;
  t.match((await lost).reason, /no byte from the microcontroller for \d+ ms/);
  t.not(client.state, 'open');
  // The microcontroller loses its relays while unreachable (a brown-out).
  sim.mcu.reset('brown-out');
  const reconciled = next<{ relays: RelayFix[] }>(client, 'reconciled', 10_000, (r) => r.relays.length > 0);
  sim.link.impairments.mute = false;
  t.same((await reconciled).relays, [{ channel: 5, found: 0, driven: 1 }]);
  await until(() => client.state === 'open', 'reopen');
  t.equal(sim.mcu.relayLevels, 1 << 5);
});

t.test('unplug and replug: reopen with backoff, same client, relays reconciled', async (t) => {
  const { client, sim } = await rig(t);
  await client.setRelays(0b0110, 0b0110);
  const lost = next<{ reason: string }>(client, 'link-lost');
  await sim.pty!.unplug();
  // A close event may not come until the next write: the heartbeat's PING makes one, or silence ends it.
  t.ok((await lost).reason.length > 0);
  t.equal(client.state, 'opening');
  await t.rejects(client.readRelays(), /not connected/, 'requests fail fast while unplugged');
  await new Promise((r) => setTimeout(r, 600));
  t.equal(client.state, 'opening', 'keeps trying while the by-id path is gone');
  sim.mcu.reset('power-on');
  const reconciled = next<{ relays: RelayFix[] }>(client, 'reconciled', 10_000);
  await sim.pty!.replug();
  await until(() => client.state === 'open', 'reopen after replug');
  t.same((await reconciled).relays, [
    { channel: 1, found: 0, driven: 1 },
    { channel: 2, found: 0, driven: 1 },
  ]);
  t.equal(await client.readRelays(), 0b0110);
  t.ok(client.stats.connects >= 2 && client.stats.linkLosses >= 1);
});

t.test('replug without a microcontroller reset: read back, nothing to drive', async (t) => {
  const { client, sim } = await rig(t);
  await client.setRelay(7, 1);
  const lost = next(client, 'link-lost');
  await sim.pty!.unplug();
  await lost;
  const reconciled = next<{ relays: RelayFix[] }>(client, 'reconciled');
  await sim.pty!.replug();
  t.same((await reconciled).relays, [], 'relays were as the agent left them');
  await until(() => client.state === 'open', 'reopen');
});

t.test('a microcontroller reset in the middle of a request', async (t) => {
  const { client, sim } = await rig(t);
  await client.setRelay(0, 1);
  const resets = next<{ cause: string }>(client, 'reset');
  sim.mcu.responseDelayMs = 80;
  const inFlight = client.setRelay(1, 1);
  setTimeout(() => sim.mcu.reset('software'), 20);
  // The response never comes; the retry finds a fresh microcontroller, which asks for a handshake first.
  t.equal((await inFlight) & 0b10, 0b10, 'the request completes after the reset');
  t.ok(await resets);
  await until(() => sim.mcu.relayLevels === 0b11, 'relay 0 restored after the reset, relay 1 set');
  t.equal(await client.readRelays(), 0b11);
  t.equal(client.stats.mcuResets, 1);
});

t.test('a reset whose BOOT event is lost is found by the heartbeat', async (t) => {
  const { client, sim } = await rig(t, { client: { heartbeatMs: 200, deadAfterMs: 2000 } });
  await client.setRelay(3, 1);
  sim.link.impairments.mute = true;
  sim.mcu.reset('watchdog');
  await new Promise((r) => setTimeout(r, 100));
  const reconciled = next<{ relays: RelayFix[] }>(client, 'reconciled', 8000, (r) => r.relays.length > 0);
  sim.link.impairments.mute = false;
  t.same((await reconciled).relays, [{ channel: 3, found: 0, driven: 1 }]);
  t.equal(client.stats.linkLosses, 0, 'no reconnect was needed');
});

t.test('the client opens a path that appears later, and closes cleanly while trying', async (t) => {
  const { client, sim } = await rig(t, { open: false });
  await sim.pty!.unplug();
  client.start();
  await until(() => client.error !== null, 'a first failed attempt');
  t.match(client.error, /no serial device at .*host \(unplugged/);
  await sim.pty!.replug();
  await client.whenOpen(10_000);
  t.equal(client.state, 'open');
  await client.close();
  t.equal(client.state, 'closed');
});
