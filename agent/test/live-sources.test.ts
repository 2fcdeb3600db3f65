import t from 'tap';
import { join } from 'node:path';
import { wallClockMs } from '../src/audio/clock.js';
import { startLiveChain } from '../src/audio/live/chain.js';
import { streamArgs } from '../src/audio/live/input.js';
import type { FmTuner } from '../src/audio/live/types.js';
import { silentLogger } from '../src/lib/logger.js';
import { isTone, makeTone, tempDir } from './audio-fixture.js';
import { HlsServer, feedRtp, freePort, playChain, spansOf, stepOf, type StepPattern } from './stream-fixture.js';

/**
 * HLS made by ffmpeg and served by a node:http server the test controls,
 * RTP on loopback, the cached fallback file and the FM tuner: each judged at
 * a paced sink by its tone.
 */
const log = silentLogger();
const dir = tempDir('live-sources');
const FALLBACK = 660;
const fallbackFile = makeTone(dir, 'fallback', 'mp3', { freq: FALLBACK, seconds: 1.5 });
const resolveFile = (id: string): string | null => (id === 'fallback-1' ? fallbackFile : null);

t.test('a stream is only ever read as audio over its own protocols', async (t) => {
  const http = streamArgs({ id: 'm', kind: 'http', url: 'http://x/a.mp3' }, false, 0);
  t.equal(http[http.indexOf('-protocol_whitelist') + 1], 'http,https,tcp,tls', 'no file, concat, subfile, data...');
  t.ok(http.join(' ').includes('-map 0:a:0 -vn -sn -dn'), 'audio only');
  t.equal(http[http.indexOf('-f') + 1], 'mp3', 'an .mp3 url is read as MP3 (the probe misreads a stream joined mid-frame)');
  t.throws(() => streamArgs({ id: 'm', kind: 'http', url: 'file:///etc/passwd' }, false, 0), /url must match/);
  t.throws(() => streamArgs({ id: 'm', kind: 'rtp', url: 'http://x/' }, false, 0), /url must match/);
  const hls = streamArgs({ id: 'h', kind: 'hls', url: 'http://x/l.m3u8' }, false, 0);
  t.equal(hls[hls.indexOf('-live_start_index') + 1], '-2', 'first start: one segment behind the live edge');
  const again = streamArgs({ id: 'h', kind: 'hls', url: 'http://x/l.m3u8' }, true, 0);
  t.equal(again[again.indexOf('-live_start_index') + 1], '-1', 'restart: the newest segment, never the oldest');
});

t.test('HLS: a playlist that stops updating falls back to the cached file; the chain lasts its duration', async (t) => {
  const hls = await new HlsServer(join(dir, 'hls'), 440, 'aac', 1).start();
  const chain = startLiveChain(
    { sources: [{ id: 'vov1', kind: 'hls', url: hls.url }, { id: 'fallback', kind: 'file', contents: ['fallback-1'] }], durationMs: 10_000 },
    { resolveFile },
    log,
  );
  let frozenAt = 0;
  const heard = await playChain(chain, log, [
    [
      3000,
      () => {
        frozenAt = wallClockMs();
        hls.freeze();
      },
    ],
  ]);
  await hls.close();
  const main = spansOf(heard, 440);
  const back = spansOf(heard, FALLBACK);
  t.ok(main.length > 0 && heard.spans.find((s) => s.durationMs > 100) === main[0], 'the HLS stream is heard first');
  const fallbackMs = back.reduce((n, s) => n + s.durationMs, 0);
  t.ok(fallbackMs > 3000, `the 1.5 s fallback file loops until the end (${Math.round(fallbackMs)} ms heard)`);
  // What was fetched before the freeze still plays (up to two 1 s segments), then the stall rule.
  const gap = (back[0]?.startMs ?? Infinity) - Math.max(frozenAt, main.at(-1)?.endMs ?? 0);
  t.ok(gap <= 3000, `dead air ${Math.round(gap)} ms between the last HLS audio and the fallback`);
  t.match(chain.segments(), [{ sourceId: 'vov1', kind: 'hls', endReason: 'stalled' }, { sourceId: 'fallback', kind: 'file', endReason: 'ended' }]);
  t.ok(Math.abs(heard.outcome.playedMs - 10_000) < 50, `played ${heard.outcome.playedMs} ms`);
});

