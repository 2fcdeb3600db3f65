import t from 'tap';
import {
  type AlertRegistry,
  type Effects,
  DEFAULT_ALERT_POLICY,
  MAX_OVERTAKEN,
  alertActivity,
  alertKey,
  applyAlertMessage,
  applyEffects,
  pruneRegistry,
} from '../src/alerts/lifecycle.js';
import type { CapAlert } from '../src/alerts/alert.js';
import { DAY, HOUR, MIN, T0, capAlert, capInfo, refTo } from './alert-builder.js';

const empty: AlertRegistry = { alerts: [], overtaken: [] };

/** Applies messages in arrival order; returns each message's effects and the final registry. */
function fold(messages: CapAlert[], start: AlertRegistry = empty): { registry: AlertRegistry; effects: Effects[] } {
  let registry = start;
  const effects: Effects[] = [];
  for (const m of messages) {
    const fx = applyAlertMessage(registry, m);
    effects.push(fx);
    registry = applyEffects(registry, fx);
  }
  return { registry, effects };
}
const stateOf = (r: AlertRegistry, a: CapAlert): string | undefined => r.alerts.find((k) => k.key === alertKey(a))?.state;
const states = (r: AlertRegistry, ...as: CapAlert[]): Array<string | undefined> => as.map((a) => stateOf(r, a));

const A = capAlert({ identifier: 'A', sentMs: T0 });
const U1 = capAlert({ identifier: 'U1', sentMs: T0 + MIN, msgType: 'Update', references: [refTo(A)] });
const U2 = capAlert({ identifier: 'U2', sentMs: T0 + 2 * MIN, msgType: 'Update', references: [refTo(A), refTo(U1)] });
const C = capAlert({ identifier: 'C', sentMs: T0 + 3 * MIN, msgType: 'Cancel', references: [refTo(A), refTo(U1), refTo(U2)], info: [] });

t.test('alert keys are sender, identifier and sent, as CAP references name them', async (t) => {
  t.equal(alertKey(A), `pcttkcn@laocai.gov.vn,A,${T0}`);
  t.equal(alertKey(refTo(A)), alertKey(A));
});

t.test('an update chain A → U1 → U2 → Cancel: each replaces the one playing, the Cancel withdraws the last', async (t) => {
  const { registry, effects } = fold([A, U1, U2, C]);
  const [a, u1, u2, c] = effects;
  t.same(a!.add && { key: a!.add.key, state: a!.add.state }, { key: alertKey(A), state: 'live' });
  t.same(u1!.replace, [{ old: alertKey(A), by: alertKey(U1) }], 'U1 replaces A, even mid-play');
  t.equal(u1!.add!.state, 'live');
  t.same(u2!.replace, [{ old: alertKey(U1), by: alertKey(U2) }], 'U2 replaces only what is live (A is already replaced)');
  t.same(c!.withdraw, [alertKey(U2)], 'Cancel withdraws the live one');
  t.same(c!.replace, []);
  t.same(states(registry, A, U1, U2, C), ['superseded', 'superseded', 'cancelled', 'cancelled']);
  // Every one is silent by the one decision.
  const station = { id: 's', groups: [], languages: ['vi'], zones: ['zone-1'] };
  for (const k of registry.alerts) {
    const act = alertActivity(k.alert, { bounds: { lowerMs: T0 + 4 * MIN, upperMs: T0 + 4 * MIN, trusted: true }, policy: DEFAULT_ALERT_POLICY, station, registry: k.state });
    t.equal(act.outputs, 'none', `${k.alert.identifier}: ${act.state}`);
  }
});

t.test('a Cancel that names only the original still ends its live successor', async (t) => {
  const cancelA = capAlert({ identifier: 'CA', sentMs: T0 + 3 * MIN, msgType: 'Cancel', references: [refTo(A)], info: [] });
  const { registry, effects } = fold([A, U1, U2, cancelA]);
  t.same(effects[3]!.withdraw, [alertKey(U2)]);
  t.same(states(registry, A, U1, U2), ['superseded', 'superseded', 'cancelled']);
  // An Update naming only the original replaces its live successor likewise.
  const u3 = capAlert({ identifier: 'U3', sentMs: T0 + 4 * MIN, msgType: 'Update', references: [refTo(A)] });
  t.same(fold([A, U1, u3]).effects[2]!.replace, [{ old: alertKey(U1), by: alertKey(u3) }]);
});

