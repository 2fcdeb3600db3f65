/**
 * A running station, heard at its sound card: a programme of several items
 * in different formats, with repeats and gaps, plays every sample of each
 * item in order, keeps its gaps as silence at the sink, and its play log
 * says how much of each the sink received.
 */
import t from 'tap';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { startStation } from './station-fixture.js';
import { ToneTracker, isTone, makeTone, tempDir, type Format, type ToneSpan } from './audio-fixture.js';

/** A paced virtual sound card whose every period goes through a tone tracker, on the wall clock. */
function listeningSink() {
  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 4 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  return { sink, tracker };
}

/** Spans of one tone split by a loaded machine's underruns (under 200 ms of silence; the programme's gaps are longer) joined again, their audio added up. */
function joinUnderruns(spans: ToneSpan[]): Array<ToneSpan & { audibleMs: number }> {
  const out: Array<ToneSpan & { audibleMs: number }> = [];
  for (const s of spans) {
    const last = out.at(-1);
    if (last && Math.abs(last.freqHz - s.freqHz) < s.freqHz * 0.03 && s.startMs - last.endMs < 200) {
      last.endMs = s.endMs;
      last.durationMs = last.endMs - last.startMs;
      last.audibleMs += s.durationMs;
    } else out.push({ ...s, audibleMs: s.durationMs });
  }
  return out;
}

t.test('a programme of several items with repeats and gaps is heard whole, in order, gaps kept', async (t) => {
  const { sink, tracker } = listeningSink();
  const s = await startStation({}, undefined, { sink });
  t.teardown(() => s.stop());
  const dir = tempDir('station-whole');
  const add = async (name: string, format: Format, seconds: number, freq: number): Promise<string> =>
    (await s.agent.media.importFile(makeTone(dir, name, format, { seconds, freq }), name)).sha256;
  const a = await add('a', 'mp3', 3, 440);
  const b = await add('b', 'm4a', 10, 660);
  const c = await add('c', 'wav', 2, 1100);
  const d = await add('d', 'opus', 3, 880);
  const at = s.once(
    {
      id: 'whole',
      name: 'Whole',
      items: [
        { content: a, repeat: 2, gapMs: 700 },
        { content: b, repeat: 1, gapMs: 400 },
        { content: c, repeat: 1, gapMs: 1000 },
        { content: d, repeat: 2, gapMs: 0 },
      ],
      zones: ['north'],
    },
    1500,
  );
  const rows = await s.rows(6, 90_000);
  await s.agent.conductor.ping();
  await new Promise((r) => setTimeout(r, 300)); // the last periods leave the card
  // A piece under 20 ms (cut out by underruns) has too few cycles to tell its
  // frequency: it belongs to the tone it is closer to in time (a piece at the
  // start of an item follows a gap, one inside it only an underrun).
  const heard = tracker.finish().filter((x) => x.startMs >= at - 1000);
  const long = heard.filter((h) => h.durationMs >= 20);
  for (const h of heard) {
    if (h.durationMs >= 20) continue;
    const before = long.filter((x) => x.endMs <= h.startMs).at(-1);
    const after = long.find((x) => x.startMs >= h.endMs);
    const near = !after || (before && h.startMs - before.endMs <= after.startMs - h.endMs) ? before : after;
    if (near) h.freqHz = near.freqHz;
  }
  t.same(rows.map((r) => r.result), ['played', 'played', 'played', 'played', 'played', 'played']);

  // A loaded machine may underrun the card (a silent stretch inside a tone):
  // the samples are all there, later. So tones are counted in samples, in
  // the order they were first heard, and the gaps between different tones
  // measured from the last sample of one to the first of the next.
  const tones = [
    { freq: 440, ms: 6000, gapAfter: 700 },
    { freq: 660, ms: 10_000, gapAfter: 400 },
    { freq: 1100, ms: 2000, gapAfter: 1000 },
    { freq: 880, ms: 6000, gapAfter: null },
  ];
  t.ok(heard.every((h) => tones.some((x) => isTone(h, x.freq))), `only the programme's tones were heard: ${heard.map((h) => `${h.freqHz.toFixed(0)} Hz ${h.durationMs.toFixed(0)} ms`).join(', ')}`);
  const of = (freq: number): ToneSpan[] => heard.filter((h) => isTone(h, freq));
  const order = [...new Set(heard.map((h) => tones.find((x) => isTone(h, x.freq))!.freq))];
  t.same(order, tones.map((x) => x.freq), 'A, B, C, D in the programme\'s order');
  tones.forEach((x, i) => {
    const spans = of(x.freq);
    const audible = spans.reduce((n, h) => n + h.durationMs, 0);
    // AAC keeps ~23 ms of encoder padding; each fade-out's last fraction of a millisecond is below the threshold.
    t.ok(Math.abs(audible - x.ms) <= 30, `${x.freq} Hz: ${audible.toFixed(1)} of ${x.ms} ms heard`);
    const next = tones[i + 1];
    if (x.gapAfter !== null && next && spans.length > 0 && of(next.freq).length > 0) {
      const gap = of(next.freq)[0]!.startMs - spans.at(-1)!.endMs;
      t.ok(gap >= x.gapAfter - 5 && gap <= x.gapAfter + 500, `${x.freq} → ${next.freq} Hz: ${gap.toFixed(1)} ms of silence at the sink for ${x.gapAfter} ms asked`);
    }
  });
  // The repeat of A: its 700 ms gap is the longest silence inside A's spans, never shorter than asked.
  const a2 = of(440);
  const longest = Math.max(...a2.slice(1).map((h, i) => h.startMs - a2[i]!.endMs));
  t.ok(longest >= 695 && longest <= 1200, `A, its gap, A again: ${longest.toFixed(1)} ms of silence for 700 asked`);
  t.ok(heard[0]!.startMs >= at - 1, `the programme is not heard before its instant (${(heard[0]!.startMs - at).toFixed(1)} ms)`);

  // The play log against the sink: each row's played duration is what the sink received while it was on.
  rows.forEach((row, i) => {
    // D plays twice with no gap: one span at the sink, shared by two rows at the instant one ends.
    const within = heard.filter((h) => h.endMs > row.startedMs! && h.startMs < row.endedMs!);
    const audible = within.reduce((n, h) => n + Math.min(h.endMs, row.endedMs!) - Math.max(h.startMs, row.startedMs!), 0);
    t.ok(Math.abs(row.playedMs! - audible) <= 30, `row ${i + 1} (${row.content!.slice(0, 8)}): played ${row.playedMs} ms, the sink heard ${audible.toFixed(1)} ms`);
    t.ok(within.length > 0 && Math.abs(row.startedMs! - Math.max(within[0]!.startMs, row.startedMs!)) < 150, `row ${i + 1} starts when its first sample is heard`);
  });
  const stored = s.agent.store.recentPlays(10);
  t.same(stored.map((r) => r.playedMs), rows.map((r) => r.playedMs), 'the stored rows carry the same played durations');
});

