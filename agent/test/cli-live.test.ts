import t from 'tap';
import { meterLine, parseDuration } from '../src/cli/live.js';

t.test('durations as the operator types them', async (t) => {
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('1.5h'), 5_400_000);
  t.equal(parseDuration('45'), 45_000, 'bare seconds');
  for (const bad of ['', '5 minutes', '-1m', '0', 'm5', '5d']) t.equal(parseDuration(bad), null, `"${bad}" refused`);
});

t.test('the meter fits 80 columns and follows the level', async (t) => {
  for (const level of [null, -Infinity, -90, -60, -30, -12.34, 0, 3]) {
    const line = meterLine(level, 754_000, 'ĐANG PHÁT');
    t.ok(line.length <= 79, `${line.length} columns at ${level}`);
  }
  const bar = (l: number | null): number => (meterLine(l, 0, 'ON AIR').match(/#/g) ?? []).length;
  t.equal(bar(null), 0, 'no level: an empty bar');
  t.equal(bar(-60), 0, '-60 dBFS and below: empty');
  t.ok(bar(-30) > 0 && bar(-30) < bar(-6), 'louder is longer');
  t.equal(bar(0), bar(3), 'full at 0 dBFS');
  t.match(meterLine(-12.34, 754_000, 'ON AIR'), /^ON AIR 12:34 \[#+-+\] -12\.3 dBFS$/);
  t.match(meterLine(null, 5_000, 'WAITING'), /^WAITING 00:05 \[-+\]    - dBFS$/);
});
