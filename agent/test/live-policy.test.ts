import t from 'tap';
import { FAILOVER_TUNING, backoffMs, initialState, proveMs, step, type Action, type ChainState, type SourceObservation } from '../src/audio/live/policy.js';
import type { LiveSourceKind } from '../src/audio/live/types.js';

/**
 * The failover policy as data: a simulated timeline of observations in
 * 50 ms ticks (what the adapter measures), and the decisions it makes.
 */
const TICK = 50;

/** What each source does over time: healthy audio, silence, no PCM, or ended. */
type Behaviour = (now: number) => 'audio' | 'silence' | 'stall' | 'dropped';

class Sim {
  state: ChainState;
  now = 0;
  running: Array<SourceObservation | null>;
  log: Array<{ at: number } & Action> = [];
  constructor(
    kinds: LiveSourceKind[],
    private readonly behave: Behaviour[],
    private readonly quiet: (now: number) => boolean = () => false,
  ) {
    const first = initialState(kinds);
    this.state = first.state;
    this.running = kinds.map(() => null);
    this.apply(first.actions);
  }
  private apply(actions: Action[]): void {
    for (const a of actions) {
      this.log.push({ at: this.now, ...a });
      if (a.type === 'start') this.running[a.source] = { startedAt: this.now, lastPcmAt: null, silentMs: 0, ended: null };
      if (a.type === 'stop') this.running[a.source] = null;
    }
  }
  run(untilMs: number): this {
    while (this.now < untilMs) {
      this.now += TICK;
      this.running.forEach((o, i) => {
        if (!o) return;
        // A decoder needs 300 ms to start giving audio.
        if (this.now - o.startedAt < 300) return;
        const b = this.behave[i]!(this.now);
        if (b === 'dropped') o.ended = 'dropped';
        if (b === 'audio' || b === 'silence') o.lastPcmAt = this.now;
        o.silentMs = b === 'audio' ? 0 : b === 'silence' ? o.silentMs + TICK : o.silentMs;
      });
      const next = step(this.state, { now: this.now, sources: this.running, outputQuietMs: this.quiet(this.now) ? 1000 : 0 });
      this.state = next.state;
      this.apply(next.actions);
    }
    return this;
  }
  switches(): Array<{ at: number; from: number | null; to: number | null; reason: string }> {
    return this.log.filter((a): a is { at: number } & Extract<Action, { type: 'switch' }> => a.type === 'switch').map(({ at, from, to, reason }) => ({ at, from, to, reason }));
  }
  starts(source: number): number[] {
    return this.log.filter((a) => a.type === 'start' && a.source === source).map((a) => a.at);
  }
}

const ok: Behaviour = () => 'audio';
const failsAt =
  (ms: number, how: 'silence' | 'stall' | 'dropped', recoversAt = Infinity): Behaviour =>
  (now) =>
    now >= ms && now < recoversAt ? how : 'audio';

t.test('the back-off doubles from 5 s to 60 s; proof grows with recent failures', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((f) => backoffMs(f)), [5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  t.same([0, 1, 2, 3, 20].map((f) => proveMs(f)), [3000, 3000, 6000, 9000, 30_000]);
});

for (const [how, reason] of [
  ['stall', 'stalled'],
  ['silence', 'silent'],
  ['dropped', 'dropped'],
] as const) {
  t.test(`${how}: the backup is pre-started and takes over within the limit`, async (t) => {
    const sim = new Sim(['http', 'http'], [failsAt(5000, how), ok]).run(8000);
    const sw = sim.switches();
    t.equal(sw.length, 2, 'one switch after the first');
    t.match(sw[1], { from: 0, to: 1, reason });
    const limit = how === 'dropped' ? 0 : how === 'stall' ? FAILOVER_TUNING.stallMs : FAILOVER_TUNING.silenceMs;
    t.ok(sw[1]!.at - 5000 <= limit + TICK, `switched ${sw[1]!.at - 5000} ms after the fault`);
    if (how !== 'dropped') t.ok(sim.starts(1)[0]! <= 5000 + FAILOVER_TUNING.silenceMs / 2 + TICK, 'the backup was started before the switch');
  });
}

