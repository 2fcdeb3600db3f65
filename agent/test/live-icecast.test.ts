import t, { type Test } from 'tap';
import { wallClockMs } from '../src/audio/clock.js';
import { startLiveChain } from '../src/audio/live/chain.js';
import type { LiveSource } from '../src/audio/live/types.js';
import { silentLogger } from '../src/lib/logger.js';
import { isTone } from './audio-fixture.js';
import { TcpProxy, playChain, spansOf, startIcecast, stepOf, type Icecast, type StepPattern } from './stream-fixture.js';

/**
 * The failover chain against a real Icecast fed by ffmpeg, faults injected
 * by a TCP proxy in between or on the source itself; everything is judged
 * by what a paced sink heard: 440 Hz is the main source, 880 Hz the backup.
 */
const log = silentLogger();
const MAIN = 440;
const BACKUP = 880;
/** From the fault to the first sample of the backup: the goal is 2 s; a busy shared machine gets a margin. */
const FAILOVER_BOUND_MS = 3000;


let ic: Icecast;
t.before(async () => {
  ic = await startIcecast();
  await ic.feed('backup.mp3', BACKUP);
});
t.teardown(() => ic.close());

const backup = (): LiveSource => ({ id: 'backup', kind: 'http', url: ic.url('backup.mp3') });

async function faultCase(t: Test, name: string, fault: (ctx: { proxy: TcpProxy; feeder: Awaited<ReturnType<Icecast['feed']>> }) => void, reasons: string[]) {
  const feeder = await ic.feed(`main-${name}.mp3`, MAIN);
  const proxy = await new TcpProxy(ic.port).start();
  const chain = startLiveChain({ sources: [{ id: 'main', kind: 'http', url: proxy.url(`main-${name}.mp3`) }, backup()], durationMs: 7000 }, { resolveFile: () => null }, log);
  let faultAt = 0;
  const heard = await playChain(chain, log, [
    [
      2500,
      () => {
        faultAt = wallClockMs();
        fault({ proxy, feeder });
      },
    ],
  ]);
  await proxy.close();
  await feeder.stop();
  const main = spansOf(heard, MAIN);
  const back = spansOf(heard, BACKUP);
  // What was heard, for a failure to explain itself: [Hz, ms from the fault, ms long].
  const heardSpans = JSON.stringify(heard.spans.map((s) => [Math.round(s.freqHz), Math.round(s.startMs - faultAt), Math.round(s.durationMs)]));
  // Crumbs of a few tens of ms are a busy machine's sink underruns cutting a tone, not another sound.
  const heardLong = heard.spans.filter((s) => s.durationMs >= 100);
  t.ok(heardLong[0] && isTone(heardLong[0], MAIN), `${name}: the main source is heard first ${heardSpans}`);
  t.ok(back.length > 0, `${name}: the backup is heard`);
  const switchedAt = back[0]?.startMs ?? Infinity;
  t.ok(switchedAt - faultAt <= FAILOVER_BOUND_MS, `${name}: backup heard ${Math.round(switchedAt - faultAt)} ms after the fault`);
  t.ok(main.every((s) => s.endMs <= switchedAt + 5), `${name}: the main source is not heard again after the switch`);
  t.ok(heardLong.every((s) => isTone(s, MAIN) || isTone(s, BACKUP)), `${name}: nothing but the two tones reached the sink (no garbage decoded) ${heardSpans}`);
  const segs = chain.segments();
  t.match(
    segs.map((s) => s.sourceId),
    ['main', 'backup'],
    `${name}: segments main then backup`,
  );
  t.ok(reasons.includes(segs[0]?.endReason ?? ''), `${name}: main ended as ${segs[0]?.endReason}, expected ${reasons.join(' or ')}`);
  t.equal(segs[1]?.endReason, 'ended');
  t.ok(Math.abs(heard.outcome.playedMs - 7000) < 50, `${name}: the item lasted its 7 s (${heard.outcome.playedMs} ms)`);
}

t.test('a connection that stays open but sends nothing: stalled, backup within 2 s', (t) => faultCase(t, 'stall', ({ proxy }) => proxy.setMode('stall'), ['stalled']));

