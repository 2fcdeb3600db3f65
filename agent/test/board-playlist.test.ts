import t from 'tap';
import { TZ, local, playlist, defaults } from './board-fixture.js';
import {
  boardNow, BoardScheduleSchema, BoardEmergencySchema, PlaylistSchema, FALLBACK_RECHECK_MS,
} from '../src/board/playlist.js';

const utc = (s: string): number => Date.parse(s);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const IMG = 'b'.repeat(64);



t.test('the default playlist rotates from local midnight, each item for its duration', async (t) => {
  const at = (s: string) => boardNow(local(s), TZ, [], defaults, null);
  t.equal(at('2026-11-27T00:00:00').item.id, 'n1');
  t.equal(at('2026-11-27T00:00:19.999').item.id, 'n1');
  t.equal(at('2026-11-27T00:00:20').item.id, 'clock');
  t.equal(at('2026-11-27T00:00:30').item.id, 'n1', 'the cycle repeats');
  const n = at('2026-11-27T10:00:05');
  t.equal(n.item.id, 'n1');
  t.equal(iso(n.startedMs), iso(local('2026-11-27T10:00:00')));
  t.equal(iso(n.untilMs), iso(local('2026-11-27T10:00:20')), 'deadline is the end of the item');
  t.equal(n.source, 'default');
  t.equal(at('2026-11-27T10:00:05').key, at('2026-11-27T10:00:15').key, 'same showing, same key');
  t.not(at('2026-11-27T10:00:05').key, at('2026-11-27T10:00:35').key, 'the next cycle is another showing');
});

t.test('a daypart playlist takes over in its window, on its weekdays and dates only', async (t) => {
  const market = playlist({
    id: 'market', ticker: 'Chợ phiên sáng thứ Bảy',
    // 27 Nov 2026 is a Friday (weekday 5).
    dayparts: [{ weekdays: [5, 6], from: '07:00', to: '09:00', validFrom: '2026-11-27', validTo: '2026-11-28' }],
    items: [{ kind: 'text', id: 'm', durationS: 15, text: 'Giá lúa hôm nay' }],
  });
  const at = (s: string) => boardNow(local(s), TZ, [market], defaults, null);
  t.equal(at('2026-11-27T06:59:59').source, 'default');
  const open = at('2026-11-27T06:59:50');
  t.equal(iso(open.untilMs), iso(local('2026-11-27T07:00:00')), 'the default item is cut at the window opening');
  t.equal(at('2026-11-27T07:00:00').source, 'market');
  t.equal(at('2026-11-27T07:00:00').ticker, 'Chợ phiên sáng thứ Bảy');
  t.equal(iso(at('2026-11-27T08:59:50').untilMs), iso(local('2026-11-27T09:00:00')), 'cut at the window end');
  t.equal(at('2026-11-27T09:00:00').source, 'default');
  t.equal(at('2026-11-28T08:00:00').source, 'market', 'Saturday, still valid');
  t.equal(at('2026-11-26T08:00:00').source, 'default', 'before validFrom (and a Thursday)');
  t.equal(at('2026-12-04T08:00:00').source, 'default', 'a Friday after validTo: expired content never shows');
});

t.test('a window crossing midnight runs until its end; rotation restarts at midnight deterministically', async (t) => {
  const night = playlist({ id: 'night', dayparts: [{ from: '22:00', to: '05:00', weekdays: [5] }], items: [
    { kind: 'clock', id: 'a', durationS: 7 }, { kind: 'clock', id: 'b', durationS: 11 },
  ] });
  const at = (s: string) => boardNow(local(s), TZ, [night], defaults, null);
  t.equal(at('2026-11-27T23:00:00').source, 'night');
  t.equal(at('2026-11-28T04:59:59').source, 'night', 'Saturday early morning belongs to Friday night');
  t.equal(at('2026-11-28T05:00:00').source, 'default');
  t.equal(at('2026-11-29T01:00:00').source, 'default', 'Saturday night is not scheduled');
  t.equal(iso(at('2026-11-27T23:59:59').untilMs), iso(local('2026-11-28T00:00:00')));
  t.equal(at('2026-11-28T00:00:00').item.id, 'a');
  t.equal(iso(at('2026-11-28T00:00:00').startedMs), iso(local('2026-11-28T00:00:00')));
});

