import t from 'tap';
import {
  type AlertSpeechConfig,
  type PlayStep,
  AlertSpeechConfigSchema,
  MAX_SPEECH_CHARS,
  boardView,
  speechPlan,
  speechText,
} from '../src/alerts/speech-plan.js';
import { DEFAULT_ALERT_POLICY, REPEAT_PARAMETER, repeatSchedule } from '../src/alerts/lifecycle.js';
import type { AlertResource } from '../src/alerts/alert.js';
import { DAY, HOUR, MIN, T0, capAlert, capInfo } from './alert-builder.js';

const FLOOD = 'f'.repeat(64);
const FLOOD_HMN = 'e'.repeat(64);
const station: AlertSpeechConfig = AlertSpeechConfigSchema.parse({
  languages: ['vi', 'hmn'],
  prerecorded: [
    { valueName: 'VN-EVENT', value: 'LU-QUET', language: 'vi', content: FLOOD },
    { valueName: 'VN-EVENT', value: 'LU-QUET', language: 'hmn', content: FLOOD_HMN },
  ],
});
const mp3 = (uri: string): AlertResource => ({ description: 'bản tin', mimeType: 'audio/mpeg', uri, size: 48_000, digest: 'a'.repeat(40) });
const flood = [{ valueName: 'VN-EVENT', value: 'LU-QUET' }];
/** Steps as short strings, for table assertions. */
const brief = (steps: PlayStep[]): string[] =>
  steps.map((s) => {
    switch (s.kind) {
      case 'chime': return 'chime';
      case 'resource': return `resource ${s.language} ${s.resource.key}`;
      case 'prerecorded': return `prerecorded ${s.language} ${s.content.slice(0, 1)}`;
      case 'speech': return `${s.key === 'lead' ? 'lead' : 'speech'} ${s.language}: ${s.text}`;
    }
  });

const both = capAlert({
  info: [
    capInfo({ language: 'hmn', headline: 'Dej nyab', eventCodes: flood, resources: [mp3('https://p/hmn.mp3')] }),
    capInfo({ language: 'vi-VN', eventCodes: flood, resources: [{ description: 'ảnh', mimeType: 'image/png', uri: 'https://p/map.png' }, mp3('https://p/vi.mp3')] }),
  ],
});

t.test('each configured language from its audio resource, Vietnamese first, after the attention chime', async (t) => {
  const plan = speechPlan(both, station, { resources: { '1.1': 'present', '0.0': 'present' } });
  t.same(brief(plan.steps), ['chime', 'resource vi 1.1', 'resource hmn 0.0']);
  t.same(plan.waitFor, []);
  t.same(plan.skipped, []);
  const vi = plan.steps[1];
  t.same(vi?.kind === 'resource' && vi.resource, { info: 1, index: 1, key: '1.1', mimeType: 'audio/mpeg', uri: 'https://p/vi.mp3', digest: 'a'.repeat(40), size: 48_000 });
  t.same(brief(speechPlan(both, { ...station, chime: false }, { resources: { '1.1': 'present', '0.0': 'present' } }).steps), ['resource vi 1.1', 'resource hmn 0.0']);
});

