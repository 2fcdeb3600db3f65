import t from 'tap';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { silentLogger } from '../src/lib/logger.js';
import { AlsaSink, PacedSink, createSink } from '../src/audio/sink.js';
import { msToBytes } from '../src/audio/pcm.js';
import { wallClockMs } from '../src/audio/clock.js';
import { firstAudibleFrame } from '../src/audio/fade.js';
import { tempDir, hasCommand } from './audio-fixture.js';

const log = silentLogger();

/** A recognisable ramp of PCM, so the file can be compared byte for byte. */
function pattern(ms: number, seed = 1): Buffer {
  const buf = Buffer.alloc(msToBytes(ms));
  for (let i = 0; i < buf.length / 2; i++) buf.writeInt16LE(((i * 7 + seed) % 20000) + 1, i * 2);
  return buf;
}

t.test('createSink builds the configured kind', async (t) => {
  t.equal(createSink({ kind: 'null' }, log).kind, 'null');
  t.equal(createSink({ kind: 'file', path: '/tmp/x.raw' }, log).kind, 'file');
  t.equal(createSink({ kind: 'alsa', device: 'default' }, log).kind, 'alsa');
});

t.test('the paced sink plays at real-time rate and records exactly what it played', async (t) => {
  const path = join(tempDir('sink'), 'out.raw');
  const sink = new PacedSink({ path }, log);
  await sink.open();
  const pcm = pattern(1000);
  const periods: Array<{ at: number; audible: boolean }> = [];
  sink.onPlayed((period, at) => periods.push({ at, audible: firstAudibleFrame(period) >= 0 }));
  const t0 = performance.now();
  for (let off = 0; off < pcm.length; off += msToBytes(20)) await sink.write(pcm.subarray(off, off + msToBytes(20)));
  const accepted = performance.now() - t0;
  await sink.drain();
  const elapsed = performance.now() - t0;
  await sink.close();
  // Backpressure: writes of 1 s of audio cannot all be accepted before ~1 s minus the 40 ms buffer.
  t.ok(accepted > 850, `writes accepted over ${accepted.toFixed(0)} ms`);
  t.ok(elapsed > 950 && elapsed < 2500, `1 s of audio took ${elapsed.toFixed(0)} ms`);
  const file = readFileSync(path);
  const start = file.findIndex((b) => b !== 0);
  const startAligned = start - (start % 4);
  t.same(file.subarray(startAligned, startAligned + pcm.length).equals(pcm), true, 'the file holds the PCM byte for byte, in order');
  const audible = periods.filter((p) => p.audible);
  t.equal(audible.length, 200, '1 s is 200 periods of 5 ms');
  const span = audible.at(-1)!.at - audible[0]!.at;
  t.ok(Math.abs(span - 995) < 2, `periods are timestamped on a drift-free 5 ms grid (${span.toFixed(3)} ms)`);
});

t.test('a one-shot sound handed over whole survives a stalled event loop; a playout-sized buffer does not', async (t) => {
  const holes = async (opts: { aheadMs?: number }): Promise<number> => {
    const path = join(tempDir('sink'), 'out.raw');
    const sink = createSink({ kind: 'file', path }, log, opts);
    await sink.open();
    const written = sink.write(pattern(600));
    await new Promise((r) => setTimeout(r, 100));
    const until = performance.now() + 150; // the process descheduled, as on a loaded Pi
    while (performance.now() < until);
    await written;
    await sink.drain();
    await sink.close();
    const file = readFileSync(path);
    // Every sample of the pattern is non-zero: a silent frame between its first and its last is a hole.
    let silent = 0;
    const first = file.findIndex((b) => b !== 0) & ~3;
    const last = file.length - 1 - [...file].reverse().findIndex((b) => b !== 0);
    for (let i = first; i < last; i += 4) if (file.readInt32LE(i) === 0) silent++;
    return silent / 48; // ms
  };
  t.equal(await holes({ aheadMs: 600 }), 0, 'no hole when the device holds it all');
  t.ok((await holes({})) >= 100, 'a 40 ms device buffer runs dry in a 150 ms stall (what the option is for)');
});

t.test('an idle sink plays silence but records only a short gap', async (t) => {
  const path = join(tempDir('sink'), 'out.raw');
  const sink = new PacedSink({ path, recordGapMs: 100 }, log);
  await sink.open();
  await sink.write(pattern(10));
  await new Promise((r) => setTimeout(r, 400));
  await sink.write(pattern(10));
  await sink.drain();
  await sink.close();
  const bytes = statSync(path).size;
  // 2 × 10 ms of audio + at most 100 ms of recorded silence after each, in 5 ms periods.
  t.ok(bytes >= msToBytes(20 + 95) && bytes <= msToBytes(20 + 2 * 105), `recorded ${bytes} bytes`);
});

