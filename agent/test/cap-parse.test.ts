import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseCap } from '../src/alerts/cap/parse.js';

const fixture = (p: string): Buffer => readFileSync(new URL(`./fixtures/cap/${p}`, import.meta.url));

t.test('smoke', async (t) => {
  for (const f of ['oasis/homeland-security.xml', 'oasis/severe-thunderstorm.xml', 'oasis/earthquake.xml', 'oasis/amber-alert.xml']) {
    const started = performance.now();
    const r = await parseCap(fixture(f));
    t.comment(f, Math.round(performance.now() - started), JSON.stringify(r).slice(0, 900));
    t.ok(r.ok, f);
  }
});