t.test('the higher priority wins; equal priorities go by list order', async (t) => {
  const a = playlist({ id: 'a', dayparts: [{ from: '08:00', to: '12:00' }] });
  const b = playlist({ id: 'b', dayparts: [{ from: '10:00', to: '11:00' }], priority: 3 });
  const c = playlist({ id: 'c', dayparts: [{ from: '08:00', to: '12:00' }] });
  const at = (s: string) => boardNow(local(s), TZ, [a, b, c], defaults, null).source;
  t.equal(at('2026-11-27T09:00:00'), 'a');
  t.equal(at('2026-11-27T10:30:00'), 'b');
  t.equal(at('2026-11-27T11:30:00'), 'a');
  t.equal(iso(boardNow(local('2026-11-27T09:59:55'), TZ, [a, b, c], defaults, null).untilMs), iso(local('2026-11-27T10:00:00')));
});

t.test('an emergency holds the screen with no deadline, then the rotation resumes', async (t) => {
  const e = BoardEmergencySchema.parse({ key: 'req-1', title: 'Lũ quét', instructions: 'Di chuyển lên chỗ cao' });
  const n = boardNow(local('2026-11-27T10:00:05'), TZ, [], defaults, e);
  t.equal(n.source, 'emergency');
  t.equal(n.untilMs, null);
  t.same(n.item, { kind: 'emergency', id: 'req-1', title: 'Lũ quét', text: '', instructions: 'Di chuyển lên chỗ cao' });
  t.equal(boardNow(local('2026-11-27T10:00:06'), TZ, [], defaults, e).key, n.key, 'stable while it lasts');
  const corrected = boardNow(local('2026-11-27T10:00:07'), TZ, [], defaults, { ...e, instructions: 'Lên đồi ngay' });
  t.not(corrected.key, n.key, 'a corrected wording is a new showing');
  t.match(corrected.key, /^emergency\/req-1\//);
  t.equal(boardNow(local('2026-11-27T10:00:06'), TZ, [], defaults, null).item.id, 'n1');
});

t.test('images and videos missing from the cache are skipped; nothing playable falls back to a clock, never blank', async (t) => {
  const pics = playlist({ id: 'pics', dayparts: [{}], items: [
    { kind: 'image', id: 'i1', durationS: 10, content: IMG },
    { kind: 'video', id: 'v1', durationS: 10, content: IMG },
    { kind: 'text', id: 't1', durationS: 10, text: 'Chào mừng' },
  ] });
  const none = () => false;
  t.equal(boardNow(local('2026-11-27T00:00:01'), TZ, [pics], defaults, null).item.id, 'i1');
  t.equal(boardNow(local('2026-11-27T00:00:11'), TZ, [pics], defaults, null).item.id, 'v1');
  t.equal(boardNow(local('2026-11-27T00:00:01'), TZ, [pics], defaults, null, { hasContent: none }).item.id, 't1');
  t.equal(boardNow(local('2026-11-27T00:00:11'), TZ, [pics], defaults, null, { hasContent: none }).item.id, 't1', 'the video is skipped too');
  const onlyImage = playlist({ id: 'img', items: [{ kind: 'image', id: 'i', durationS: 10, content: IMG }] });
  const d = boardNow(local('2026-11-27T10:00:00'), TZ, [onlyImage], onlyImage, null, { hasContent: none });
  t.equal(d.source, 'fallback');
  t.equal(d.item.kind, 'clock');
  t.equal(d.untilMs, local('2026-11-27T10:00:00') + FALLBACK_RECHECK_MS, 'asks again soon: the file may arrive');
  t.equal(boardNow(local('2026-11-27T10:00:00'), TZ, [pics], onlyImage, null, { hasContent: none }).source, 'pics');
});

t.test('a daylight-saving zone: a window opening in the spring gap opens when the clock jumps', async (t) => {
  const p = playlist({ id: 'p', dayparts: [{ from: '02:30', to: '04:00' }] });
  // 29 March 2026, Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
  t.equal(boardNow(utc('2026-03-29T00:59:00Z'), 'Europe/Berlin', [p], defaults, null).source, 'default');
  t.equal(boardNow(utc('2026-03-29T01:30:00Z'), 'Europe/Berlin', [p], defaults, null).source, 'p');
  t.equal(boardNow(utc('2026-03-29T02:00:00Z'), 'Europe/Berlin', [p], defaults, null).source, 'default');
});

t.test('schema: text is normalised to NFC; bad input is refused with the path named', async (t) => {
  const decomposed = 'Thông báo'.normalize('NFD');
  const s = BoardScheduleSchema.parse({ defaultPlaylist: { id: 'd', items: [{ kind: 'text', id: 'x', durationS: 5, text: decomposed }] } });
  const item = s.defaultPlaylist.items[0]!;
  t.equal(item.kind === 'text' && item.text, 'Thông báo'.normalize('NFC'));
  t.not(decomposed, 'Thông báo'.normalize('NFC'), 'the input really was decomposed');

  const issues = (input: unknown) => {
    const r = BoardScheduleSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  t.same(issues({ defaultPlaylist: { id: 'd', items: [] } }).length, 1);
  t.match(issues({ defaultPlaylist: { id: 'd', items: [{ kind: 'image', id: 'i', durationS: 5, content: 'x.png' }] } }), [/defaultPlaylist\.items\.0\.content: expected a sha256/]);
  t.match(issues({ defaultPlaylist: { id: 'd', items: [{ kind: 'clock', id: 'i', durationS: 0 }] } }), [/durationS/]);
  t.match(issues({ defaultPlaylist: { id: 'd', items: [{ kind: 'clock', id: 'i', durationS: 5 }, { kind: 'clock', id: 'i', durationS: 5 }] } }), [/items: item ids must be unique/]);
  t.match(issues({ defaultPlaylist: { id: 'd', items: [{ kind: 'audio', id: 'v', durationS: 5 }] } }), [/kind/]);
  t.match(issues({ defaultPlaylist: { id: 'd', dayparts: [{ from: '8:00' }], items: [{ kind: 'clock', id: 'i', durationS: 5 }] } }), [/dayparts\.0\.from: expected HH:MM/]);
  t.match(issues({ defaultPlaylist: { id: 'd', dayparts: [{ from: '08:00', to: '08:00' }], items: [{ kind: 'clock', id: 'i', durationS: 5 }] } }), [/dayparts\.0\.to: from and to must differ/]);
  t.match(issues({ defaultPlaylist: { id: 'd', dayparts: [{ validFrom: '2026-12-01', validTo: '2026-11-01' }], items: [{ kind: 'clock', id: 'i', durationS: 5 }] } }), [/validFrom is after validTo/]);
  t.match(issues({ defaultPlaylist: { id: 'd', items: [{ kind: 'notice', id: 'n', durationS: 5, title: '   ', body: '' }] } }), [/title: must not be blank/]);
  t.match(issues({ defaultPlaylist: { id: 'd', dayparts: [{ from: '24:00', to: '01:00' }], items: [{ kind: 'clock', id: 'i', durationS: 5 }] } }), [/from cannot be 24:00/]);
});

t.test('a QR item links to its own URL, else to the station feedback channel, else is skipped', async (t) => {
  const p = playlist({
    id: 'qr',
    items: [
      { kind: 'qr', id: 'own', durationS: 10, url: 'https://example.vn/khao-sat' },
      { kind: 'qr', id: 'feedback', durationS: 10, title: 'Góp ý' },
    ],
  });
  const at = (s: string, feedbackUrl?: string) => boardNow(local(s), TZ, [], p, null, feedbackUrl ? { feedbackUrl } : {});
  t.match(at('2026-11-27T00:00:00', 'https://gopy.example.vn/').item, { id: 'own', url: 'https://example.vn/khao-sat' });
  t.match(at('2026-11-27T00:00:10', 'https://gopy.example.vn/').item, { id: 'feedback', url: 'https://gopy.example.vn/' });
  t.equal(at('2026-11-27T00:00:10').item.id, 'own', 'with no feedback URL configured, only the item with its own URL rotates');
  t.throws(() => PlaylistSchema.parse({ id: 'x', items: [{ kind: 'qr', id: 'q', durationS: 5, url: 'javascript:alert(1)' }] }), /http/);
});

t.test('texts from the province are cleaned where they enter: no control or invisible characters, cut not refused; a blank emergency title is the default', async (t) => {
  const s = BoardScheduleSchema.parse({ defaultPlaylist: { id: 'd', ticker: 'Chợ\u0000 phiên\u202E', items: [
    { kind: 'notice', id: 'n', durationS: 5, title: '\u200BHọp\u0007 dân  ', body: `Dòng 1\r\n\r\n\r\nDòng 2\u2066x\u2069 ${'chữ '.repeat(10_000)}`, issuer: 'UBND\u001b[31m' },
  ] } });
  const n = s.defaultPlaylist.items[0] as Extract<(typeof s.defaultPlaylist.items)[number], { kind: 'notice' }>;
  t.equal(n.title, 'Họp dân');
  t.equal(n.issuer, 'UBND[31m');
  t.equal(s.defaultPlaylist.ticker, 'Chợ phiên');
  t.match(n.body, /^Dòng 1\n\nDòng 2x chữ chữ/, 'paragraphs kept, at most one blank line');
  t.equal([...n.body].length, 20_000, 'a body over its bound is cut to it');
  t.ok(n.body.endsWith('…'), 'and says so');
  t.equal(BoardEmergencySchema.parse({ key: 'k', title: ' \u200B\t' }).title, 'Thông báo khẩn cấp');
  t.equal(BoardEmergencySchema.parse({ key: 'k', title: 'Lũ '.repeat(200) }).title.length, 300);
});