t.test('RTP multicast: a group joined on this host plays; when its sender stops, the unicast backup within 2 s', async (t) => {
  const p = await freePort();
  const port = p % 2 === 0 ? p : p + 1;
  const group = `239.255.${port % 250}.${1 + (port % 200)}`;
  const main = await feedRtp(port, 440, 'mp3', dir, group);
  const backupPort = port + 10;
  const backup = await feedRtp(backupPort, 880, 'mp3', dir);
  const chain = startLiveChain(
    {
      sources: [
        { id: 'district', kind: 'rtp', url: `rtp://${group}:${port}` },
        { id: 'district-b', kind: 'rtp', url: `rtp://127.0.0.1:${backupPort}` },
      ],
      durationMs: 7000,
    },
    { resolveFile },
    log,
  );
  let stoppedAt = 0;
  const heard = await playChain(chain, log, [[3000, () => { stoppedAt = wallClockMs(); void main.stop(); }]]);
  await backup.stop();
  const a = spansOf(heard, 440);
  const b = spansOf(heard, 880);
  t.ok(a.length > 0 && heard.spans.find((s) => s.durationMs > 100) === a[0], 'the multicast stream is heard first');
  t.ok(b.length > 0, 'then the unicast backup');
  t.ok((b[0]?.startMs ?? Infinity) - stoppedAt <= 3000, `backup heard ${Math.round((b[0]?.startMs ?? Infinity) - stoppedAt)} ms after the group's sender stopped`);
  t.match(chain.segments(), [{ sourceId: 'district', endReason: 'stalled' }, { sourceId: 'district-b', endReason: 'ended' }]);
});

t.test('RTP: Opus with an SDP on air; when it stops, the MP3 RTP backup within 2 s', async (t) => {
  const [p1, p2] = [await freePort(), await freePort()];
  // RTP uses the port and the next one (RTCP): keep them apart.
  const mainPort = p1 % 2 === 0 ? p1 : p1 + 1;
  const backupPort = mainPort + 10 === p2 ? p2 + 20 : mainPort + 10;
  const main = await feedRtp(mainPort, 440, 'opus', dir);
  const backup = await feedRtp(backupPort, 880, 'mp3', dir);
  const chain = startLiveChain(
    {
      sources: [
        { id: 'province', kind: 'rtp', sdp: main.sdp! },
        { id: 'province-b', kind: 'rtp', url: `rtp://127.0.0.1:${backupPort}` },
      ],
      durationMs: 7000,
    },
    { resolveFile },
    log,
  );
  let stoppedAt = 0;
  const heard = await playChain(chain, log, [
    [
      2500,
      () => {
        stoppedAt = wallClockMs();
        void main.stop();
      },
    ],
  ]);
  await backup.stop();
  const a = spansOf(heard, 440);
  const b = spansOf(heard, 880);
  t.ok(a.length > 0 && heard.spans.find((s) => s.durationMs > 100) === a[0], 'the Opus stream is heard first');
  t.ok(b.length > 0, 'then the MP3 backup');
  t.ok((b[0]?.startMs ?? Infinity) - stoppedAt <= 3000, `backup heard ${Math.round((b[0]?.startMs ?? Infinity) - stoppedAt)} ms after the sender stopped`);
  t.match(chain.segments(), [{ sourceId: 'province', endReason: 'stalled' }, { sourceId: 'province-b', endReason: 'ended' }]);
});

