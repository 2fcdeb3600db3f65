import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { startDecoder } from '../src/audio/decoder.js';
import { playItem } from '../src/audio/player.js';
import { measureLoudness, normalisationGain, volumeGainDb } from '../src/audio/loudness.js';
import { bytesToMs, msToBytes } from '../src/audio/pcm.js';
import { wallClockMs } from '../src/audio/clock.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import { FORMATS, makeTone, measureRaw, tempDir, type Format } from './audio-fixture.js';

const log = silentLogger();
const dir = tempDir('play');
const target = { targetLufs: -23, truePeakDbtp: -2 };

/** Plays `file` at `gainDb` into a fresh file sink; returns the outcome and the recording. */
async function playToFile(file: string, gainDb: number, extra: { offsetMs?: number; fadeMs?: number; abortAfterMs?: number; stallTimeoutMs?: number } = {}) {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}.raw`);
  const sink = new PacedSink({ path: out }, log);
  await sink.open();
  const decoder = startDecoder({ file, gainDb, ...(extra.offsetMs ? { offsetMs: extra.offsetMs } : {}), fadeInMs: extra.fadeMs ?? 0, fadeOutMs: extra.fadeMs ?? 0 }, log);
  const ac = new AbortController();
  // The abort counts from the first audible sample, so a slow ffmpeg start on a busy machine does not matter.
  const abortAfterMs = extra.abortAfterMs;
  if (abortAfterMs !== undefined) {
    const off = sink.onPlayed((p) => {
      if (firstAudibleFrame(p) < 0) return;
      off();
      setTimeout(() => ac.abort(), abortAfterMs);
    });
  }
  const outcome = await playItem({ decoder, sink, signal: ac.signal, stallTimeoutMs: extra.stallTimeoutMs ?? 5000, log });
  await sink.drain();
  await sink.close();
  return { outcome, out, decoder };
}

t.test('every format decodes to 48 kHz stereo PCM at the sink', async (t) => {
  for (const format of Object.keys(FORMATS) as Format[]) {
    const file = makeTone(dir, `fmt-${format}`, format, { seconds: 1, levelDb: -20 });
    const { outcome, out } = await playToFile(file, 0);
    t.equal(outcome.result, 'played', `${format} played`);
    t.ok(Math.abs(outcome.playedMs - 1000) < 60, `${format}: ${outcome.playedMs.toFixed(0)} ms of audio`);
    const m = measureRaw(out);
    t.ok(Math.abs(m.truePeakDbtp + 20) < 1, `${format}: peak ${m.truePeakDbtp} dBTP at the sink, as made`);
  }
});

t.test('two sources 12 dB apart both play at -23 LUFS, peaks under -2 dBTP', async (t) => {
  const loud = makeTone(dir, 'loud', 'mp3', { levelDb: -5, seconds: 3, noise: true });
  const quiet = makeTone(dir, 'quiet', 'm4a', { levelDb: -17, seconds: 3, noise: true });
  for (const file of [loud, quiet]) {
    const measured = await measureLoudness(file);
    const gain = normalisationGain(measured, target);
    const { outcome, out } = await playToFile(file, gain);
    t.equal(outcome.result, 'played');
    const m = measureRaw(out);
    t.ok(Math.abs(m.integratedLufs + 23) <= 1, `${file}: measured ${measured.integratedLufs} LUFS, gain ${gain} dB, played at ${m.integratedLufs} LUFS`);
    t.ok(m.truePeakDbtp <= -2, `true peak ${m.truePeakDbtp} dBTP`);
  }
});

t.test('a peaky source is held under the true-peak ceiling, not pushed to -23', async (t) => {
  // A quiet bed with full-scale clicks: loudness is low, peaks are high.
  const file = join(dir, 'clicks.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-filter_complex', 'sine=f=440:d=3:sample_rate=48000,volume=-30dB,pan=stereo|c0=c0|c1=c0[bed];aevalsrc=\'if(lt(mod(t\\,1)\\,0.002)\\,0.9\\,0)\':d=3:s=48000,pan=stereo|c0=c0|c1=c0[clk];[bed][clk]amix=inputs=2:normalize=0', '-c:a', 'pcm_s16le', file]);
  const measured = await measureLoudness(file);
  const gain = normalisationGain(measured, target);
  const { out } = await playToFile(file, gain);
  const m = measureRaw(out);
  t.ok(m.truePeakDbtp <= -1.9, `true peak ${m.truePeakDbtp} dBTP (gain ${gain} dB)`);
  t.ok(m.integratedLufs < -23.5, `loudness stays below target: ${m.integratedLufs} LUFS`);
});

t.test('volume attenuates by the volume law', async (t) => {
  const file = makeTone(dir, 'vol', 'flac', { levelDb: -10, seconds: 1 });
  const { out } = await playToFile(file, volumeGainDb(50));
  const m = measureRaw(out);
  t.ok(Math.abs(m.truePeakDbtp - (-10 - 12.04)) < 0.6, `50 % volume: peak ${m.truePeakDbtp} dBTP`);
  const muted = await playToFile(file, volumeGainDb(0));
  t.equal(muted.outcome.result, 'played');
  t.equal(readFileSync(muted.out).findIndex((b) => b !== 0), -1, 'volume 0 is silence');
});

t.test('fades: no click at the start and the end', async (t) => {
  const file = makeTone(dir, 'fade', 'wav', { levelDb: -6, seconds: 1, rate: 48000 });
  const { out } = await playToFile(file, 0, { fadeMs: 30 });
  const pcm = readFileSync(out);
  const start = firstAudibleFrame(pcm) * 4;
  const peak = (from: number, ms: number): number => {
    let p = 0;
    for (let i = from; i < from + msToBytes(ms); i += 2) p = Math.max(p, Math.abs(pcm.readInt16LE(i)));
    return p;
  };
  const full = peak(start + msToBytes(300), 100);
  t.ok(peak(start, 3) < full * 0.15, 'the first 3 ms are faded');
  let end = pcm.length - 2;
  while (end > 0 && pcm.readInt16LE(end) === 0) end -= 2;
  const endFrame = end - (end % 4);
  t.ok(peak(endFrame - msToBytes(3), 3) < full * 0.15, 'the last 3 ms are faded');
});

t.test('resume from an offset', async (t) => {
  const file = makeTone(dir, 'offset', 'mp3', { seconds: 2 });
  const { outcome } = await playToFile(file, 0, { offsetMs: 1500 });
  t.equal(outcome.result, 'played');
  t.ok(Math.abs(outcome.playedMs - 500) < 80, `played the last ${outcome.playedMs.toFixed(0)} ms`);
});

t.test('a corrupt file fails with ffmpeg\'s reason, nothing played', async (t) => {
  const file = join(dir, 'garbage.mp3');
  writeFileSync(file, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) % 256)));
  const { outcome } = await playToFile(file, 0);
  t.equal(outcome.result, 'failed');
  t.equal(outcome.startedAtMs, null);
  t.match(outcome.reason, /garbage\.mp3|Invalid data|could not|Failed/i, `reason: ${outcome.reason}`);
});

t.test('a missing file fails naming the file', async (t) => {
  const { outcome } = await playToFile(join(dir, 'nope.mp3'), 0);
  t.equal(outcome.result, 'failed');
  t.match(outcome.reason, /nope\.mp3: No such file or directory/);
});

t.test('a truncated file plays what is there', async (t) => {
  const file = makeTone(dir, 'trunc', 'mp3', { seconds: 2 });
  const bytes = readFileSync(file);
  const cut = join(dir, 'trunc-half.mp3');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const { outcome } = await playToFile(cut, 0);
  t.equal(outcome.result, 'played');
  t.ok(outcome.playedMs > 700 && outcome.playedMs < 1300, `about half: ${outcome.playedMs.toFixed(0)} ms`);
});

t.test('a decoder that never produces audio is killed: decoder stalled', async (t) => {
  const fifo = join(dir, 'never.fifo');
  execFileSync('mkfifo', [fifo]);
  const started = performance.now();
  const { outcome, decoder } = await playToFile(fifo, 0, { stallTimeoutMs: 700 });
  const took = performance.now() - started;
  t.equal(outcome.result, 'failed');
  t.equal(outcome.reason, 'decoder stalled');
  t.ok(took >= 650 && took < 5000, `gave up after ${took.toFixed(0)} ms`);
  t.same(await decoder.done, { ok: false, reason: 'killed' }, 'ffmpeg was killed');
});

t.test('abort mid-play stops within a fade and reports what was played', async (t) => {
  const file = makeTone(dir, 'long', 'opus', { seconds: 6 });
  const { outcome, out, decoder } = await playToFile(file, 0, { abortAfterMs: 400, fadeMs: 20 });
  t.equal(outcome.result, 'interrupted');
  // 400 ms heard, plus at most the sink buffer (40), one slice (20) and the fade (20), plus timer slack.
  t.ok(outcome.playedMs >= 400 && outcome.playedMs < 1000, `playedMs ${outcome.playedMs.toFixed(0)}`);
  const pcm = readFileSync(out);
  let last = pcm.length - 2;
  while (last > 0 && pcm.readInt16LE(last) === 0) last -= 2;
  const heardMs = bytesToMs(last + 2 - (pcm.findIndex((b) => b !== 0) & ~3));
  t.ok(Math.abs(heardMs - outcome.playedMs) < 1, `playedMs is what the sink played (${heardMs.toFixed(2)} ms heard)`);
  // A 1 kHz sine at -20 dBFS moves at most 2π·1000·3277/48000 ≈ 429 per sample; a hard cut would step by up to 3277.
  let step = 0;
  for (let i = 4; i < pcm.length; i += 4) step = Math.max(step, Math.abs(pcm.readInt16LE(i) - pcm.readInt16LE(i - 4)));
  t.ok(step < 500, `the cut is faded: no sample step above the tone's own (${step})`);
  t.same(await decoder.done, { ok: false, reason: 'killed' });
});

