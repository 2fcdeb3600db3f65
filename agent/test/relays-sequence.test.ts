import t from 'tap';
import { RelaysSchema, type RelaysConfig } from '../src/config/schema.js';
import type { RelayCurrent } from '../src/relays/bank.js';
import { AMP_OFF_AFTER_ZONES_MS, leadTimeMs, planPowerDown, planPowerUp, runSteps, STEP_SLACK_MS, type Step } from '../src/relays/sequence.js';

const cfg: RelaysConfig = RelaysSchema.parse({
  amplifiers: [
    { name: 'a1', line: 17, warmupMs: 2000 },
    { name: 'a2', line: 18, warmupMs: 500 },
  ],
  zones: [
    { name: 'z1', line: 22, amplifier: 'a1' },
    { name: 'z2', line: 23, amplifier: 'a1' },
    { name: 'z3', line: 24, amplifier: 'a2' },
  ],
  zoneLeadMs: 100,
  tailMs: 800,
});

const allOff: RelayCurrent = Object.fromEntries(['a1', 'a2', 'z1', 'z2', 'z3'].map((n) => [n, { on: false, sinceMs: 0 }]));
const withOn = (on: Record<string, number>, extra: RelayCurrent = {}): RelayCurrent => ({
  ...allOff,
  ...Object.fromEntries(Object.entries(on).map(([n, since]) => [n, { on: true, sinceMs: since }])),
  ...extra,
});

t.test('from cold: amplifier, warm-up, zones, zone lead, audio on time', async (t) => {
  const plan = planPowerUp({ zones: ['z1', 'z2'], cfg, audioStartMs: 100_000, nowMs: 90_000, current: allOff });
  t.same(plan, {
    audioStartMs: 100_000,
    steps: [
      { atMs: 97_900, output: 'a1', on: true },
      { atMs: 99_900, output: 'z1', on: true },
      { atMs: 99_900, output: 'z2', on: true },
    ],
  });
  t.equal(leadTimeMs(['z1', 'z2'], cfg), 2100, 'the scheduler wakes this long ahead');
});

t.test('too close to the start: steps are due now and the audio starts when the sequence allows', async (t) => {
  const plan = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 99_000, current: allOff });
  t.same(plan.steps, [
    { atMs: 99_000, output: 'a1', on: true },
    { atMs: 101_000, output: 'z1', on: true },
  ]);
  t.equal(plan.audioStartMs, 101_100);
  const late = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 50_000, nowMs: 99_000, current: withOn({ a1: 0, z1: 0 }) });
  t.same(late, { steps: [], audioStartMs: 99_000 }, 'a start in the past, everything ready: now');
});

t.test('a warm amplifier skips the warm-up; a warming one shortens it', async (t) => {
  const warm = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 99_500, current: withOn({ a1: 10_000 }) });
  t.same(warm, { steps: [{ atMs: 99_900, output: 'z1', on: true }], audioStartMs: 100_000 });
  const warming = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 99_500, current: withOn({ a1: 99_000 }) });
  t.same(warming, { steps: [{ atMs: 101_000, output: 'z1', on: true }], audioStartMs: 101_100 });
  const ready = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 99_950, current: withOn({ a1: 0, z1: 0 }) });
  t.same(ready, { steps: [], audioStartMs: 100_000 }, 'zones already on need no zone lead');
});

t.test('zones not wanted are opened first, then their idle amplifier goes off', async (t) => {
  const plan = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 90_000, current: withOn({ a2: 0, z3: 0 }) });
  t.same(plan.steps, [
    { atMs: 90_000, output: 'z3', on: false },
    { atMs: 90_000 + AMP_OFF_AFTER_ZONES_MS, output: 'a2', on: false },
    { atMs: 97_900, output: 'a1', on: true },
    { atMs: 99_900, output: 'z1', on: true },
  ]);
  t.equal(plan.audioStartMs, 100_000);
});

t.test('a zone left on with its amplifier off is opened during the warm-up', async (t) => {
  const plan = planPowerUp({ zones: ['z1'], cfg, audioStartMs: 100_000, nowMs: 90_000, current: withOn({ z1: 0 }) });
  t.same(plan.steps, [
    { atMs: 90_000, output: 'z1', on: false },
    { atMs: 97_900, output: 'a1', on: true },
    { atMs: 99_900, output: 'z1', on: true },
  ]);
});