t.test('main unreachable, fallback not cached: the FM tuner is tuned, the chain gives silence, the tuner is released', async (t) => {
  const closed = await freePort();
  const calls: string[] = [];
  const fm: FmTuner = {
    tune: async (kHz) => void calls.push(`tune ${kHz}`),
    release: async () => void calls.push('release'),
  };
  const chain = startLiveChain(
    {
      sources: [
        { id: 'main', kind: 'http', url: `http://127.0.0.1:${closed}/vov1.mp3` },
        { id: 'fallback', kind: 'file', contents: ['not-in-cache'] },
        { id: 'fm', kind: 'fm', fmKHz: 99_100 },
      ],
      durationMs: 5000,
    },
    { resolveFile, fm },
    log,
  );
  const switches: string[] = [];
  chain.on('switch', (from, to) => switches.push(`${from?.sourceId ?? '-'}>${to.sourceId}`));
  const heard = await playChain(chain, log);
  // The fallback fails at once (nothing cached): whether before the main (it was pre-started, then
  // skipped) or after it, the chain ends on FM.
  t.ok(
    ['->main main>fm', '->main main>fallback fallback>fm'].includes(switches.join(' ')),
    `switches: ${switches.join(' ')}`,
  );
  const segs = chain.segments();
  t.match(segs.at(-1), { sourceId: 'fm', kind: 'fm', endReason: 'ended' });
  t.ok(segs.slice(0, -1).every((s) => s.endReason === 'dropped'), 'the main and the fallback ended as dropped');
  t.same(calls, ['tune 99100', 'release'], 'tuned once, released at the end');
  t.equal(heard.spans.length, 0, 'the sink hears silence (FM reaches the amplifier in hardware)');
  t.ok(Math.abs(heard.outcome.playedMs - 5000) < 50, `yet the sink was fed for the whole item (${heard.outcome.playedMs} ms)`);
});

t.test('the main is unreachable from the start: the cached fallback is heard within 2 s (3 with a margin); untilMs ends the item', async (t) => {
  const closed = await freePort();
  const startedAt = wallClockMs();
  const chain = startLiveChain(
    { sources: [{ id: 'main', kind: 'http', url: `http://127.0.0.1:${closed}/vov1.mp3` }, { id: 'fallback', kind: 'file', contents: ['fallback-1'] }], untilMs: startedAt + 4000 },
    { resolveFile },
    log,
  );
  const heard = await playChain(chain, log);
  const first = heard.spans.find((s) => isTone(s, FALLBACK));
  t.ok(first && first.startMs - startedAt <= 3000, `fallback heard ${Math.round((first?.startMs ?? Infinity) - startedAt)} ms after the start`);
  t.ok(Math.abs(heard.outcome.endedAtMs - (startedAt + 4000)) < 300, `ended at its end time (${Math.round(heard.outcome.endedAtMs - startedAt - 4000)} ms off)`);
});

t.test('HLS: frozen, then updating again: back to the stream at its newest segment, no step heard twice', async (t) => {
  // 80 Hz apart: the zero-crossing estimate of a tone through AAC is within a few percent.
  const steps: StepPattern = { baseHz: 230, stepHz: 80, onMs: 600, periodMs: 1000 };
  const hls = await new HlsServer(join(dir, 'hls-steps'), steps, 'aac', 1).start();
  const chain = startLiveChain(
    {
      sources: [{ id: 'vov1', kind: 'hls', url: hls.url }, { id: 'fallback', kind: 'file', contents: ['fallback-1'] }],
      durationMs: 18_000,
      tuning: { backoffMs: 2000, proveMs: 2000, returnWaitMs: 2000 },
    },
    { resolveFile },
    log,
  );
  const heard = await playChain(chain, log, [
    [3000, () => hls.freeze()],
    [6000, () => hls.thaw()],
  ]);
  await hls.close();
  const segs = chain.segments().map((s) => `${s.sourceId}:${s.endReason}`);
  t.ok(['vov1:stalled', 'vov1:dropped'].includes(segs[0]!), `the stream left when frozen (${segs[0]})`);
  t.same(segs.slice(1), ['fallback:returned-to-main', 'vov1:ended'], `then the fallback, then the stream again: ${segs.join(' ')}`);
  const whole = heard.spans.filter((s) => s.durationMs > 500 && !isTone(s, FALLBACK));
  const heardSteps = whole.map((s) => stepOf(steps, s.freqHz));
  t.ok(heardSteps.length >= 4, `stream steps heard: ${heardSteps.join(' ')}`);
  t.ok(heardSteps.every((k, i) => i === 0 || k > heardSteps[i - 1]!), `each step once, rising: nothing replayed after the restart (${heardSteps.join(' ')})`);
});