t.test('a Cancel can overtake its alert on a lossy link: the late original stays silent', async (t) => {
  const cancel = capAlert({ identifier: 'C', sentMs: T0 + MIN, msgType: 'Cancel', references: [refTo(A)], info: [] });
  const { registry, effects } = fold([cancel]);
  t.same(effects[0]!.remember.map((o) => [o.key, o.kind, o.by]), [[alertKey(A), 'cancelled', alertKey(cancel)]]);
  t.same(effects[0]!.withdraw, []);
  t.equal(effects[0]!.ignore, undefined, 'remembering is an effect');
  const late = fold([A], registry);
  t.same(late.effects[0]!.add && [late.effects[0]!.add.state, late.effects[0]!.add.endedBy], ['cancelled', alertKey(cancel)]);
  t.same(late.effects[0]!.forget, [alertKey(A)], 'the memory is used up');
  t.same(late.registry.overtaken, []);
  t.equal(stateOf(late.registry, A), 'cancelled');
  // And an Update sent before that Cancel, arriving later still, is cancelled with it.
  const u = capAlert({ identifier: 'U', sentMs: T0 + 30_000, msgType: 'Update', references: [refTo(A)] });
  const later = fold([u], late.registry);
  t.same([later.effects[0]!.add!.state, later.effects[0]!.add!.endedBy], ['cancelled', alertKey(cancel)]);
  t.same(later.effects[0]!.replace, []);
  // ...but one sent after the Cancel is a new alert: the sender chose to warn again.
  const again = capAlert({ identifier: 'U9', sentMs: T0 + 10 * MIN, msgType: 'Update', references: [refTo(A)] });
  t.equal(fold([again], late.registry).effects[0]!.add!.state, 'live');
});

t.test('an Update whose original never came plays as a new alert; the late original is superseded on arrival', async (t) => {
  const { registry, effects } = fold([U1]);
  t.equal(effects[0]!.add!.state, 'live');
  t.match(effects[0]!.notes.join(' '), /played as a new alert/);
  t.same(effects[0]!.remember.map((o) => [o.key, o.kind]), [[alertKey(A), 'superseded']]);
  const late = fold([A], registry);
  t.same([late.effects[0]!.add!.state, late.effects[0]!.add!.endedBy], ['superseded', alertKey(U1)]);
  t.same(late.effects[0]!.replace, [], 'nothing playing is stopped');
  t.same(states(late.registry, A, U1), ['superseded', 'live']);
});

t.test('the original never arrives: later messages naming only it still find what stands for it', async (t) => {
  // U1 (naming A, never seen) plays as new; a Cancel naming only A ends U1 too.
  const cancelA = capAlert({ identifier: 'CA', sentMs: T0 + 3 * MIN, msgType: 'Cancel', references: [refTo(A)], info: [] });
  const r1 = fold([U1, cancelA]);
  t.same(r1.effects[1]!.withdraw, [alertKey(U1)]);
  t.same(r1.registry.overtaken.map((o) => [o.key, o.kind, o.by]), [[alertKey(A), 'cancelled', alertKey(cancelA)]], 'the Cancel\'s memory replaces the Update\'s');
  t.equal(fold([A], r1.registry).effects[0]!.add!.state, 'cancelled');
  // An Update naming only A replaces U1, which stands for it.
  const u3 = capAlert({ identifier: 'U3', sentMs: T0 + 4 * MIN, msgType: 'Update', references: [refTo(A)] });
  t.same(fold([U1, u3]).effects[1]!.replace, [{ old: alertKey(U1), by: alertKey(u3) }]);
  // A Cancel of A (never seen) then an Update of A: sent before the Cancel, cancelled with it; after, a new alert.
  const c = fold([cancelA]);
  const before = applyAlertMessage(c.registry, U1);
  t.same([before.add!.state, before.add!.endedBy, before.remember], ['cancelled', alertKey(cancelA), []], 'and the Cancel\'s memory is kept');
  const after = capAlert({ identifier: 'U9', sentMs: T0 + 10 * MIN, msgType: 'Update', references: [refTo(A)] });
  t.equal(applyAlertMessage(c.registry, after).add!.state, 'live');
});

t.test('updates out of order: a stale Update never replaces a newer one', async (t) => {
  // U2 (naming A and U1) arrives before U1.
  const { registry, effects } = fold([A, U2, U1]);
  t.same(effects[1]!.replace, [{ old: alertKey(A), by: alertKey(U2) }]);
  t.same([effects[2]!.add!.state, effects[2]!.add!.endedBy], ['superseded', alertKey(U2)], 'U1 was overtaken by U2');
  t.same(effects[2]!.replace, []);
  t.same(states(registry, A, U1, U2), ['superseded', 'superseded', 'live']);
  // Without U2 naming U1: U1 follows A to U2, which is newer: stale.
  const u2OnlyA = capAlert({ identifier: 'U2', sentMs: T0 + 2 * MIN, msgType: 'Update', references: [refTo(A)] });
  const r2 = fold([A, u2OnlyA, U1]);
  t.same([r2.effects[2]!.add!.state, r2.effects[2]!.replace], ['superseded', []]);
  t.match(r2.effects[2]!.notes.join(' '), /stale update/);
});