t.test('outputs in doubt after a failed switch are switched again', async (t) => {
  const plan = planPowerUp({
    zones: ['z1'],
    cfg,
    audioStartMs: 100_000,
    nowMs: 90_000,
    current: { ...allOff, a1: { on: true, sinceMs: 89_000, uncertain: true }, z3: { on: true, sinceMs: 90_000, uncertain: true } },
  });
  t.same(plan.steps, [
    { atMs: 90_000, output: 'z3', on: false },
    { atMs: 97_900, output: 'a1', on: true },
    { atMs: 99_900, output: 'z1', on: true },
  ]);
  t.same(
    planPowerDown({ audioEndMs: 0, cfg, current: { ...allOff, a2: { on: true, sinceMs: 0, uncertain: true } } }),
    [{ atMs: 800, output: 'a2', on: false }],
  );
});

t.test('an unknown zone is refused by name', async (t) => {
  t.throws(() => planPowerUp({ zones: ['z9'], cfg, audioStartMs: 0, nowMs: 0, current: allOff }), /no zone named "z9"; configured zones: z1, z2, z3/);
  t.throws(() => leadTimeMs(['nope'], cfg), /no zone named "nope"/);
});

t.test('lead time is the longest warm-up among the zones plus the zone lead', async (t) => {
  t.equal(leadTimeMs(['z1', 'z3'], cfg), 2100);
  t.equal(leadTimeMs(['z3'], cfg), 600);
  t.equal(leadTimeMs([], cfg), 0);
});

t.test('power down: tail, zones off, then amplifiers once the contacts are open', async (t) => {
  t.same(planPowerDown({ audioEndMs: 200_000, cfg, current: withOn({ a1: 0, z1: 0, z2: 0 }) }), [
    { atMs: 200_800, output: 'z1', on: false },
    { atMs: 200_800, output: 'z2', on: false },
    { atMs: 200_800 + AMP_OFF_AFTER_ZONES_MS, output: 'a1', on: false },
  ]);
  t.same(planPowerDown({ audioEndMs: 200_000, cfg, current: allOff }), []);
});

/** Applies a plan to a state, checking the sequence's rules step by step. */
function applyChecked(plan: { steps: Step[]; audioStartMs: number }, current: RelayCurrent, nowMs: number, requested: number, zones: string[]): void {
  const state = new Map(Object.entries(current).map(([n, v]) => [n, { ...v, on: v.on && !v.uncertain }]));
  let last = -Infinity;
  for (const s of plan.steps) {
    if (s.atMs < last) throw new Error(`steps out of order at ${s.output}`);
    if (s.atMs < nowMs) throw new Error(`step in the past: ${s.output}`);
    last = s.atMs;
    const zone = cfg.zones.find((z) => z.name === s.output);
    if (zone && s.on) {
      const amp = state.get(zone.amplifier)!;
      const warmup = cfg.amplifiers.find((a) => a.name === zone.amplifier)!.warmupMs;
      if (!amp.on || s.atMs < amp.sinceMs + warmup) throw new Error(`zone ${zone.name} closed before its amplifier was warm`);
      if (s.atMs > plan.audioStartMs - cfg.zoneLeadMs) throw new Error(`zone ${zone.name} closed after the zone lead`);
    }
    const amp = cfg.amplifiers.find((a) => a.name === s.output);
    if (amp && !s.on) {
      for (const z of cfg.zones.filter((z) => z.amplifier === amp.name)) {
        const zs = state.get(z.name)!;
        if (zs.on || s.atMs < zs.sinceMs + AMP_OFF_AFTER_ZONES_MS) throw new Error(`amplifier ${amp.name} off before zone ${z.name} opened`);
      }
    }
    state.set(s.output, { on: s.on, sinceMs: s.atMs });
  }
  const wanted = new Set(zones);
  const needed = new Set(cfg.zones.filter((z) => wanted.has(z.name)).map((z) => z.amplifier));
  for (const z of cfg.zones) if (state.get(z.name)!.on !== wanted.has(z.name)) throw new Error(`zone ${z.name} ends ${state.get(z.name)!.on ? 'on' : 'off'}`);
  for (const a of cfg.amplifiers) if (state.get(a.name)!.on !== needed.has(a.name)) throw new Error(`amplifier ${a.name} ends wrong`);
  if (plan.audioStartMs < requested || plan.audioStartMs < nowMs) throw new Error('audio earlier than asked or in the past');
}

