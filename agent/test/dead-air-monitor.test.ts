/**
 * The dead-air adapter on a sink that cannot report what it plays (a sound
 * card through aplay is measured at write): a write of silence, or no write
 * at all while an item is on air, is silence from where the audio ran out.
 */
import t from 'tap';
import { DeadAirMonitor } from '../src/audio/dead-air-monitor.js';
import { silentLogger } from '../src/lib/logger.js';
import { CaptureSink } from './audio-fixture.js';
import type { DeadAirTransition } from '../src/audio/dead-air.js';

const loud = (): Buffer => {
  const b = Buffer.alloc(3840); // 20 ms
  for (let i = 0; i < b.length / 2; i++) b.writeInt16LE(i % 2 ? -8000 : 8000, i * 2);
  return b;
};

t.test('measured at write: writes that stop while an item is on air raise, sound clears', async (t) => {
  const monitor = new DeadAirMonitor({ thresholdDb: -50, holdMs: 500 }, silentLogger());
  t.teardown(() => monitor.close());
  const card = new CaptureSink();
  const sink = monitor.watch(card);
  t.not(sink, card, 'a card without a played listener is wrapped');
  const seen: Array<DeadAirTransition & { wallMs: number }> = [];
  monitor.onDeadAir((x) => seen.push({ ...x, wallMs: Date.now() }));
  monitor.onDeadAir(() => {
    throw new Error('a listener that fails');
  });
  monitor.sounding(true);
  await sink.write(loud());
  const stoppedAt = Date.now();
  t.ok((monitor.status().levelDb ?? -Infinity) > -15, `the level of what was written (${monitor.status().levelDb} dBFS)`);
  // Nothing more is written: the decoder stalled, the card plays silence.
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(seen.length, 1, 'raised once, the failing listener notwithstanding');
  t.equal(seen[0]!.kind, 'raised');
  t.ok(seen[0]!.wallMs - stoppedAt >= 450 && seen[0]!.wallMs - stoppedAt <= 500 + 1000, `raised ${seen[0]!.wallMs - stoppedAt} ms after the audio ran out (within its set time + 1 s)`);
  t.ok(monitor.status().alarm);
  await sink.write(loud());
  t.equal(seen.at(-1)!.kind, 'cleared', 'sound back: cleared');
  t.equal(card.received().length, 2 * 3840, 'every byte reached the card');
  monitor.sounding(false);
  await new Promise((r) => setTimeout(r, 800));
  t.equal(seen.length, 2, 'no item on air: silence is no alarm');
});