t.test('duplicates, Ack, Error, System and Draft change nothing', async (t) => {
  const { registry } = fold([A, U1, C]);
  const rows: Array<[CapAlert, string]> = [
    [A, 'duplicate'],
    [U1, 'duplicate'],
    [C, 'duplicate'],
    [capAlert({ identifier: 'K', msgType: 'Ack', references: [refTo(A)] }), 'msgType Ack: nothing to apply'],
    [capAlert({ identifier: 'E', msgType: 'Error', references: [refTo(A)] }), 'msgType Error: nothing to apply'],
    [capAlert({ identifier: 'S', status: 'System', msgType: 'Cancel', references: [refTo(A)] }), 'status System: nothing to apply'],
    [capAlert({ identifier: 'D', status: 'Draft' }), 'status Draft: nothing to apply'],
  ];
  for (const [m, reason] of rows) {
    const fx = applyAlertMessage(registry, m);
    t.same(fx, { replace: [], withdraw: [], remember: [], forget: [], notes: [], ignore: reason }, `${m.identifier} ${m.msgType}`);
    t.same(applyEffects(registry, fx), registry);
  }
  // A second Cancel of what is already cancelled: nothing left, but kept so its replay is a duplicate.
  const c2 = capAlert({ identifier: 'C2', sentMs: T0 + 5 * MIN, msgType: 'Cancel', references: [refTo(U1)], info: [] });
  const fx = applyAlertMessage(registry, c2);
  t.same([fx.ignore, fx.withdraw, fx.add?.state], ['nothing left to cancel', [], 'cancelled']);
});

t.test('references cross no status: a Test or Exercise message never ends an Actual alert', async (t) => {
  const testCancel = capAlert({ identifier: 'TC', status: 'Test', sentMs: T0 + MIN, msgType: 'Cancel', references: [refTo(A)], info: [] });
  const { registry, effects } = fold([A, testCancel]);
  t.same(effects[1]!.withdraw, []);
  t.match(effects[1]!.notes.join(' '), /status Actual, not Test/);
  t.equal(stateOf(registry, A), 'live');
  const exUpdate = capAlert({ identifier: 'XU', status: 'Exercise', sentMs: T0 + MIN, msgType: 'Update', references: [refTo(A)] });
  t.same(fold([A, exUpdate]).effects[1]!.replace, []);
  // A Test Cancel overtaking remembers for Test messages only.
  const early = fold([testCancel]);
  t.equal(fold([A], early.registry).effects[0]!.add!.state, 'live', 'the Actual original is not cancelled by a Test memory');
});

t.test('memory of overtaking references is bounded: the oldest is forgotten first', async (t) => {
  let registry: AlertRegistry = empty;
  for (let i = 0; i <= MAX_OVERTAKEN; i++) {
    const c = capAlert({ identifier: `C${i}`, sentMs: T0 + i * 1000, msgType: 'Cancel', references: [{ sender: 'x', identifier: `lost-${i}`, sentMs: T0 }], info: [] });
    const fx = applyAlertMessage(registry, c);
    if (i === MAX_OVERTAKEN) t.same(fx.forget, [`x,lost-0,${T0}`], 'the oldest is dropped');
    registry = applyEffects(registry, fx);
  }
  t.equal(registry.overtaken.length, MAX_OVERTAKEN);
  t.notOk(registry.overtaken.some((o) => o.key === `x,lost-0,${T0}`));
  // One Cancel naming more unseen alerts than the bound: the first ones are remembered, the rest said.
  const refs = Array.from({ length: MAX_OVERTAKEN + 500 }, (_, i) => ({ sender: 'y', identifier: `gone-${i}`, sentMs: T0 }));
  const huge = capAlert({ identifier: 'CH', sentMs: T0 + DAY, msgType: 'Cancel', references: refs, info: [] });
  const fx = applyAlertMessage(registry, huge);
  t.equal(fx.remember.length, MAX_OVERTAKEN);
  t.match(fx.notes.join(' '), /500 references to unseen alerts not remembered/);
  const after = applyEffects(registry, fx);
  t.equal(after.overtaken.length, MAX_OVERTAKEN);
  t.ok(after.overtaken.every((o) => o.by === alertKey(huge)), 'the older memories made room');
});

t.test('pruning keeps a week of ended alerts (replays stay duplicates) and drops older ones', async (t) => {
  const { registry } = fold([A, U1, capAlert({ identifier: 'C', sentMs: T0 + 2 * MIN, msgType: 'Cancel', references: [{ sender: 'x', identifier: 'gone', sentMs: T0 }], info: [] })]);
  const at = (ms: number): { lowerMs: number; upperMs: number; trusted: boolean } => ({ lowerMs: ms, upperMs: ms, trusted: true });
  t.equal(pruneRegistry(registry, at(T0 + 6 * DAY), DEFAULT_ALERT_POLICY).alerts.length, 3);
  t.equal(pruneRegistry(registry, at(T0 + 6 * DAY), DEFAULT_ALERT_POLICY).overtaken.length, 1);
  const later = pruneRegistry(registry, at(T0 + HOUR + 8 * DAY), DEFAULT_ALERT_POLICY);
  t.same([later.alerts.length, later.overtaken.length], [0, 0]);
  const noExpiry = capAlert({ identifier: 'N', info: [capInfo({ expiresMs: undefined })] });
  t.equal(pruneRegistry(fold([noExpiry]).registry, at(T0 + 7 * DAY + 12 * HOUR), DEFAULT_ALERT_POLICY).alerts.length, 1, 'counted from its default end');
});