t.test('any starting state, any zones, any timing: the plan keeps the rules', async (t) => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const names = ['a1', 'a2', 'z1', 'z2', 'z3'];
  const problems: string[] = [];
  for (let i = 0; i < 500; i++) {
    const nowMs = 100_000;
    const current: Record<string, { on: boolean; sinceMs: number; uncertain?: true }> = {};
    for (const n of names) {
      const r = rnd();
      current[n] = r < 0.5 ? { on: false, sinceMs: 0 } : r < 0.9 ? { on: true, sinceMs: nowMs - Math.floor(rnd() * 4000) } : { on: true, sinceMs: nowMs, uncertain: true };
    }
    const zones = ['z1', 'z2', 'z3'].filter(() => rnd() < 0.5);
    const requested = nowMs + Math.floor(rnd() * 5000) - 1000;
    const plan = planPowerUp({ zones, cfg, audioStartMs: requested, nowMs, current });
    try {
      applyChecked(plan, current, nowMs, requested, zones);
    } catch (err) {
      problems.push(`${(err as Error).message} in ${JSON.stringify({ current, zones, requested, plan })}`);
    }
  }
  t.same(problems, []);
});

t.test('runSteps waits for each step, never runs one early, and can be aborted', async (t) => {
  const done: Array<{ output: string; on: boolean; atMs: number }> = [];
  const bank = { set: async (output: string, on: boolean) => void done.push({ output, on, atMs: Date.now() }) };
  const t0 = Date.now();
  const steps: Step[] = [
    { atMs: t0 - 10, output: 'a1', on: true },
    { atMs: t0 + 60, output: 'z1', on: true },
    { atMs: t0 + 120, output: 'z2', on: true },
  ];
  const { done: result } = await runSteps(bank, steps);
  t.same(done.map((d) => d.output), ['a1', 'z1', 'z2']);
  for (const s of result) t.ok(s.doneMs >= s.atMs, `${s.output} not before its time`);
  t.ok(done[0]!.atMs - t0 < 50, 'a step already due runs at once');

  const ac = new AbortController();
  const later: Step[] = [
    { atMs: Date.now(), output: 'a1', on: true },
    { atMs: Date.now() + 60_000, output: 'z1', on: true },
  ];
  done.length = 0;
  const run = runSteps(bank, later, ac.signal);
  setTimeout(() => ac.abort(new Error('emergency')), 30);
  await t.rejects(run, /emergency/);
  t.same(done.map((d) => d.output), ['a1'], 'the step after the abort never ran');
});

t.test('a step done late pushes the ones after it back: the warm-up and the zone lead are kept whole', async (t) => {
  const done: Array<{ output: string; atMs: number }> = [];
  // The amplifier's line answers 80 ms late (a slow bridge, a loaded machine); the others at once.
  const bank = {
    set: async (output: string) => {
      // Until the wall clock has moved 80 ms: a timer may fire a millisecond early by Date.now().
      const until = Date.now() + 80;
      while (output === 'amp' && Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now()));
      done.push({ output, atMs: Date.now() });
    },
  };
  const t0 = Date.now();
  const steps: Step[] = [
    { atMs: t0, output: 'amp', on: true },
    { atMs: t0 + 300, output: 'north', on: true },
  ];
  const { pushedMs } = await runSteps(bank, steps);
  t.ok(done[1]!.atMs - done[0]!.atMs >= 300, `the zone closes a whole warm-up after the amplifier was on (${done[1]!.atMs - done[0]!.atMs} ms)`);
  t.ok(pushedMs >= 80, `and the audio is told to follow by as much (${pushedMs} ms)`);

  // A driver's own few milliseconds push nothing (a clock of the test's, moved by the switches only).
  let clock = 1000;
  const quick = { set: async () => void (clock += STEP_SLACK_MS - 2) };
  t.equal((await runSteps(quick, [{ atMs: 1000, output: 'amp', on: true }, { atMs: 1000 + STEP_SLACK_MS - 2, output: 'north', on: true }], undefined, () => clock)).pushedMs, 0);
});
