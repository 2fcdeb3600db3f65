import t from 'tap';
import { judgeEvidence, AMP_ON_MIN_MA } from '../src/relays/evidence.js';
import { levelFor, outputsOf } from '../src/relays/bank.js';
import { startStation } from './station-fixture.js';
import { until } from '../../firmware-bridge/test/rig.js';

const cfg = { zones: [{ name: 'north', line: 1, activeLow: false, amplifier: 'amp', volume: 100 }, { name: 'south', line: 2, activeLow: false, amplifier: 'amp', volume: 100 }] };
const on = { amp: true, north: true, south: true };

t.test('evidence as data: confirmed, dropped, unconfirmed, none; the amplifier and its current count', async (t) => {
  t.same(judgeEvidence(['north'], cfg, 'readback', [{ state: on }, { state: on }]), { kind: 'readback', zones: { north: 'confirmed' }, samples: 2 });
  t.same(judgeEvidence(['north', 'south'], cfg, 'readback', [{ state: on }, { state: { ...on, south: false } }, { state: on }]).zones, { north: 'confirmed', south: 'dropped' }, 'one look off is a drop, even if it came back');
  t.same(judgeEvidence(['north'], cfg, 'readback', [{ state: { ...on, amp: false } }]).zones, { north: 'dropped' }, 'a zone whose amplifier is off is not on air');
  t.same(judgeEvidence(['north'], cfg, 'readback', [{ state: on }, { error: 'EIO' }]).zones, { north: 'unconfirmed' }, 'a look that failed leaves it unconfirmed');
  t.same(judgeEvidence(['north'], cfg, 'readback', [{ error: 'EIO' }]), { kind: 'none', zones: { north: 'unconfirmed' }, samples: 0 });
  t.same(judgeEvidence(['north'], cfg, 'readback', []), { kind: 'none', zones: { north: 'unconfirmed' }, samples: 0 }, 'no look at all: no evidence');
  t.same(judgeEvidence(['north'], cfg, 'none', [{ state: on }]), { kind: 'none', zones: { north: 'unconfirmed' }, samples: 0 }, 'a driver that cannot read its lines (gpiod) claims nothing');
  t.same(judgeEvidence(['north'], cfg, 'mcu', [{ state: on, ampMa: 1800 }, { state: on, ampMa: 1700 }]), { kind: 'mcu', zones: { north: 'confirmed' }, samples: 2, ampMinMa: 1700 });
  t.same(judgeEvidence(['north'], cfg, 'mcu', [{ state: on, ampMa: 1800 }, { state: on, ampMa: AMP_ON_MIN_MA - 1 }]).zones, { north: 'dropped' }, 'the relay says on but the amplifier draws nothing: not on air');
});

t.test('a played item carries read-back evidence that matches the relay journal; a relay dropped mid-item says so', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const tone = await s.tone('evidence', { seconds: 3 });
  s.agent.conductor.submit({ id: 'ev-1', mode: 'now', priority: 0, label: 'evidence', items: [{ content: tone, repeat: 1, gapMs: 0 }], zones: ['north', 'south'], volume: 80, origin: 'cli' });
  const [row] = await s.rows(1, 30_000);
  t.equal(row!.result, 'played');
  t.same(row!.relays?.kind, 'readback');
  t.same(row!.relays?.zones, { north: 'confirmed', south: 'confirmed' });
  t.ok(row!.relays!.samples >= 3, `looked ${row!.relays!.samples} times during the item`);
  await until(() => s.switches().slice(3).filter((x) => !x.on).length === 3, 'powered down');
  const journal = s.switches().slice(3);
  for (const z of ['amp', 'north', 'south']) {
    const onAt = journal.find((x) => x.name === z && x.on)!.atMs;
    const offAt = journal.find((x) => x.name === z && !x.on)!.atMs;
    t.ok(onAt <= row!.startedMs! && offAt >= row!.endedMs!, `${z} on from before the first sample to after the last, as the evidence says`);
  }
  t.same(s.agent.store.recentPlays(1)[0]!.relays, row!.relays, 'stored in the play log');
  const outbox = s.agent.store.db.prepare(`SELECT payload FROM outbox WHERE kind = 'play'`).all() as Array<{ payload: string }>;
  t.same((JSON.parse(outbox.at(-1)!.payload) as { body: { relays: unknown } }).body.relays, row!.relays, 'and sent to the province');

  // South's contact opens by itself mid-item (a burnt coil): the pin is read back, not the bank's record.
  const south = outputsOf(s.config.relays).find((o) => o.name === 'south')!;
  s.agent.conductor.submit({ id: 'ev-2', mode: 'now', priority: 0, label: 'evidence', items: [{ content: tone, repeat: 1, gapMs: 0 }], zones: ['north', 'south'], volume: 80, origin: 'cli' });
  await until(() => s.agent.conductor.nowPlaying() !== null && s.switches().slice(6).filter((x) => x.on).length === 3, 'second item powered');
  await new Promise((r) => setTimeout(r, 1200));
  await s.relays.write(south.line, levelFor(south, false));
  const [, dropped] = await s.rows(2, 30_000);
  t.equal(dropped!.result, 'played');
  t.same(dropped!.relays?.zones, { north: 'confirmed', south: 'dropped' }, 'the row says south dropped during the item');
  let out = '';
  process.env.LOA_SOCKET = s.config.paths.socket;
  const { main } = await import('../src/cli/main.js');
  t.equal(await main(['--config', '/nonexistent', '--lang', 'en', 'log'], { stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (out += x) } }), 0);
  t.match(out.replace(/\n +/g, ' '), /Relays: north: relay on throughout, south: relay dropped \(read back from the lines\)/, 'loa log shows it to the operator');
});

t.test('content is verified before the amplifier is powered for it: a corrupt item never switches a relay, a good one after it does', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const s = await startStation();
  t.teardown(() => s.stop());
  const bad = await s.tone('rotten', { seconds: 2 });
  const good = await s.tone('good', { seconds: 2, freq: 660 });
  writeFileSync(s.agent.media.cache.pathFor(bad), Buffer.alloc(4000, 7)); // bit rot on the card
  s.agent.conductor.submit({ id: 'rot-1', mode: 'now', priority: 0, label: 'rotten', items: [{ content: bad, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 80, origin: 'cli' });
  const [failed] = await s.rows(1, 30_000);
  t.equal(failed!.result, 'failed');
  await new Promise((r) => setTimeout(r, 1000));
  t.same(s.switches().slice(3), [], 'no relay switched for an item that failed its check');

  const loggedAt: number[] = [];
  s.agent.conductor.on('played', () => loggedAt.push(Date.now()));
  s.agent.conductor.submit({ id: 'rot-2', mode: 'now', priority: 0, label: 'mixed', items: [{ content: bad, repeat: 1, gapMs: 0 }, { content: good, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 80, origin: 'cli' });
  const rows = await s.rows(3, 30_000);
  t.same(rows.slice(1).map((r) => r.result), ['failed', 'played']);
  const firstOn = s.switches().slice(3).find((x) => x.on)!;
  t.ok(firstOn.atMs >= loggedAt[0]! - 5, 'the amplifier came on only after the bad item was logged failed');
  t.same(rows[2]!.relays?.zones, { north: 'confirmed' });
});
