import t from 'tap';
import { contentInUse, planApply } from '../src/sync/apply-plan.js';
import { withTargetSettings } from '../src/sync/target-settings.js';
import type { ContentEntry, ValidatedTarget } from '../src/sync/target.js';

// The applier's decisions as data: what the wanted target needs against what the cache has.

const entry = (c: string): ContentEntry => ({ sha256: c.repeat(64), kind: 'audio', name: `${c}.mp3`, bytes: 1000, url: `http://province/content/${c}` });
const [a, b, c] = [entry('a'), entry('b'), entry('c')];
const target = (version: number, content: ContentEntry[]): ValidatedTarget => ({ version, issuedMs: 1, programmes: [], content, zones: [], settings: {}, board: null });
const cache = (...have: ContentEntry[]) => (sha: string): boolean => have.some((e) => e.sha256 === sha);

t.test('a new target: fetch what the cache lacks, then activate', async (t) => {
  const v2 = target(2, [a, b, c]);
  t.same(planApply({ version: 2, content: v2.content, target: v2 }, { version: 1 }, cache(a)), [
    { kind: 'fetch', entries: [b, c] },
    { kind: 'activate', target: v2 },
  ]);
  t.same(planApply({ version: 2, content: v2.content, target: v2 }, { version: 1 }, cache(a, b, c)), [{ kind: 'activate', target: v2 }], 'everything cached: activate only');
  t.same(planApply({ version: 2, content: v2.content, target: v2 }, { version: 0 }, cache()), [{ kind: 'fetch', entries: [a, b, c] }, { kind: 'activate', target: v2 }], 'first target of a new station');
});

t.test('the applied target: content the cache lost is fetched again, nothing is re-activated', async (t) => {
  t.same(planApply({ version: 3, content: [a, b] }, { version: 3 }, cache(a)), [{ kind: 'fetch', entries: [b] }], 'missing or quarantined b comes back');
  t.same(planApply({ version: 3, content: [a, b] }, { version: 3 }, cache(a, b)), [], 'nothing differs: nothing to do');
  const v3 = target(3, [a]);
  t.same(planApply({ version: 3, content: [a], target: v3 }, { version: 3 }, cache(a)), [], 'the same version is never committed twice');
});

t.test('while a newer target is pending, what the target in force lacks is fetched first, apart', async (t) => {
  const v2 = target(2, [b, c]);
  t.same(planApply({ version: 2, content: v2.content, target: v2 }, { version: 1, content: [a, b] }, cache()), [
    { kind: 'heal', entries: [a] },
    { kind: 'fetch', entries: [b, c] },
    { kind: 'activate', target: v2 },
  ], 'a plays until v2 is in force; b is fetched once, for both');
  t.same(planApply({ version: 2, content: v2.content, target: v2 }, { version: 1, content: [a] }, cache(a, b, c)), [{ kind: 'activate', target: v2 }]);
});

t.test('an older target than the one in force asks for nothing', async (t) => {
  const v1 = target(1, [a]);
  t.same(planApply({ version: 1, content: [a], target: v1 }, { version: 2 }, cache()), []);
});

t.test('content listed twice is fetched once', async (t) => {
  t.same(planApply({ version: 1, content: [a, a, b] }, { version: 1 }, cache()), [{ kind: 'fetch', entries: [a, b] }]);
});

t.test('content in use: the wanted and the applied target, never evicted', async (t) => {
  t.same([...contentInUse([{ content: [a, b] }, { content: [b, c] }, undefined, {}])].sort(), [a.sha256, b.sha256, c.sha256]);
});

t.test('settings: the config with the target on top', async (t) => {
  const config = { zones: [{ name: 'north', volume: 100, enabled: true }, { name: 'south', volume: 50, enabled: true }], graceMs: 300_000, emergencyVolume: 100, masterVolume: 100 };
  t.same(
    withTargetSettings(config, { zones: [{ name: 'north', volume: 70, enabled: false }], settings: { volume: 80, emergencyVolume: 60, graceMs: 1000 } }),
    { zones: [{ name: 'north', volume: 70, enabled: false }, { name: 'south', volume: 50, enabled: true }], graceMs: 1000, emergencyVolume: 60, masterVolume: 80 },
    'a zone the province switched off is off; zones it does not name keep the config',
  );
  t.same(withTargetSettings(config, { zones: [], settings: {} }), config, 'an empty target changes nothing');
  t.same(config.zones[0], { name: 'north', volume: 100, enabled: true }, 'the base is not modified');
});
