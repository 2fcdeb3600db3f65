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
  const heard = joinUnderruns(tracker.finish().filter((x) => x.startMs >= at - 1000));

  t.same(rows.map((r) => r.result), ['played', 'played', 'played', 'played', 'played', 'played']);
  // What the listener hears: A, A, B, C, then D twice with no gap (one tone of 6 s).
  const expected = [
    { freq: 440, ms: 3000, gapAfter: 700 },
    { freq: 440, ms: 3000, gapAfter: 700 },
    { freq: 660, ms: 10_000, gapAfter: 400 },
    { freq: 1100, ms: 2000, gapAfter: 1000 },
    { freq: 880, ms: 6000, gapAfter: null },
  ];
  t.equal(heard.length, expected.length, `five tones at the sink: ${heard.map((h) => `${h.freqHz.toFixed(0)} Hz ${h.audibleMs.toFixed(0)} ms`).join(', ')}`);
  expected.forEach((e, i) => {
    const h = heard[i];
    if (!h) return;
    t.ok(isTone(h, e.freq), `tone ${i + 1} is the ${e.freq} Hz file (${h.freqHz.toFixed(1)} Hz)`);
    // AAC keeps ~23 ms of encoder padding; the fade-out's last fraction of a millisecond is below the threshold.
    t.ok(Math.abs(h.audibleMs - e.ms) <= 30, `tone ${i + 1}: ${h.audibleMs.toFixed(1)} of ${e.ms} ms heard`);
    const next = heard[i + 1];
    if (e.gapAfter !== null && next) {
      const gap = next.startMs - h.endMs;
      t.ok(gap >= e.gapAfter - 5 && gap <= e.gapAfter + 250, `gap after tone ${i + 1}: ${gap.toFixed(1)} ms of silence at the sink for ${e.gapAfter} ms asked`);
    }
  });
  t.ok(heard[0]!.startMs >= at - 1, `the programme is not heard before its instant (${(heard[0]!.startMs - at).toFixed(1)} ms)`);

  // The play log against the sink: each row's played duration is what the sink received.
  const byRow = [heard[0], heard[1], heard[2], heard[3]];
  byRow.forEach((h, i) => {
    const played = rows[i]!.playedMs!;
    t.ok(h && Math.abs(played - h.audibleMs) <= 30, `row ${i + 1} (${rows[i]!.content!.slice(0, 8)}): played ${played} ms, the sink heard ${h?.audibleMs.toFixed(1)} ms`);
    t.ok(h && Math.abs(rows[i]!.startedMs! - h.startMs) < 150, `row ${i + 1} starts when its first sample is heard (${h ? (rows[i]!.startedMs! - h.startMs).toFixed(1) : '-'} ms)`);
  });
  const dPlayed = rows[4]!.playedMs! + rows[5]!.playedMs!;
  t.ok(Math.abs(dPlayed - heard[4]!.audibleMs) <= 30, `the two D rows add up to what the sink heard (${dPlayed} vs ${heard[4]?.audibleMs.toFixed(1)} ms)`);
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