t.test('a short hiccup (200 ms) switches nothing and the standby is let go', async (t) => {
  const sim = new Sim(['http', 'http'], [(now) => (now >= 5000 && now < 5200 ? 'stall' : 'audio'), ok]).run(20_000);
  t.equal(sim.switches().length, 1, 'still on the main');
  t.equal(sim.state.sources[1]!.role, 'off');
});

t.test('main -> backup -> file -> fm, each once, when each fails', async (t) => {
  const sim = new Sim(['http', 'hls', 'file', 'fm'], [failsAt(2000, 'dropped'), failsAt(4000, 'stall'), failsAt(7000, 'dropped'), ok]).run(9000);
  t.same(
    sim.switches().map((s) => [s.from, s.to, s.reason]),
    [
      [null, 0, 'ended'],
      [0, 1, 'dropped'],
      [1, 2, 'stalled'],
      [2, 3, 'dropped'],
    ],
  );
  t.notOk(sim.log.some((a) => a.type === 'start' && a.source === 3 && a.role === 'standby'), 'FM is never tuned early (its sound would reach the amplifier)');
});

t.test('the main is re-probed at 5, 10, 20 s... while it stays down', async (t) => {
  const sim = new Sim(['http', 'http'], [failsAt(1000, 'dropped'), ok]).run(80_000);
  const starts = sim.starts(0);
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  // Failed at 1 s, first probe 5 s later; each probe fails after its 300 ms start-up, the next waits the doubled back-off.
  t.same(gaps, [6000, 10_300, 20_300, 40_300], `probe intervals ${gaps.join(' ')}`);
});

t.test('the main comes back: proven for 3 s, returned to at a quiet moment', async (t) => {
  const quietAt = (now: number) => now >= 14_000 && now < 14_500;
  const sim = new Sim(['http', 'http'], [failsAt(1000, 'dropped', 4000), ok], quietAt).run(20_000);
  const sw = sim.switches();
  t.same(
    sw.map((s) => [s.from, s.to, s.reason]),
    [
      [null, 0, 'ended'],
      [0, 1, 'dropped'],
      [1, 0, 'returned-to-main'],
    ],
  );
  // Failed at 1 s, probed at 6 s, audio from 6.3 s, proven at 9.3 s, then waited for the quiet moment.
  t.equal(sw[2]!.at, 14_000, 'returned at the quiet moment, not before');
});

t.test('no quiet moment: the return comes after the bounded wait', async (t) => {
  const sim = new Sim(['http', 'http'], [failsAt(1000, 'dropped', 4000), ok]).run(30_000);
  const back = sim.switches()[2]!;
  const proven = 6000 + 300 + 3000;
  t.equal(back.at, proven + FAILOVER_TUNING.returnWaitMs, 'returned after the bounded wait');
});

t.test('a flapping main must prove itself longer each time; it does not flap the air', async (t) => {
  // Up 2 s, down 2 s, forever: it never stays healthy for 3 s.
  const flapping: Behaviour = (now) => (now > 1000 && Math.floor(now / 2000) % 2 === 1 ? 'stall' : 'audio');
  const sim = new Sim(['http', 'http'], [flapping, ok]).run(120_000);
  t.equal(sim.switches().filter((s) => s.to === 0).length, 1, 'after the first failure the main is never put back on air');
  t.ok(sim.state.sources[0]!.failures >= 4, `failures counted: ${sim.state.sources[0]!.failures}`);
});

t.test('a proven probe that falters is not returned to', async (t) => {
  // Back at 4 s, healthy from the probe at ~6.4 s, proven ~9.7 s, falters at 10 s before any quiet moment.
  const sim = new Sim(['http', 'http'], [(now) => (now >= 1000 && now < 4000) || now >= 10_000 ? 'dropped' : 'audio', ok]).run(14_000);
  t.equal(sim.switches().filter((s) => s.to === 0).length, 1);
});

t.test('every source down: silence, and the first one back is played', async (t) => {
  const sim = new Sim(['http', 'http'], [failsAt(1000, 'dropped', 12_000), failsAt(1000, 'dropped', 3000)]).run(40_000);
  const sw = sim.switches().map((s) => [s.from, s.to]);
  t.match(sw.slice(0, 3), [
    [null, 0],
    [0, 1],
    [1, null],
  ]);
  t.ok(
    sw.slice(3).some(([, to]) => to === 1),
    'the backup, back first, is played',
  );
  t.equal(sim.state.active, 0, 'and the main once it is back and proven');
});
