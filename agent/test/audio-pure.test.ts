import t from 'tap';
import { normalisationGain, parseEbur128Summary, volumeGainDb } from '../src/audio/loudness.js';
import { firstAudibleFrame, lastAudibleFrame, rampPcm } from '../src/audio/fade.js';
import { memoryDecoder, withGain } from '../src/audio/memory-decoder.js';
import { msToBytes } from '../src/audio/pcm.js';
import { gainFilter } from '../src/audio/decoder.js';
import { classify } from '../src/audio/probe.js';

const target = { targetLufs: -23, truePeakDbtp: -2 };

t.test('normalisation gain brings loudness to the target', async (t) => {
  t.equal(normalisationGain({ integratedLufs: -35, truePeakDbtp: -30 }, target), 12);
  t.equal(normalisationGain({ integratedLufs: -11, truePeakDbtp: -9 }, target), -12);
  t.equal(normalisationGain({ integratedLufs: -23, truePeakDbtp: -20 }, target), 0);
});

t.test('normalisation gain never lifts the true peak above the ceiling', async (t) => {
  // Needs +13 dB for loudness, but the peak at -6 dBTP allows only +4.
  t.equal(normalisationGain({ integratedLufs: -36, truePeakDbtp: -6 }, target), 4);
  // A source already above the ceiling is turned down even if quiet.
  t.equal(normalisationGain({ integratedLufs: -30, truePeakDbtp: 0.5 }, target), -2.5);
  t.equal(normalisationGain({ integratedLufs: -20, truePeakDbtp: -1 }, { targetLufs: -16, truePeakDbtp: -1 }), 0);
});

t.test('silence gets no gain', async (t) => {
  t.equal(normalisationGain({ integratedLufs: -Infinity, truePeakDbtp: -Infinity }, target), 0);
  t.equal(normalisationGain({ integratedLufs: -70, truePeakDbtp: -60 }, target), 0);
  t.equal(normalisationGain({ integratedLufs: NaN, truePeakDbtp: -60 }, target), 0);
});

t.test('volume law: 40·log10(v/100), 0 mutes, never positive', async (t) => {
  t.equal(volumeGainDb(100), 0);
  t.equal(volumeGainDb(50), -12.04);
  t.equal(volumeGainDb(10), -40);
  t.equal(volumeGainDb(0), -Infinity);
  for (let v = 1; v <= 100; v++) t.ok(volumeGainDb(v) <= 0 && volumeGainDb(v) > volumeGainDb(v - 1), `monotonic at ${v}`);
  t.throws(() => volumeGainDb(101), /0-100/);
  t.throws(() => volumeGainDb(-1), /0-100/);
  t.throws(() => volumeGainDb(NaN), /0-100/);
});

t.test('the ebur128 summary is parsed, -inf included', async (t) => {
  const text = `[Parsed_ebur128_0 @ 0x1] t: 1.9 I: -30.0 LUFS TPK: -3.0 dBFS\n[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -23.4 LUFS\n    Threshold: -33.4 LUFS\n\n  True peak:\n    Peak:       -2.1 dBFS\n`;
  t.same(parseEbur128Summary(text), { integratedLufs: -23.4, truePeakDbtp: -2.1 });
  t.same(parseEbur128Summary('Summary:\n I: -inf LUFS\n Peak: -inf dBFS'), { integratedLufs: -Infinity, truePeakDbtp: -Infinity });
  t.throws(() => parseEbur128Summary('no audio'), /no loudness summary/);
  t.throws(() => parseEbur128Summary('Summary:\n I: -20.0 LUFS'), /true peak/);
});

t.test('gain filter', async (t) => {
  t.equal(gainFilter(-3.456), 'volume=-3.46dB');
  t.equal(gainFilter(-Infinity), 'volume=0');
  t.throws(() => gainFilter(NaN));
});

t.test('ramp fades s16 stereo linearly, frame by frame', async (t) => {
  const pcm = Buffer.alloc(5 * 4);
  for (let i = 0; i < 10; i++) pcm.writeInt16LE(10000, i * 2);
  rampPcm(pcm, 1, 0);
  const left = [0, 1, 2, 3, 4].map((f) => pcm.readInt16LE(f * 4));
  const right = [0, 1, 2, 3, 4].map((f) => pcm.readInt16LE(f * 4 + 2));
  t.same(left, [10000, 7500, 5000, 2500, 0]);
  t.same(right, left, 'both channels get the same gain');
  t.equal(rampPcm(Buffer.alloc(0), 0, 1).length, 0);
});

t.test('silence detection', async (t) => {
  const pcm = Buffer.alloc(16);
  t.equal(firstAudibleFrame(pcm), -1);
  pcm[9] = 1;
  t.equal(firstAudibleFrame(pcm), 2);
});

t.test("what ffprobe's description means: an MP3's cover art is not a video, an MJPEG film is not an image", async (t) => {
  const mp3WithCover = [
    { codec_type: 'audio', codec_name: 'mp3', duration: '12.5' },
    { codec_type: 'video', codec_name: 'mjpeg', disposition: { attached_pic: 1 } },
  ];
  t.same(classify(mp3WithCover, { format_name: 'mp3' }), { kind: 'audio', format: 'mp3/mp3', durationMs: 12_500 });
  t.same(classify([{ codec_type: 'video', codec_name: 'png' }], { format_name: 'png_pipe' }), { kind: 'image', format: 'png_pipe/png', durationMs: 0 });
  t.same(classify([{ codec_type: 'video', codec_name: 'h264', duration: '3' }, { codec_type: 'audio', codec_name: 'aac' }], { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' }).kind, 'video');
  t.throws(() => classify([{ codec_type: 'video', codec_name: 'mjpeg', duration: '3' }], { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' }), /must be H\.264 in MP4 \(it is mjpeg/);
  t.throws(() => classify([{ codec_type: 'video', codec_name: 'png' }], { format_name: 'png_pipe' }, 'audio'), /no audio stream/);
  t.throws(() => classify([{ codec_type: 'audio', codec_name: 'mp3', duration: '0' }], { format_name: 'mp3' }), /no duration/);
});

t.test('the memory decoder hands out whole frames from its offset, each slice at the gain', async (t) => {
  const pcm = Buffer.alloc(msToBytes(100));
  for (let i = 0; i < pcm.length; i += 2) pcm.writeInt16LE(((i * 37) % 20000) - 10000, i);
  const d = memoryDecoder(pcm, { gainDb: -6, offsetMs: 20 });
  const parts: Buffer[] = [];
  for (let b = d.read(1001); b; b = d.read(1001)) {
    t.equal(b.length % 4, 0, 'whole frames');
    parts.push(b);
  }
  t.ok(d.ended);
  t.ok(Buffer.concat(parts).equals(withGain(pcm.subarray(msToBytes(20)), -6)), 'the rest of the sound from 20 ms, 6 dB down, sample for sample');
  t.equal(memoryDecoder(pcm, { gainDb: -Infinity }).read(64)!.findIndex((b) => b !== 0), -1, 'muted is silence');
});

t.test('lastAudibleFrame finds where a period\'s audio ends', async (t) => {
  const p = Buffer.alloc(40);
  t.equal(lastAudibleFrame(p), -1);
  p.writeInt16LE(5, 4 * 6 + 2);
  t.equal(lastAudibleFrame(p), 6);
});