t.test('an aborted signal before start plays nothing', async (t) => {
  const file = makeTone(dir, 'pre', 'wav', { seconds: 1 });
  const sink = new PacedSink({}, log);
  await sink.open();
  const decoder = startDecoder({ file, gainDb: 0 }, log);
  const outcome = await playItem({ decoder, sink, signal: AbortSignal.abort(), stallTimeoutMs: 5000, log });
  await sink.close();
  t.equal(outcome.result, 'interrupted');
  t.equal(outcome.playedMs, 0);
});

t.test('a pre-rolled item starts at its instant (loose bound; the benchmark measures)', async (t) => {
  const file = makeTone(dir, 'instant', 'mp3', { seconds: 1 });
  const sink = new PacedSink({}, log);
  await sink.open();
  let firstAudibleAt = 0;
  sink.onPlayed((p, at) => {
    const f = firstAudibleFrame(p);
    if (!firstAudibleAt && f >= 0) firstAudibleAt = at + (f * 1000) / 48000;
  });
  const decoder = startDecoder({ file, gainDb: 0 }, log);
  await decoder.ready;
  const startAtMs = wallClockMs() + 300;
  const outcome = await playItem({ decoder, sink, startAtMs, signal: new AbortController().signal, stallTimeoutMs: 5000, log });
  await sink.drain();
  await sink.close();
  t.equal(outcome.result, 'played');
  t.ok(outcome.startedAtMs! >= startAtMs, 'never early');
  const late = firstAudibleAt - startAtMs;
  t.ok(late >= 0 && late < 100, `first audible sample ${late.toFixed(2)} ms after the instant`);
});