t.test('the source sends digital silence: silent, backup within 2 s', (t) =>
  faultCase(t, 'silence', ({ feeder }) => (feeder.tone.freqHz = 0), ['silent']),
);

t.test('the server goes away mid-stream (connection closed, then refused): dropped, backup within 2 s', (t) =>
  faultCase(t, 'drop', ({ proxy }) => proxy.setMode('cut'), ['dropped', 'stalled']),
);

t.test('the source itself dies (mount removed): dropped, backup within 2 s', (t) => faultCase(t, 'gone', ({ feeder }) => void feeder.stop(), ['dropped', 'stalled']));

t.test('the stream turns to garbage bytes: caught, backup within 2 s, no noise on air', (t) =>
  faultCase(t, 'garbage', ({ proxy }) => proxy.setMode('garbage'), ['garbage', 'silent', 'stalled', 'dropped']),
);

t.test('cut and restored: back to the main at a quiet moment, no step heard twice, no flapping', async (t) => {
  const mainSteps: StepPattern = { baseHz: 200, stepHz: 40, onMs: 600, periodMs: 1000 };
  // The backup pauses too (the same tone with gaps), so there are quiet moments to return at.
  const backupSteps: StepPattern = { baseHz: 2000, stepHz: 0, onMs: 600, periodMs: 1000 };
  const mainFeed = await ic.feed('main-steps.mp3', mainSteps);
  const backFeed = await ic.feed('backup-steps.mp3', backupSteps);
  const proxy = await new TcpProxy(ic.port).start();
  const chain = startLiveChain(
    {
      sources: [
        { id: 'main', kind: 'http', url: proxy.url('main-steps.mp3') },
        { id: 'backup', kind: 'http', url: ic.url('backup-steps.mp3') },
      ],
      durationMs: 16_000,
      tuning: { backoffMs: 2000, proveMs: 2000, returnWaitMs: 4000 },
    },
    { resolveFile: () => null },
    log,
  );
  let restoredAt = 0;
  const heard = await playChain(chain, log, [
    [3000, () => proxy.setMode('cut')],
    [
      5000,
      () => {
        restoredAt = wallClockMs();
        proxy.setMode('pass');
      },
    ],
  ]);
  await proxy.close();
  await mainFeed.stop();
  await backFeed.stop();
  // Whole tones only: one cut by a switch is shorter, and the frequency of a fragment is not reliable.
  const whole = heard.spans.filter((s) => s.durationMs > 500);
  const main = whole.filter((s) => s.freqHz < 1500).map((s) => ({ ...s, step: stepOf(mainSteps, s.freqHz) }));
  const back = whole.filter((s) => s.freqHz >= 1500);
  const segs = chain.segments().map((s) => `${s.sourceId}:${s.endReason}`);
  t.ok(['main:dropped', 'main:stalled'].includes(segs[0]!), `the main left when cut (${segs[0]})`);
  t.same(segs.slice(1), ['backup:returned-to-main', 'main:ended'], `then the backup, then the main again to the end, once: ${segs.join(' ')}`);
  t.ok(back.length > 0, 'the backup filled the cut');
  const returned = main.find((s) => s.startMs > (back.at(-1)?.startMs ?? Infinity));
  t.ok(returned && returned.startMs > restoredAt, 'the main is heard again after it was restored');
  const steps = main.map((s) => s.step);
  t.ok(steps.every((k, i) => i === 0 || k > steps[i - 1]!), `main steps heard ${steps.join(' ')}: each once, rising, nothing replayed`);
  const before = main.filter((s) => s.startMs < back[0]!.startMs).at(-1)!;
  t.ok(returned && returned.step >= before.step + 2, 'after the return the main resumes live, steps later than where it was cut');
  // The return waits for a pause of the backup: its last tone is whole, not cut.
  const lastBack = heard.spans.filter((s) => s.freqHz >= 1500 && s.durationMs > 30).at(-1)!;
  t.ok(lastBack.durationMs > 550, `the backup's last tone before the return is whole (${Math.round(lastBack.durationMs)} ms)`);
});
