/**
 * An alert repeats as its parameters say, then ends by itself at expiry:
 * LOA_REPEAT_MINUTES=1 on an alert that expires 80 s after it is sent plays
 * twice, a minute apart counted from the end of the first play, and never
 * again. Heard at a paced sink.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { ContentServer } from '../../province/src/content-server.js';
import { startStation } from './station-fixture.js';
import { ToneTracker, joinedTones, tempDir } from './audio-fixture.js';
import { until } from './sync-fixture.js';
import { capXml, wholeSecond } from './alerts-fixture.js';
import { loa } from './daemon-fixture.js';

t.test('an alert repeats every LOA_REPEAT_MINUTES until it expires, then ends by itself', async (t) => {
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const file = join(tempDir('alerts-repeat'), 'tone-660.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=660:d=3:sample_rate=16000', '-af', 'volume=0.25,pan=stereo|c0=c0|c1=c0', '-c:a', 'pcm_s16le', file]);
  const audio = { uri: content.add(file, 'tone.wav').url, file };

  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 50 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  const plays = () => joinedTones(tracker.spans, 660, 1000);
  const s = await startStation({ alerts: { chime: false } }, tempDir('alerts-repeat-station'), { sink });
  t.teardown(() => s.stop());

  const now = wholeSecond(Date.now());
  const expiresMs = now + 80_000;
  await s.agent.alerts.receiveCap(capXml({ identifier: 'REPEAT-1', sentMs: now - 1000, expiresMs, resources: [audio], parameters: [{ valueName: 'LOA_REPEAT_MINUTES', value: '1' }] }), { origin: 'cap-command', via: 'test' });
  await until(() => plays().length >= 1, 20_000, 'the first play');
  // Between its plays the alert is in force, and the operator's status says so.
  process.env.LOA_SOCKET = s.config.paths.socket;
  const status = await loa('--config', '/nonexistent', '--lang', 'en', 'status');
  t.match(status.out, /^Alerts: REPEAT-1 Actual active/m, 'loa status lists the alert in force');
  await until(() => plays().length >= 2, 90_000, 'the second play, a minute after the first');
  await until(() => s.agent.alerts.status().find((a) => a.identifier === 'REPEAT-1')?.state === 'ended', 30_000, 'the alert ended at its expiry');
  const endedAt = Date.now();
  t.ok(endedAt >= expiresMs - 1000 && endedAt < expiresMs + 5000, `ended ${endedAt - expiresMs} ms from its expiry`);
  await new Promise((r) => setTimeout(r, 1000));

  const [first, second, ...more] = plays();
  t.equal(more.length, 0, 'played twice, never after it expired');
  t.ok(first!.durationMs > 2800 && first!.durationMs < 3300, `first play whole: ${Math.round(first!.durationMs)} ms`);
  t.ok(second!.durationMs > 2800 && second!.durationMs < 3300, `second play whole: ${Math.round(second!.durationMs)} ms`);
  const gap = second!.startMs - first!.endMs;
  t.ok(gap > 58_000 && gap < 63_000, `the repeat a minute after the first play ended: ${Math.round(gap)} ms`);
  t.ok(s.played.filter((r) => r.alertId === 'REPEAT-1' && r.result === 'played').length === 2, 'two play-log rows with the alert id');
});