t.test('audio written late is not credited to a period that already began', async (t) => {
  const sink = new PacedSink({}, log);
  await sink.open();
  let firstAt = 0;
  sink.onPlayed((p, at) => {
    if (!firstAt && firstAudibleFrame(p) >= 0) firstAt = at;
  });
  await new Promise((r) => setTimeout(r, 30));
  const wroteAt = wallClockMs();
  // Block the event loop so the next period's timer fires late.
  const until = performance.now() + 25;
  await sink.write(pattern(10));
  while (performance.now() < until);
  await sink.drain();
  await sink.close();
  t.ok(firstAt >= wroteAt - 0.5, `first audible at ${(firstAt - wroteAt).toFixed(2)} ms after the write`);
  t.ok(firstAt - wroteAt <= 5.5, 'and within one period of it on the card timeline');
});

t.test('a cut fades what the card holds over a few ms, drops the rest and frees the writer', async (t) => {
  const path = join(tempDir('sink'), 'cut.raw');
  const sink = new PacedSink({ path }, log);
  await sink.open();
  const level = Buffer.alloc(msToBytes(300));
  for (let i = 0; i < level.length; i += 2) level.writeInt16LE(10_000, i);
  const writing = sink.write(level);
  await new Promise((r) => setTimeout(r, 100));
  const held = msToBytes(sink.bufferedMs());
  const dropped = sink.cut(8);
  await writing; // resolves at once: nothing of it is left to accept
  t.ok(dropped >= held - msToBytes(40) && dropped <= held - msToBytes(8) + 4, `dropped ${dropped} of the ${held} bytes held or waiting, kept the 8 ms fade`);
  await sink.drain();
  await sink.close();
  const file = readFileSync(path);
  let last = file.length - 2;
  while (last > 0 && file.readInt16LE(last) === 0) last -= 2;
  const audible = last + 2 - file.findIndex((b) => b !== 0);
  t.ok(Math.abs(audible - (level.length - dropped)) <= 8, `the card played what was not dropped (${audible} bytes)`);
  let step = 0;
  for (let i = 4; i <= last + 4 && i < file.length; i += 4) step = Math.max(step, Math.abs(file.readInt16LE(i) - file.readInt16LE(i - 4)));
  t.ok(step <= 10_000 / msToBytes(8) * 4 * 1.5 + 1, `no step larger than the fade's (${step}): no click`);
});

t.test('writing to a sink that is not open fails clearly', async (t) => {
  const sink = new PacedSink({}, log);
  await t.rejects(sink.write(pattern(5)), /null sink is not open/);
  await sink.open();
  await t.rejects(sink.open(), /twice/);
  const pending = sink.write(pattern(500));
  await sink.close();
  await t.rejects(pending, /closed/);
  await sink.drain();
});

t.test('a file sink on an unwritable path fails at open', async (t) => {
  const sink = new PacedSink({ path: '/nonexistent-dir/out.raw' }, log);
  await t.rejects(sink.open(), /file sink: cannot open \/nonexistent-dir\/out.raw/);
});

const haveAplay = hasCommand('aplay');

t.test('alsa sink through aplay into the ALSA file plugin', { skip: haveAplay ? false : 'aplay not installed' }, async (t) => {
  const out = join(tempDir('alsa'), 'out.raw');
  const sink = new AlsaSink({ device: `file:FILE=${out},FORMAT=raw` }, log);
  await sink.open();
  const pcm = pattern(300);
  const t0 = performance.now();
  await sink.write(pcm);
  t.ok(performance.now() - t0 >= 180, 'a write ahead of the card waits until at most 100 ms stay queued');
  t.ok(sink.bufferedMs() > 50 && sink.bufferedMs() <= 110, `the model counts what is still queued (${sink.bufferedMs().toFixed(0)} ms)`);
  await sink.drain();
  t.equal(sink.bufferedMs(), 0);
  await sink.close();
  const file = readFileSync(out);
  t.ok(file.subarray(0, pcm.length).equals(pcm), 'the device received the PCM byte for byte');
});

t.test('alsa sink: a device that does not exist fails at open, naming it', { skip: haveAplay ? false : 'aplay not installed' }, async (t) => {
  const sink = new AlsaSink({ device: 'no-such-device' }, log);
  await t.rejects(sink.open(), /aplay on device "no-such-device" exited \(code 1\): .*audio open error/);
});

t.test('alsa sink: aplay dying mid-stream fails the writes with a clear error', { skip: haveAplay ? false : 'aplay not installed' }, async (t) => {
  const dir = tempDir('alsa');
  const sink = new AlsaSink({ device: `file:FILE=${join(dir, 'out.raw')},FORMAT=raw` }, log);
  await sink.open();
  const pids = execFileSync('pgrep', ['-f', `aplay -v .*${dir}`], { encoding: 'utf8' }).trim().split('\n');
  t.equal(pids.length, 1);
  process.kill(Number(pids[0]), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  await t.rejects(sink.write(pattern(50)), /aplay on device .* exited \(SIGKILL\)/);
  await sink.close();
  t.ok(existsSync(dir));
});

t.test('alsa sink: aplay missing', async (t) => {
  const sink = new AlsaSink({ device: 'default', aplayPath: '/nonexistent/aplay' }, log);
  await t.rejects(sink.open(), /cannot run aplay/);
});
