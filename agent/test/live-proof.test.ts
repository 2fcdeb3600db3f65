/**
 * A live item's proof of play as data: the chain's segments cut to what the
 * speakers heard, and `loa log` saying which source played from when to when.
 */
import t from 'tap';
import { heardSegments, liveVerdict } from '../src/playout/media.js';
import { render } from '../src/cli/render.js';
import { translator } from '../src/cli/messages.js';
import type { SourceSegment } from '../src/audio/live/types.js';

const T0 = Date.UTC(2026, 11, 2, 23, 0, 0); // 06:00 in Asia/Ho_Chi_Minh

t.test('segments as heard: what the chain did before air is not proof, the ends are the first and last samples', async (t) => {
  const segs: SourceSegment[] = [
    { sourceId: 'vov1', kind: 'http', startMs: T0 - 2000, endMs: T0 - 500, endReason: 'dropped' },
    { sourceId: 'vov1-hls', kind: 'hls', startMs: T0 - 500, endMs: T0 + 7000, endReason: 'silent' },
    { sourceId: 'fallback', kind: 'file', startMs: T0 + 7000, endMs: null },
  ];
  t.same(heardSegments(segs, { startedAtMs: T0, endedAtMs: T0 + 14_000 }), [
    { sourceId: 'vov1-hls', kind: 'hls', startMs: T0, endMs: T0 + 7000, endReason: 'silent' },
    { sourceId: 'fallback', kind: 'file', startMs: T0 + 7000, endMs: T0 + 14_000 },
  ], 'the main source that failed before air is left out; the open last segment ends with the last sample');
  t.same(heardSegments(segs, { startedAtMs: null, endedAtMs: T0 }), [], 'nothing heard: no segment');
  t.same(heardSegments(segs, { startedAtMs: T0, endedAtMs: T0 + 3000 }), [
    { sourceId: 'vov1-hls', kind: 'hls', startMs: T0, endMs: T0 + 3000, endReason: 'silent' },
  ], 'cut off 3 s in: the segment ends with the cut, the later one never aired');
});

t.test('loa log: a live row names the relay and each source, from when to when, and why it was left', async (t) => {
  const rows = [{
    source: 'schedule', programmeId: 'vov1-sang', priority: 0, zones: ['north'], volume: 80, result: 'played', clock: 'ntp', startedMs: T0, playedMs: 14_000,
    live: { label: 'VOV1', sources: [], segments: [
      { sourceId: 'vov1', kind: 'http', startMs: T0, endMs: T0 + 7000, endReason: 'dropped' },
      { sourceId: 'vov1-backup', kind: 'http', startMs: T0 + 7600, endMs: T0 + 14_000, endReason: 'ended' },
    ] },
  }];
  const text = render('log', { rows }, translator('en'), 'en', 'Asia/Ho_Chi_Minh');
  const lines = text.split('\n');
  t.equal(lines[0], 'Times in Asia/Ho_Chi_Minh (UTC+07:00)', 'the time zone first');
  t.match(lines[1], /06:00:00 {2}played {2}north {2}Live: VOV1$/, 'the row: its time, zones and relay');
  t.match(lines[2], /↳ vov1 \(http\) .*06:00:00–.*06:00:07 dropped$/, 'the main source until it dropped');
  t.match(lines[3], /↳ vov1-backup \(http\) .*06:00:07–.*06:00:14 ended$/, 'then the backup to the end');
  t.equal(lines.length, 4, 'one line per segment, nothing else');
});

t.test('loa status: a live relay on air says what it relays', async (t) => {
  const status = {
    station: { id: 'xa' }, clock: { nowMs: T0, trusted: true, reason: 'ntp' }, relayDriver: 'sim', relays: [], cache: { items: 0, bytes: 0, quotaBytes: 0 },
    queuedBulletins: 0, outbox: 0, sync: null, uptimeS: 1,
    playing: { key: 'occurrence:vov1-sang@x', label: 'Tiếp sóng VOV1', priority: 0, zones: ['north'], origin: 'schedule', startedMs: T0, live: { label: 'VOV1' } },
    next: null,
  };
  t.match(render('status', status, translator('en'), 'en', 'Asia/Ho_Chi_Minh'), /: Tiếp sóng VOV1 \(live: VOV1\) \[north\]/, 'the programme, the relay, its zones');
});

t.test('a relay no source could carry is a failed row, not "played" silence; a long hole is said', async (t) => {
  const dead: SourceSegment[] = [{ sourceId: 'vov1', kind: 'http', startMs: T0, endMs: T0 + 190, endReason: 'dropped' }];
  t.same(liveVerdict({ result: 'played', playedMs: 4000 }, dead), { result: 'failed', reason: 'no live source could be heard (vov1 dropped): 4.0 s of silence' });
  t.same(liveVerdict({ result: 'played', playedMs: 4000 }, []), { result: 'failed', reason: 'no live source could be heard: 4.0 s of silence' });
  const holed: SourceSegment[] = [
    { sourceId: 'vov1', kind: 'http', startMs: T0, endMs: T0 + 5000, endReason: 'stalled' },
    { sourceId: 'fallback', kind: 'file', startMs: T0 + 8000, endMs: T0 + 14_000, endReason: 'ended' },
  ];
  t.same(liveVerdict({ result: 'played', playedMs: 14_000 }, holed), { result: 'played', reason: '3.0 s without any live source on air' });
  t.same(liveVerdict({ result: 'played', playedMs: 14_000 }, [{ ...holed[0]!, endMs: T0 + 13_500 }]), { result: 'played' }, 'a switch\'s short silence is not worth a word');
  t.same(liveVerdict({ result: 'interrupted', playedMs: 500, reason: 'preempted' }, []), { result: 'interrupted', reason: 'preempted' }, 'cut before a second had aired: still interrupted');
});
