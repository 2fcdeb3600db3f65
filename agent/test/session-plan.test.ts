import t from 'tap';
import { planSession, usableZones, type PlanInput, type PlanSubject, type PlanWarning } from '../src/schedule/session-plan.js';
import type { Programme, ProgrammeItem } from '../src/domain/types.js';
import { RequestSchema, type StationRequest } from '../src/domain/request.js';
import { interruptionResume, isPlannedLive, type SessionPlan } from '../src/playout/session.js';

/**
 * The Circular 39 planning rules as a table: each rule has one or more
 * cases, each case is plain data in and the plan (items in order, zones,
 * volume, start instant) and warnings out.
 */

const T0 = Date.UTC(2026, 11, 2, 23, 0, 0); // 06:00 in Asia/Ho_Chi_Minh
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const CHIME = 'f'.repeat(64);

const ZONES = [
  { name: 'market', volume: 100, enabled: true },
  { name: 'school', volume: 60, enabled: true },
  { name: 'river', volume: 80, enabled: false },
];

const programme = (over: Partial<Programme> = {}): Programme => ({
  id: 'morning',
  name: 'Morning news',
  priority: 2,
  recurrence: { kind: 'daily', time: '06:00' },
  items: [{ content: A, repeat: 1, gapMs: 0 }, { content: B, repeat: 1, gapMs: 500 }],
  zones: ['market', 'school'],
  volume: 80,
  ...over,
});

const request = (over: Partial<StationRequest> & Pick<StationRequest, 'id' | 'priority'>): StationRequest =>
  RequestSchema.parse({ mode: 'now', items: [{ content: C, repeat: 1, gapMs: 0 }], ...over });

const occurrence = (over: Partial<Extract<PlanSubject, { kind: 'occurrence' }>> = {}): PlanSubject => ({
  kind: 'occurrence',
  occurrence: { id: `morning@2026-12-03T06:00:00`, programmeId: 'morning', startMs: T0, priority: 2 },
  programme: programme(),
  bulletins: [],
  ...over,
});

function input(subject: PlanSubject, over: Partial<PlanInput> = {}): PlanInput {
  return {
    key: subject.kind === 'occurrence' ? `occurrence:${subject.occurrence.id}` : `request:${subject.request.id}`,
    subject,
    settings: { zones: ZONES, emergencyVolume: 100, masterVolume: 100 },
    chime: { content: CHIME, classes: ['priority', 'emergency'] },
    interruption: { normal: 'resume', priority: 'restart', emergency: 'restart' },
    // Linear and readable: the test sees which volume the gain was taken from.
    volumeGainDb: (v) => v - 100,
    nowMs: T0 - 3000,
    timezone: 'Asia/Ho_Chi_Minh',
    ...over,
  };
}

/** An item as one readable word: chime, bulletin:<id>:<content>@<offset>, item<index>:<content>@<offset>. */
const name = (sha: string): string => ({ [A]: 'A', [B]: 'B', [C]: 'C', [CHIME]: 'chime' })[sha] ?? sha;
function items(plan: SessionPlan): string[] {
  return plan.items.map((it) => {
    const o = it.origin;
    if (o.kind === 'chime') return `chime(gap ${it.gapMs})`;
    const where = o.kind === 'bulletin' ? `bulletin ${o.requestId} p${o.priority}` : `item${o.index}`;
    if (isPlannedLive(it)) return `${where}:live ${it.live.label} ${it.live.durationMs !== null ? `for ${it.live.durationMs}` : ''}${it.live.endMs !== null ? `until ${new Date(it.live.endMs).toISOString()}` : ''}`;
    return `${where}:${name(it.content)}@${it.offsetMs}${it.gapMs > 0 ? ` gap ${it.gapMs}` : ''}`;
  });
}

interface Case {
  rule: string;
  input: PlanInput;
  items: string[];
  plan: Record<string, unknown>;
  warnings?: PlanWarning[];
}