t.test('an item cut by an emergency and resumed is heard once, whole: nothing lost, nothing repeated', async (t) => {
  const { sink, tracker } = listeningSink();
  const s = await startStation({}, undefined, { sink });
  t.teardown(() => s.stop());
  const dir = tempDir('station-resume');
  const music = (await s.agent.media.importFile(makeTone(dir, 'music', 'flac', { seconds: 10, freq: 500 }), 'music')).sha256;
  const alert = (await s.agent.media.importFile(makeTone(dir, 'alert', 'mp3', { seconds: 1, freq: 1500 }), 'alert')).sha256;
  s.once({ id: 'music', name: 'Music', items: [{ content: music, repeat: 1, gapMs: 0 }], zones: ['north'] }, 500);
  // Cut it once its tone has been heard for a while, whatever the machine's load.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      const first = tracker.spans[0];
      if (first || (tracker as unknown as { open: unknown }).open) {
        clearInterval(poll);
        setTimeout(resolve, 3000);
      }
    }, 50);
  });
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Flood', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  const rows = await s.rows(3, 60_000);
  await new Promise((r) => setTimeout(r, 300));
  const heard = joinUnderruns(tracker.finish());
  t.same(rows.map((r) => [r.content, r.result]), [[music, 'interrupted'], [alert, 'played'], [music, 'played']]);
  const tones = heard.map((h) => (isTone(h, 500) ? 'music' : isTone(h, 1500) ? 'alert' : `${h.freqHz.toFixed(0)} Hz`));
  t.same(tones, ['music', 'alert', 'music'], 'music, the alert, then the rest of the music');
  const [before, , after] = heard;
  if (!before || !after) return;
  t.ok(Math.abs(before.audibleMs + after.audibleMs - 10_000) <= 20, `the music is heard for ${(before.audibleMs + after.audibleMs).toFixed(1)} ms in all, of 10000 (${before.audibleMs.toFixed(0)} + ${after.audibleMs.toFixed(0)})`);
  t.ok(Math.abs(rows[0]!.playedMs! - before.audibleMs) <= 15, `the interrupted row says ${rows[0]!.playedMs} ms, the sink heard ${before.audibleMs.toFixed(1)}`);
  t.ok(Math.abs(rows[2]!.playedMs! - after.audibleMs) <= 15, `the resumed row says ${rows[2]!.playedMs} ms, the sink heard ${after.audibleMs.toFixed(1)}`);
});