t.test('never waits: a resource still coming starts the play with chime and spoken headline; the rest follows when it arrives', async (t) => {
  const first = speechPlan(both, station, { resources: { '0.0': 'present' } });
  t.same(brief(first.steps), ['chime', 'lead vi: Cảnh báo lũ quét.', 'resource hmn 0.0']);
  t.same(first.waitFor.map((r) => r.key), ['1.1']);
  // It arrives while those play: plan again with what was played.
  const played = first.steps.map((s) => s.key);
  const rest = speechPlan(both, station, { resources: { '0.0': 'present', '1.1': 'present' } }, { done: played });
  t.same(brief(rest.steps), ['resource vi 1.1']);
  t.same(rest.waitFor, []);
  // Or the download fails: the pre-recorded message for its event code stands in.
  const failed = speechPlan(both, station, { resources: { '0.0': 'present', '1.1': 'failed' } }, { done: played });
  t.same(brief(failed.steps), ['prerecorded vi f']);
  // A later language still coming does not delay the first: no lead, it simply waits its turn.
  const later = speechPlan(both, station, { resources: { '1.1': 'present' } });
  t.same(brief(later.steps), ['chime', 'resource vi 1.1']);
  t.same(later.waitFor.map((r) => r.key), ['0.0']);
  // Nothing ready at all: chime and headline, then waiting for both.
  const none = speechPlan(both, station, { resources: {} });
  t.same(brief(none.steps), ['chime', 'lead vi: Cảnh báo lũ quét.']);
  t.same(none.waitFor.map((r) => r.key), ['1.1', '0.0']);
});

