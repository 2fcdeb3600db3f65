import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeChime, makeSpeech, makeTestTone } from '../src/audio/tones.js';
import { measureLoudness } from '../src/audio/loudness.js';
import { probeMedia } from '../src/audio/probe.js';
import { tempDir, hasCommand } from './audio-fixture.js';

const dir = tempDir('tones');

t.test('the chime: about 2 s, 48 kHz stereo WAV, audible and not clipping', async (t) => {
  const path = join(dir, 'chime.wav');
  t.equal(await makeChime(path), path);
  const probe = await probeMedia(path, 'audio');
  t.equal(probe.format, 'wav/pcm_s16le');
  t.ok(probe.durationMs >= 1800 && probe.durationMs <= 2200, `${probe.durationMs} ms`);
  const l = await measureLoudness(path);
  t.ok(l.integratedLufs > -40 && l.truePeakDbtp < -1, `${l.integratedLufs} LUFS, ${l.truePeakDbtp} dBTP`);
});

t.test('the test tone has the asked level and length', async (t) => {
  const path = join(dir, 'tone.wav');
  await makeTestTone(path, 'ffmpeg', { levelDb: -12, durationMs: 1500, frequencyHz: 440 });
  t.equal((await probeMedia(path, 'audio')).durationMs, 1500);
  const l = await measureLoudness(path);
  t.ok(Math.abs(l.truePeakDbtp + 12) < 0.3, `peak ${l.truePeakDbtp} dBTP`);
});

const haveEspeak = hasCommand('espeak-ng');

t.test('Vietnamese speech with espeak-ng', { skip: haveEspeak ? false : 'espeak-ng not installed' }, async (t) => {
  const path = join(dir, 'speech.wav');
  let fellBack = false;
  await makeSpeech(path, 'Xin chào bà con. Đây là bản tin thử nghiệm.', { onFallback: () => (fellBack = true) });
  t.notOk(fellBack);
  const probe = await probeMedia(path, 'audio');
  t.ok(probe.durationMs > 1000, `${probe.durationMs} ms of speech`);
  t.ok((await measureLoudness(path)).integratedLufs > -40, 'and it is audible');
});

t.test('without espeak-ng a tone stands in for the speech', async (t) => {
  const path = join(dir, 'fallback.wav');
  const why: string[] = [];
  t.equal(await makeSpeech(path, 'Xin chào', { espeakPath: '/nonexistent/espeak-ng', onFallback: (w) => why.push(w) }), path);
  t.match(why, [/not installed/]);
  t.ok((await probeMedia(path, 'audio')).durationMs >= 1000);
});

t.test('measuring and probing what is not audio fails with the reason', async (t) => {
  const bad = join(dir, 'bad.ogg');
  writeFileSync(bad, 'OggS but not really');
  await t.rejects(measureLoudness(bad), /bad\.ogg/);
  await t.rejects(probeMedia(bad, 'audio'), /bad\.ogg|Invalid data/);
  await t.rejects(measureLoudness(bad, '/nonexistent/ffmpeg'), /cannot run \/nonexistent\/ffmpeg/);
  await t.rejects(probeMedia(bad, 'audio', '/nonexistent/ffprobe'), /cannot run \/nonexistent\/ffprobe/);
});
