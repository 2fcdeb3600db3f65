import t from 'tap';
import { cleanText, normalizeText } from '../src/lib/text.js';

t.test('hostile characters are removed, letters kept', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['blank', ' \t \u3000 \u00a0 ', ''],
    ['control characters and an ANSI escape', 'L\u0000ũ\u0007 \u001b[31mquét\u009b', 'Lũ [31mquét'],
    ['bidi override and isolates', 'Lũ \u202Equét\u202C \u2067x\u2069', 'Lũ quét x'],
    ['zero-width space, word joiner and BOM', 'K\u200BH\u2060Ẩ\uFEFFN', 'KHẨN'],
    ['an unpaired surrogate', 'a\uD800b\uDC00', 'a\uFFFDb\uFFFD'],
    ['decomposed Vietnamese becomes precomposed', 'KHẨN CẤP'.normalize('NFD'), 'KHẨN CẤP'],
    ['line breaks in a one-line text', 'Lũ\r\nquét\u2028ở\nMường Tè', 'Lũ quét ở Mường Tè'],
    ['HTML stays text (the board never parses it)', '<script>x()</script>', '<script>x()</script>'],
    ['an emoji ZWJ sequence and a variation selector survive', '👨‍👩‍👧 ⚠️', '👨‍👩‍👧 ⚠️'],
  ];
  for (const [what, input, want] of cases) {
    t.equal(cleanText(input, 200), want, what);
    t.equal(cleanText(cleanText(input, 200), 200), want, `${what}: idempotent`);
  }
});

t.test('multi-line text keeps its paragraphs, at most one blank line between them', async (t) => {
  t.equal(cleanText('  Một \t hai \r\n\r\n\r\n\r\nBa  \n', 100, { multiline: true }), 'Một hai\n\nBa');
});

t.test('a long text is cut at a letter boundary and says so', async (t) => {
  const r = normalizeText('Ẩ'.normalize('NFD').repeat(10), 5);
  t.same(r, { text: 'ẨẨẨẨ…', truncated: true }, 'never a mark cut from its letter');
  t.same(normalizeText('👨‍👩‍👧'.repeat(5), 3), { text: '👨‍👩‍👧👨‍👩‍👧…', truncated: true }, 'never an emoji cut in half');
  t.same(normalizeText('abc', 3), { text: 'abc', truncated: false }, 'exactly the bound is kept whole');
  t.equal(normalizeText('ab cd', 4).text, 'ab…', 'no space before the ellipsis');
  const huge = normalizeText('Lũ quét '.repeat(131_072), 200);
  t.equal([...huge.text].length, 200, 'a megabyte comes down to the bound');
  t.ok(huge.truncated);
});