const vov1 = (end: { durationMs: number } | { untilTime: string }): ProgrammeItem => ({
  live: { sources: [{ id: 'vov1', kind: 'http', url: 'http://vov.example/vov1.mp3' }, { id: 'fallback', kind: 'file', contents: [B] }], label: 'VOV1', ...end },
});

const bulletinFlood = request({ id: 'b-flood', mode: 'next-programme', priority: 6, items: [{ content: C, repeat: 2, gapMs: 1000 }] });
const bulletinVaccine = request({ id: 'b-vaccine', mode: 'next-programme', priority: 5 });

const cases: Case[] = [
  // --- a scheduled programme --------------------------------------------
  {
    rule: 'a fresh programme starts at its instant, its items in order, no chime for a normal class',
    input: input(occurrence()),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: {
      kind: 'occurrence', key: 'occurrence:morning@2026-12-03T06:00:00', label: 'Morning news', priority: 2,
      programmeId: 'morning', occurrenceId: 'morning@2026-12-03T06:00:00', scheduledMs: T0, audioStartMs: T0, origin: 'schedule', policy: 'resume',
    },
  },
  {
    rule: 'a programme started after its instant (late, within grace) starts at once',
    input: input(occurrence(), { nowMs: T0 + 60_000 }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { audioStartMs: null, scheduledMs: T0 },
  },
  {
    rule: 'a priority programme is preceded by the chime and follows the priority policy',
    input: input(occurrence({ programme: programme({ priority: 6 }) })),
    items: ['chime(gap 300)', 'item0:A@0', 'item1:B@0 gap 500'],
    plan: { priority: 6, policy: 'restart', audioStartMs: T0 },
  },
  {
    rule: 'no chime configured: none is played',
    input: input(occurrence({ programme: programme({ priority: 6 }) }), { chime: null }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: {},
  },
  // --- queued priority bulletins --------------------------------------------
  {
    rule: 'queued bulletins head the programme in the operator\'s order, each after a chime, repeats expanded',
    input: input(occurrence({ bulletins: [bulletinFlood, bulletinVaccine] })),
    items: [
      'chime(gap 300)', 'bulletin b-flood p6:C@0 gap 1000', 'bulletin b-flood p6:C@0 gap 1000',
      'chime(gap 300)', 'bulletin b-vaccine p5:C@0',
      'item0:A@0', 'item1:B@0 gap 500',
    ],
    plan: { kind: 'occurrence', priority: 2 },
  },
  {
    rule: 'bulletins still head a resumed programme, whole, and the programme\'s chime is not repeated',
    input: input(occurrence({ programme: programme({ priority: 6 }), bulletins: [bulletinVaccine], resume: { item: 1, offsetMs: 4000 } })),
    items: ['chime(gap 300)', 'bulletin b-vaccine p5:C@0', 'item1:B@4000 gap 500'],
    plan: { audioStartMs: null },
  },
  // --- resume points ---------------------------------------------------------
  {
    rule: 'a resumed programme leaves out the items before the resume point and starts the cut one at its offset',
    input: input(occurrence({ resume: { item: 1, offsetMs: 2500 } })),
    items: ['item1:B@2500 gap 500'],
    plan: { audioStartMs: null, scheduledMs: T0 },
  },
  {
    rule: 'resume into a repeated item: the cut repeat at its offset, the repeats after it whole',
    input: input(occurrence({ programme: programme({ items: [{ content: A, repeat: 3, gapMs: 200 }, { content: B, repeat: 1, gapMs: 0 }] }), resume: { item: 1, offsetMs: 7000 } })),
    items: ['item1:A@7000 gap 200', 'item2:A@0 gap 200', 'item3:B@0'],
    plan: {},
  },
  {
    rule: 'a resume point at the very start (restart policy) replays the chime but does not wait for the instant',
    input: input(occurrence({ programme: programme({ priority: 6 }), resume: { item: 0, offsetMs: 0 } })),
    items: ['chime(gap 300)', 'item0:A@0', 'item1:B@0 gap 500'],
    plan: { audioStartMs: null },
  },
  {
    rule: 'a resume point past the last item leaves nothing of the programme',
    input: input(occurrence({ resume: { item: Number.MAX_SAFE_INTEGER, offsetMs: 0 } })),
    items: [],
    plan: {},
  },
  {
    rule: 'a resumed request leaves out what it already played, without its chime',
    input: input({ kind: 'request', request: request({ id: 'r1', priority: 6, zones: ['market'], items: [{ content: A, repeat: 2, gapMs: 0 }, { content: B, repeat: 1, gapMs: 0 }] }), resume: { item: 1, offsetMs: 1500 } }),
    items: ['item1:A@1500', 'item2:B@0'],
    plan: { kind: 'request', requestId: 'r1' },
  },
  // --- zones -------------------------------------------------------------------
  {
    rule: 'unknown and disabled zones are left out of a programme, and said so',
    input: input(occurrence({ programme: programme({ zones: ['harbour', 'river', 'market'] }) })),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { zones: ['market'], volume: 80 },
    warnings: [{ kind: 'zones-left-out', unknown: ['harbour'], disabled: ['river'] }],
  },
  {
    rule: 'a request with an empty zone list plays on every zone the station may use',
    input: input({ kind: 'request', request: request({ id: 'r2', priority: 2, zones: [] }) }),
    items: ['item0:C@0'],
    plan: { zones: ['market', 'school'] },
    warnings: [{ kind: 'zones-left-out', unknown: [], disabled: ['river'] }],
  },
  {
    rule: 'a request naming zones plays on those only, in the order named',
    input: input({ kind: 'request', request: request({ id: 'r3', priority: 2, zones: ['school', 'market'] }) }),
    items: ['item0:C@0'],
    plan: { zones: ['school', 'market'] },
  },
  {
    rule: 'all zones disabled: a programme plays on none, and says so twice (left out, nothing left)',
    input: input(occurrence(), { settings: { zones: ZONES.map((z) => ({ ...z, enabled: false })), emergencyVolume: 100, masterVolume: 100 } }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { zones: [], volume: 80 },
    warnings: [{ kind: 'zones-left-out', unknown: [], disabled: ['market', 'school'] }, { kind: 'no-zone' }],
  },
  {
    rule: 'all zones disabled: a request with an empty zone list plays on none, and says so',
    input: input({ kind: 'request', request: request({ id: 'r4', priority: 2 }) }, { settings: { zones: ZONES.map((z) => ({ ...z, enabled: false })), emergencyVolume: 100, masterVolume: 100 } }),
    items: ['item0:C@0'],
    plan: { zones: [] },
    warnings: [{ kind: 'zones-left-out', unknown: [], disabled: ['market', 'school', 'river'] }, { kind: 'no-zone' }],
  },
  // --- emergency ---------------------------------------------------------------
  {
    rule: 'an emergency plays on every zone, disabled ones included, at the forced volume, whatever it names',
    input: input({ kind: 'request', request: request({ id: 'flood', priority: 9, zones: ['school'], volume: 10, label: 'Flood', origin: 'province', display: { text: 'Nước lũ', instructions: 'Lên chỗ cao' } }) }, {
      settings: { zones: ZONES, emergencyVolume: 95, masterVolume: 40 },
    }),
    items: ['chime(gap 300)', 'item0:C@0'],
    plan: {
      kind: 'request', key: 'request:flood', label: 'Flood', priority: 9, requestId: 'flood', zones: ['market', 'school', 'river'], volume: 95, volumeGainDb: -5,
      audioStartMs: null, origin: 'province', policy: 'restart', display: { text: 'Nước lũ', instructions: 'Lên chỗ cao' },
    },
  },
  {
    rule: 'an emergency plays on every zone even when all are disabled, without a warning',
    input: input({ kind: 'request', request: request({ id: 'fire', priority: 9 }) }, { settings: { zones: ZONES.map((z) => ({ ...z, enabled: false })), emergencyVolume: 100, masterVolume: 100 } }),
    items: ['chime(gap 300)', 'item0:C@0'],
    plan: { zones: ['market', 'school', 'river'], volume: 100 },
  },
  {
    rule: 'an emergency on a station without zones says nobody hears it',
    input: input({ kind: 'request', request: request({ id: 'fire', priority: 9 }) }, { settings: { zones: [], emergencyVolume: 100, masterVolume: 100 } }),
    items: ['chime(gap 300)', 'item0:C@0'],
    plan: { zones: [] },
    warnings: [{ kind: 'no-zone' }],
  },
  // --- volume ------------------------------------------------------------------
  {
    rule: 'the lowest trim of the zones played wins, then the master volume (80 x 60 % x 50 % = 24)',
    input: input(occurrence(), { settings: { zones: ZONES, emergencyVolume: 100, masterVolume: 50 } }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { zones: ['market', 'school'], volume: 24, volumeGainDb: -76 },
  },
  {
    rule: 'a disabled zone\'s trim does not count: it is not played on (80 x 100 % = 80)',
    input: input(occurrence({ programme: programme({ zones: ['market', 'river'] }) }), { settings: { zones: [ZONES[0]!, { name: 'river', volume: 10, enabled: false }], emergencyVolume: 100, masterVolume: 100 } }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { zones: ['market'], volume: 80 },
    warnings: [{ kind: 'zones-left-out', unknown: [], disabled: ['river'] }],
  },
  {
    rule: 'a request\'s own volume is trimmed like a programme\'s, rounded (75 x 60 % x 90 % = 40.5 -> 41)',
    input: input({ kind: 'request', request: request({ id: 'r5', priority: 6, zones: ['school'], volume: 75 }) }, { settings: { zones: ZONES, emergencyVolume: 100, masterVolume: 90 } }),
    items: ['chime(gap 300)', 'item0:C@0'],
    plan: { volume: 41, volumeGainDb: -59 },
  },
  {
    rule: 'no zone left: no trim applies, only the master volume',
    input: input(occurrence({ programme: programme({ zones: ['harbour'] }) }), { settings: { zones: ZONES, emergencyVolume: 100, masterVolume: 50 } }),
    items: ['item0:A@0', 'item1:B@0 gap 500'],
    plan: { zones: [], volume: 40 },
    warnings: [{ kind: 'zones-left-out', unknown: ['harbour'], disabled: [] }, { kind: 'no-zone' }],
  },
  // --- labels ------------------------------------------------------------------
  {
    rule: 'a request without a label is called by its id',
    input: input({ kind: 'request', request: request({ id: 'r6', priority: 2, zones: ['market'] }) }),
    items: ['item0:C@0'],
    plan: { label: 'r6', origin: 'cli', policy: 'resume' },
  },
  // --- live relays ---------------------------------------------------------------
  {
    rule: '"Relay VOV1 06:00-06:30 on every zone" is one programme with one live item of 30 minutes',
    input: input(occurrence({ programme: programme({ items: [vov1({ durationMs: 1_800_000 })], zones: ['market', 'school'] }) })),
    items: ['item0:live VOV1 for 1800000'],
    plan: { audioStartMs: T0, zones: ['market', 'school'] },
  },
  {
    rule: 'a live item ending at a local time ends at the first such instant after the programme\'s start',
    input: input(occurrence({ programme: programme({ items: [vov1({ untilTime: '06:30' })] }) })),
    items: ['item0:live VOV1 until 2026-12-02T23:30:00.000Z'],
    plan: {},
  },
  {
    rule: 'an end time before the start is the next day (a relay across midnight)',
    input: input(occurrence({ programme: programme({ items: [vov1({ untilTime: '00:30' })] }) })),
    items: ['item0:live VOV1 until 2026-12-03T17:30:00.000Z'],
    plan: {},
  },
  {
    rule: 'a live relay cut off is rejoined live until the end it had, never at an offset, without the chime',
    input: input(occurrence({ programme: programme({ priority: 6, items: [{ content: A, repeat: 1, gapMs: 0 }, vov1({ durationMs: 1_800_000 })] }), resume: { item: 1, offsetMs: 0, untilMs: T0 + 1_000_000 } })),
    items: [`item1:live VOV1 for 1800000until ${new Date(T0 + 1_000_000).toISOString()}`],
    plan: { audioStartMs: null },
  },
  {
    rule: 'a live relay whose end passed while it was cut off is over: the programme goes on with its next item',
    input: input(occurrence({ programme: programme({ items: [vov1({ durationMs: 60_000 }), { content: B, repeat: 1, gapMs: 0 }] }), resume: { item: 0, offsetMs: 0, untilMs: T0 + 60_000 } }), { nowMs: T0 + 61_000 }),
    items: ['item1:B@0'],
    plan: { audioStartMs: null },
  },
  {
    rule: 'a live request from the province counts its end time from now',
    input: input({ kind: 'request', request: request({ id: 'p-live', priority: 5, zones: ['market'], items: [vov1({ untilTime: '06:10' })] }) }, { nowMs: T0 }),
    items: ['chime(gap 300)', 'item0:live VOV1 until 2026-12-02T23:10:00.000Z'],
    plan: { kind: 'request', audioStartMs: null },
  },
];

t.test('a live item cut off is rejoined live (resume, restart) or dropped, per its class', async (t) => {
  const live = (policy: 'resume' | 'restart' | 'drop'): SessionPlan => {
    const plan = planSession(input(occurrence({ programme: programme({ items: [vov1({ durationMs: 60_000 }), { content: B, repeat: 1, gapMs: 0 }] }) }))).plan;
    return { ...plan, policy };
  };
  t.same(interruptionResume(live('resume'), 0, 12_345, T0 + 60_000), { item: 0, offsetMs: 0, untilMs: T0 + 60_000 }, 'resume: rejoined live to its end, not at 12 s into it');
  t.same(interruptionResume(live('restart'), 0, 12_345, T0 + 60_000), { item: 0, offsetMs: 0, untilMs: T0 + 60_000 }, 'restart: rejoined live too (a stream has no start to go back to)');
  t.same(interruptionResume(live('drop'), 0, 12_345, T0 + 60_000), { item: 1, offsetMs: 0 }, 'drop: the next item');
  t.same(interruptionResume(live('resume'), 1, 500), { item: 1, offsetMs: 500 }, 'a file after it keeps its own policy');
});

for (const c of cases) {
  t.test(c.rule, async (t) => {
    const { plan, warnings } = planSession(c.input);
    t.same(items(plan), c.items, 'items, in order');
    // Field by field and exact: a partial match would accept zones [] for any zones.
    for (const [field, expected] of Object.entries(c.plan)) t.same((plan as unknown as Record<string, unknown>)[field], expected, field);
    t.same(warnings, c.warnings ?? [], 'warnings');
  });
}

t.test('a plan carries the fields of its kind only', async (t) => {
  const scheduled = planSession(input(occurrence())).plan;
  t.notOk('requestId' in scheduled || 'display' in scheduled, 'an occurrence names no request and shows no text');
  const asked = planSession(input({ kind: 'request', request: request({ id: 'r7', priority: 2 }) })).plan;
  t.notOk('programmeId' in asked || 'occurrenceId' in asked || 'scheduledMs' in asked || 'display' in asked, 'a request without display names no programme and shows nothing');
});

t.test('planning does not change its input', async (t) => {
  const i = input(occurrence({ bulletins: [bulletinFlood], resume: { item: 1, offsetMs: 10 } }));
  const before = JSON.stringify(i);
  planSession(i);
  planSession(i);
  t.equal(JSON.stringify(i), before);
});

t.test('usable zones keep the order named and tell unknown from disabled', async (t) => {
  t.same(usableZones(['school', 'ghost', 'river', 'market'], ZONES), {
    zones: ['school', 'market'],
    warnings: [{ kind: 'zones-left-out', unknown: ['ghost'], disabled: ['river'] }],
  });
  t.same(usableZones([], ZONES), { zones: [], warnings: [] }, 'nothing named, nothing said');
});
