import t from 'tap';
import { rig } from './rig.js';

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