t.test('fallbacks: resource, then pre-recorded by event code, then (Vietnamese only) synthesis of the texts', async (t) => {
  const rows: Array<{ name: string; info: Parameters<typeof capInfo>[0]; available?: Record<string, 'present' | 'pending' | 'failed'>; steps: string[]; skipped?: string[] }> = [
    { name: 'failed download, pre-recorded', info: { eventCodes: flood, resources: [mp3('u')] }, available: { '0.0': 'failed' }, steps: ['chime', 'prerecorded vi f'] },
    { name: 'no resource, pre-recorded', info: { eventCodes: flood }, steps: ['chime', 'prerecorded vi f'] },
    { name: 'event code value differs', info: { eventCodes: [{ valueName: 'VN-EVENT', value: 'LU' }] }, steps: ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.'] },
    { name: 'event code name differs', info: { eventCodes: [{ valueName: 'SAME', value: 'LU-QUET' }] }, steps: ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.'] },
    { name: 'resource with nothing to fetch', info: { resources: [{ description: 'x', mimeType: 'audio/mpeg' }] }, steps: ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.'] },
    { name: 'inline resource (derefUri) present', info: { resources: [{ description: 'x', mimeType: 'Audio/OGG', derefUri: 'T2dnUw==' }] }, available: { '0.0': 'present' }, steps: ['chime', 'resource vi 0.0'] },
    { name: 'only an image', info: { resources: [{ description: 'x', mimeType: 'image/jpeg', uri: 'u' }] }, steps: ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.'] },
    { name: 'no headline: the event', info: { headline: undefined, description: undefined, instruction: 'Sơ tán!' }, steps: ['chime', 'speech vi: Lũ quét. Sơ tán!'] },
  ];
  for (const r of rows) {
    const plan = speechPlan(capAlert({ info: [capInfo(r.info)] }), station, { resources: r.available ?? {} });
    t.same(brief(plan.steps), r.steps, r.name);
    t.same(plan.skipped.map((s) => s.language), ['hmn'], `${r.name}: no Hmong block`);
  }
});

t.test('a pre-recorded message missing from the cache is passed over: the next one, or Vietnamese speech', async (t) => {
  const codes = [{ valueName: 'VN-EVENT', value: 'LU-QUET' }, { valueName: 'VN-EVENT', value: 'LU' }];
  const cfg = AlertSpeechConfigSchema.parse({
    languages: ['vi', 'hmn'],
    prerecorded: [...station.prerecorded, { valueName: 'VN-EVENT', value: 'LU', language: 'vi', content: 'b'.repeat(64) }],
  });
  const a = capAlert({ info: [capInfo({ eventCodes: codes }), capInfo({ language: 'hmn', eventCodes: codes })] });
  t.same(brief(speechPlan(a, cfg, { resources: {} }).steps), ['chime', 'prerecorded vi f', 'prerecorded hmn e']);
  t.same(brief(speechPlan(a, cfg, { resources: {}, missingContent: [FLOOD] }).steps), ['chime', 'prerecorded vi b', 'prerecorded hmn e']);
  const none = speechPlan(a, cfg, { resources: {}, missingContent: [FLOOD, 'b'.repeat(64), FLOOD_HMN] });
  t.same(brief(none.steps), ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.']);
  t.same(none.skipped.map((s) => s.language), ['hmn']);
});

t.test('a minority language without audio or pre-recorded message is skipped, never synthesised', async (t) => {
  const a = capAlert({ info: [capInfo(), capInfo({ language: 'hmn', headline: 'Dej nyab' })] });
  const plan = speechPlan(a, station, { resources: {} });
  t.same(brief(plan.steps), ['chime', 'speech vi: Cảnh báo lũ quét. Mưa lớn gây lũ quét trên suối Nậm. Di chuyển lên vùng cao ngay.']);
  t.same(plan.skipped, [{ language: 'hmn', reason: 'no audio, no pre-recorded message for its event code' }]);
  const withCode = capAlert({ info: [capInfo(), capInfo({ language: 'hmn-VN', eventCodes: flood })] });
  t.same(brief(speechPlan(withCode, station, { resources: {} }).steps).slice(2), ['prerecorded hmn e']);
});

t.test('an alert in none of the station\'s languages plays the pre-recorded message for its event code, or only the chime', async (t) => {
  const en = capAlert({ info: [capInfo({ language: 'en-US', headline: 'Flash flood', eventCodes: flood, resources: [mp3('u')] })] });
  const plan = speechPlan(en, station, { resources: { '0.0': 'present' } });
  t.same(brief(plan.steps), ['chime', 'prerecorded vi f'], 'English audio is not played on Vietnamese speakers');
  const unknown = speechPlan(capAlert({ info: [capInfo({ language: 'en-US' })] }), station, { resources: {} });
  t.same(brief(unknown.steps), ['chime']);
  t.match(unknown.skipped[0]!.reason, /no info block in a configured language/);
});

t.test('only the info blocks in force are spoken (Activity.infos)', async (t) => {
  const plan = speechPlan(both, station, { resources: { '0.0': 'present', '1.1': 'present' } }, { infos: [0] });
  t.same(brief(plan.steps), ['chime', 'resource hmn 0.0']);
  t.same(plan.skipped, [{ language: 'vi', reason: 'no info block in this language' }]);
});

t.test('speech text: sentences, whitespace collapsed, bounded at a word', async (t) => {
  t.equal(speechText(['  Cảnh báo\n lũ  ', undefined, '', 'Sơ tán ngay!']), 'Cảnh báo lũ. Sơ tán ngay!');
  const long = speechText(['Tin', 'mưa '.repeat(1000)]);
  t.ok(long.length <= MAX_SPEECH_CHARS, `${long.length} chars`);
  t.ok(long.endsWith('mưa'), 'cut between words');
  t.equal(speechText([]), '');
});

t.test('the board view: the wanted language, else Vietnamese, else the first; texts as given', async (t) => {
  const a = capAlert({
    info: [
      capInfo({ language: 'en-US', headline: 'Flash flood', senderName: 'Lao Cai PCTT' }),
      capInfo({ language: 'vi-VN', senderName: 'Ban Chỉ huy PCTT tỉnh Lào Cai', expiresMs: T0 + 2 * HOUR }),
      capInfo({ language: 'hmn', headline: 'Dej nyab', senderName: undefined }),
    ],
  });
  t.same(boardView(a, 'vi'), {
    identifier: 'VN-01-2026-0001', language: 'vi-VN', event: 'Lũ quét', severity: 'Severe',
    headline: 'Cảnh báo lũ quét', description: 'Mưa lớn gây lũ quét trên suối Nậm.', instruction: 'Di chuyển lên vùng cao ngay.',
    sender: 'Ban Chỉ huy PCTT tỉnh Lào Cai', expiresMs: T0 + 2 * HOUR, expiresDefaulted: false,
  });
  t.equal(boardView(a, 'hmn')!.headline, 'Dej nyab');
  t.equal(boardView(a, 'hmn')!.sender, 'pcttkcn@laocai.gov.vn', 'no senderName: the CAP sender');
  t.equal(boardView(a, 'fr')!.language, 'vi-VN');
  t.equal(boardView(a, 'vi', { infos: [0] })!.language, 'en-US', 'only blocks in force');
  const open = boardView(capAlert({ info: [capInfo({ expiresMs: undefined })] }), 'vi')!;
  t.same([open.expiresMs, open.expiresDefaulted], [T0 + DAY, true]);
  t.equal(boardView(capAlert({ info: [] }), 'vi'), null);
});

t.test('repeat: every N minutes from the end of the last play until expiry, then it ends by itself', async (t) => {
  const a = capAlert({ info: [capInfo({ parameters: [{ valueName: REPEAT_PARAMETER, value: '15' }] })] });
  // Play 40 s each time, starting at T0.
  const starts: number[] = [];
  let start: number | null = T0;
  while (start !== null) {
    starts.push(start);
    const plan = repeatSchedule(a, [0], start + 40_000, DEFAULT_ALERT_POLICY);
    t.equal(plan.endsAtMs, T0 + HOUR);
    start = plan.nextPlayMs;
  }
  t.same(starts.map((s) => (s - T0) / 1000), [0, 940, 1880, 2820], 'four plays in the hour, each 15 min after the last ended');
  const last = repeatSchedule(a, [0], T0 + 2820_000 + 40_000, DEFAULT_ALERT_POLICY);
  t.same([last.nextPlayMs, last.endsAtMs], [null, T0 + HOUR]);
  t.match(last.reason, /after the end/);
});

t.test('repeat: the parameter, else the station default, else once; nonsense plays once and says so', async (t) => {
  const withParam = (value: string): ReturnType<typeof capAlert> => capAlert({ info: [capInfo({ parameters: [{ valueName: REPEAT_PARAMETER, value }] })] });
  const rows: Array<[ReturnType<typeof capAlert>, number | undefined, number | null, RegExp]> = [
    [withParam('15'), undefined, T0 + 15 * MIN, /every 15 min \(LOA_REPEAT_MINUTES\)/],
    [withParam(' 5 '), 30, T0 + 5 * MIN, /every 5 min/],
    [capAlert(), 30, T0 + 30 * MIN, /every 30 min \(station default\)/],
    [capAlert(), undefined, null, /played once/],
    [withParam('0'), 30, null, /"0" is not 1-1440: played once/],
    [withParam('abc'), undefined, null, /not 1-1440/],
    [withParam('1.5'), undefined, null, /not 1-1440/],
    [withParam('99999'), undefined, null, /not 1-1440/],
    [withParam('60'), undefined, null, /after the end/],
  ];
  for (const [a, def, next, reason] of rows) {
    const r = repeatSchedule(a, [0], T0, DEFAULT_ALERT_POLICY, def);
    t.equal(r.nextPlayMs, next, r.reason);
    t.match(r.reason, reason);
  }
  t.equal(repeatSchedule(withParam('15'), [0], NaN, DEFAULT_ALERT_POLICY).nextPlayMs, null, 'no valid last play: no repeat, no NaN timer');
  // Several blocks: the end is the last block's; an alert without expires repeats until its default lifetime.
  const two = capAlert({ info: [capInfo({ expiresMs: T0 + HOUR }), capInfo({ language: 'hmn', expiresMs: T0 + 3 * HOUR })] });
  t.equal(repeatSchedule(two, [0, 1], T0 + 2 * HOUR, DEFAULT_ALERT_POLICY, 30).nextPlayMs, T0 + 150 * MIN);
  const open = capAlert({ info: [capInfo({ expiresMs: undefined })] });
  t.equal(repeatSchedule(open, [0], T0, DEFAULT_ALERT_POLICY, 60).endsAtMs, T0 + DAY);
});
