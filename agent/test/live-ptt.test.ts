/**
 * Push-to-talk on the station's microcontroller (the simulated MCU over a
 * socat pseudo-terminal): pressed, the microphone (a real arecord on a
 * file-backed ALSA PCM) goes on air at the configured class with the
 * relays switched by the MCU; released, it ends, and the row names the
 * recording of what was said.
 */
import t from 'tap';
import { CAPTURE_BUFFER_MS } from '../src/audio/live/capture.js';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { CLASS_PRIORITY } from '../src/domain/types.js';
import { isTone } from './audio-fixture.js';
import { until } from './sync-fixture.js';
import { liveStation, recordingSpans } from './mic-fixture.js';
import { BRIDGE_RELAYS } from './station-fixture.js';

t.test('holding the talk button puts the microphone on air; releasing it ends the live', async (t) => {
  const sim = await startSimulator({ log: silentLogger(), pty: {} });
  t.teardown(() => sim.stop());
  const { s, mic, heard } = await liveStation(
    t,
    {
      relays: BRIDGE_RELAYS,
      bridge: { path: sim.hostPath, inputs: { '0': 'emergency', '3': 'talk' } },
    },
    { ownRelays: false, capture: { ptt: { input: 'talk', class: 'priority', zones: ['south'] } } },
  );
  const relays = (): number => Number((sim.mcu.snapshot() as { relays: number }).relays);
  await until(() => s.agent.problems().every((p) => !/bridge/.test(p)) || undefined, 10_000, 'the bridge to connect');

  sim.mcu.setInput(3, 1);
  await until(() => (s.agent.media.liveStatus(Date.now())?.onAir && mic.open) || undefined, 20_000, 'the microphone on air');
  t.equal(relays() & 0b111, 0b101, 'the MCU switched the amplifier and the configured zone (south) on');
  t.equal(s.agent.conductor.nowPlaying()?.priority, CLASS_PRIORITY.priority, 'at the configured class');
  await new Promise((r) => setTimeout(r, 300));
  await mic.tone(800, 1500);
  await new Promise((r) => setTimeout(r, 1800));
  sim.mcu.setInput(3, 0);
  const [row] = await s.rows(1, 20_000);
  t.equal(row!.result, 'played', 'released: the live ended as played');
  t.equal(row!.priority, CLASS_PRIORITY.priority);
  t.same(row!.zones, ['south']);
  await until(() => (relays() & 0b111) === 0 || undefined, 10_000, 'the relays off after the tail');

  const spans = heard.finish().filter((x) => x.durationMs > 100);
  // A starved machine drops live audio; the splice leaves a short piece whose pitch cannot be told (as in live-capture).
  const toneMs = spans.filter((x) => isTone(x, 800)).reduce((n, x) => n + x.durationMs, 0);
  t.ok(spans.length > 0 && spans.every((x) => isTone(x, 800) || x.durationMs < 400) && toneMs > 1000, `800 Hz reached the sink, and nothing else: ${JSON.stringify(spans.map((x) => [Math.round(x.freqHz), Math.round(x.durationMs)]))}`);
  const heardMs = spans.at(-1)!.endMs - spans[0]!.startMs;
  // Behind the voice by at most what the capture holds and the card buffers (live-capture.test.ts).
  t.ok(heardMs > 1200 && heardMs < 1500 + CAPTURE_BUFFER_MS + 40 + 10, `about as long as it was said (${Math.round(heardMs)} ms of 1500)`);
  const rec = recordingSpans(s, row!.content!).filter((x) => x.durationMs > 100);
  t.ok(rec.length >= 1 && rec.every((x) => isTone(x, 800)), 'the recording in the cache holds it');
});
