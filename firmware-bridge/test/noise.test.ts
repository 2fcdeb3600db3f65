import t from 'tap';
import type { RelayFix } from '../src/client/client.js';
import { next, rig } from './rig.js';

t.test('10 % byte corruption both ways: the link opens, every relay write takes, host and microcontroller agree', async (t) => {
  const { client, sim } = await rig(t, { impairments: { noise: 0.1 }, open: false });
  const opened = Date.now();
  await client.open(90_000);
  t.comment(`opened after ${Date.now() - opened} ms, ${client.stats.retries} retries`);
  const failures: string[] = [];
  const disagreements: number[] = [];
  for (let i = 0; i < 40; i++) {
    const channel = i % 4;
    const level = ((i >> 2) % 2) as 0 | 1;
    try {
      const readback = await client.setRelay(channel, level);
      if (((readback >> channel) & 1) !== level) failures.push(`write ${i}: read back ${readback.toString(2)}`);
    } catch (err) {
      failures.push(`write ${i}: ${(err as Error).message}`);
    }
    // The microcontroller's own outputs, read from the simulator, against what the host believes.
    if ((sim.mcu.relayLevels & client.desiredRelays.mask) !== client.desiredRelays.levels) disagreements.push(i);
  }
  t.same(failures, [], 'all 40 relay writes succeeded and read back their level');
  t.same(disagreements, [], 'after every write the microcontroller holds what the host asked for');
  const reads: number[] = [];
  for (let i = 0; i < 10; i++) reads.push(await client.readRelays());
  t.same(reads, new Array(10).fill(sim.mcu.relayLevels), 'read-backs succeed and say what the microcontroller holds');
  t.ok(client.stats.retries > 40, `the line needed retries (${client.stats.retries}); one attempt in ${(client.lineEstimate.sent / client.lineEstimate.answered).toFixed(1)} got through`);
  t.equal(client.state, 'open', 'noise is not a lost link');
});

t.test('a relay write that times out is read back and driven at once, not at the next reconnect', async (t) => {
  // A silence shorter than deadAfterMs: the link stays up, only the write is lost.
  const { client, sim } = await rig(t, { client: { retries: 2, requestTimeoutMs: 50, deadAfterMs: 15_000 } });
  await client.setRelay(3, 0);
  // The line goes silent just before the write: the microcontroller never hears it.
  sim.link.impairments.mute = true;
  const reconciled = next<{ relays: RelayFix[] }>(client, 'reconciled', 10_000, (r) => r.relays.length > 0);
  await t.rejects(client.setRelay(3, 1), /no answer/, 'the write itself fails');
  t.equal((sim.mcu.relayLevels >> 3) & 1, 0, 'the microcontroller did not get it');
  setTimeout(() => (sim.link.impairments.mute = false), 300);
  t.same((await reconciled).relays, [{ channel: 3, found: 0, driven: 1 }], 'read back as soon as the line answers, and driven');
  t.equal((sim.mcu.relayLevels >> 3) & 1, 1, 'host and microcontroller agree');
  t.equal(client.stats.linkLosses, 0, 'without a reconnect');

});

t.test('a relay write whose answers come too late is read back at once, found done, and not driven again', async (t) => {
  const { client, sim } = await rig(t, { client: { retries: 2, requestTimeoutMs: 50 } });
  await client.setRelay(3, 1);
  // Every answer a second late: longer than a request's whole patience (750 ms).
  const agreed = next<{ relays: RelayFix[] }>(client, 'reconciled', 10_000);
  sim.mcu.responseDelayMs = 1000;
  setTimeout(() => (sim.mcu.responseDelayMs = 0), 1200);
  const timeoutsBefore = client.stats.timeouts;
  t.equal((await client.setRelay(3, 0)) >> 3 & 1, 0, 'the caller gets the level read back after the write itself timed out');
  t.ok(client.stats.timeouts > timeoutsBefore, 'the write did time out');
  t.same((await agreed).relays, [], 'the read-back found the microcontroller already right');
  t.equal((sim.mcu.relayLevels >> 3) & 1, 0);
  t.same(client.desiredRelays, { mask: 1 << 3, levels: 0 });
});