t.test('a sink that stops accepting audio fails the item instead of hanging', async (t) => {
  const file = makeTone(dir, 'wedged', 'wav', { seconds: 5 });
  // What the machine lacks: a sound card that hangs. It accepts nothing, ever.
  const wedged = { kind: 'alsa' as const, failure: null, open: async () => {}, write: () => new Promise<void>(() => {}), bufferedMs: () => 0, drain: async () => {}, close: async () => {} };
  const decoder = startDecoder({ file, gainDb: 0 }, log);
  await decoder.ready; // on a busy machine ffmpeg may take longer than the stall bound to start: only the sink may stall here
  const outcome = await playItem({ decoder, sink: wedged, signal: new AbortController().signal, stallTimeoutMs: 500, log });
  t.equal(outcome.result, 'failed');
  t.match(outcome.reason, /sink \(alsa\) accepted no audio for 500 ms/);
  t.same(await decoder.done, { ok: false, reason: 'killed' });
});

t.test('a decoder that cannot pre-roll gives up by itself, so preparing never hangs', async (t) => {
  const fifo = join(dir, 'never2.fifo');
  execFileSync('mkfifo', [fifo]);
  const decoder = startDecoder({ file: fifo, gainDb: 0, readyTimeoutMs: 500 }, log);
  await decoder.ready;
  t.ok(decoder.ended);
  t.same(await decoder.done, { ok: false, reason: 'decoder stalled' });
  const sink = new PacedSink({}, log);
  await sink.open();
  const outcome = await playItem({ decoder, sink, signal: new AbortController().signal, stallTimeoutMs: 5000, log });
  await sink.close();
  t.same({ result: outcome.result, reason: outcome.reason }, { result: 'failed', reason: 'decoder stalled' });
});
