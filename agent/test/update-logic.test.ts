import t from 'tap';
import { bootAction, gateVerdict, offerRefusal, startupAction, trialVerdict, type GateInput, type TrialInput, type UpdateMarker } from '../src/update/trial.js';
import { outcomeOf, stageSizes, stageVerdict } from '../../province/src/rollout.js';

const marker = (over: Partial<UpdateMarker> = {}): UpdateMarker => ({
  state: 'trial', from: '1.0.0', to: '1.1.0', switchedMs: 1_000, starts: 0, backup: '/s/update/b.db', schemaBefore: 8, playLogSeq: 10, failed: [], ...over,
});

t.test('the gap: never over a broadcast, an emergency, a waiting request or a programme about to start', async (t) => {
  const quiet: GateInput = { onAir: null, emergency: null, queued: 0, nextProgrammeInMs: null, gapMs: 120_000 };
  const cases: Array<[string, Partial<GateInput>, boolean, RegExp?]> = [
    ['nothing planned', {}, true],
    ['next programme after the gap', { nextProgrammeInMs: 121_000 }, true],
    ['programme on air', { onAir: 'Morning news' }, false, /on air \(Morning news\)/],
    ['emergency between repeats', { emergency: 'VN-FLOOD-7' }, false, /emergency active \(VN-FLOOD-7\)/],
    ['emergency and on air: the emergency is named', { emergency: 'X', onAir: 'Y' }, false, /emergency/],
    ['request waiting', { queued: 2 }, false, /2 request/],
    ['programme within the gap', { nextProgrammeInMs: 45_000 }, false, /starts in 45 s/],
    ['programme due now', { nextProgrammeInMs: 0 }, false, /starts in 0 s/],
  ];
  for (const [name, over, go, why] of cases) {
    const v = gateVerdict({ ...quiet, ...over });
    t.equal(v.go, go, name);
    if (!v.go && why) t.match(v.why, why, `${name}: says why`);
  }
});

t.test('the boot check counts the starts of a release on trial and switches back after maxStarts', async (t) => {
  t.same(bootAction(null, '1.0.0', 3), { kind: 'none' }, 'no marker');
  t.same(bootAction(marker({ state: 'committed' }), '1.1.0', 3), { kind: 'none' }, 'committed: nothing');
  const first = bootAction(marker(), '1.1.0', 3);
  t.equal(first.kind, 'count');
  t.equal(first.kind === 'count' && first.marker.starts, 1, 'first start counted');
  t.equal(bootAction(marker({ starts: 2 }), '1.1.0', 3).kind, 'count', 'third start still allowed');
  const fourth = bootAction(marker({ starts: 3 }), '1.1.0', 3);
  t.equal(fourth.kind, 'switch-back', 'fourth start: back to the previous release');
  if (fourth.kind === 'switch-back') {
    t.equal(fourth.to, '1.0.0');
    t.equal(fourth.marker.state, 'rolling-back');
    t.match(fourth.marker.reason, /started 3 times without committing/);
    t.same(fourth.marker.failed, ['1.1.0'], 'the version is never taken again');
  }
  const cut = bootAction(marker(), '1.0.0', 3);
  t.equal(cut.kind, 'switch-back', 'marker written but the symlink never moved (power cut): finished as a rollback');
  t.match(cut.kind === 'switch-back' ? cut.marker.reason : '', /did not complete/);
});

t.test('the trial: commit after a healthy window, roll back on a missed programme, a fault, a wedged conductor or no link', async (t) => {
  const healthy: TrialInput = { runningMs: 300_000, sinceSwitchMs: 310_000, commitAfterMs: 300_000, trialMaxMs: 1_800_000, linkUp: true, missedOrFailed: 0, conductorResponsive: true, faults: 0 };
  const cases: Array<[string, Partial<TrialInput>, TrialInputKind, RegExp?]> = [
    ['healthy for the whole window', {}, 'commit'],
    ['no link on this station at all', { linkUp: null }, 'commit'],
    ['not long enough yet', { runningMs: 299_000 }, 'wait', /299 of 300 s/],
    ['a programme missed', { missedOrFailed: 1 }, 'rollback', /1 programme item\(s\) missed or failed/],
    ['a programme missed even before the window', { missedOrFailed: 2, runningMs: 1000 }, 'rollback'],
    ['conductor wedged', { conductorResponsive: false }, 'rollback', /conductor/],
    ['an error caught', { faults: 1, runningMs: 5000 }, 'rollback', /internal error/],
    ['link down, still within the trial', { linkUp: false, sinceSwitchMs: 600_000 }, 'wait', /link/],
    ['link never up by the end of the trial', { linkUp: false, sinceSwitchMs: 1_800_000 }, 'rollback', /link has not come up within 1800 s/],
  ];
  for (const [name, over, kind, why] of cases) {
    const v = trialVerdict({ ...healthy, ...over });
    t.equal(v.kind, kind, name);
    if (why) t.match(v.kind === 'wait' ? v.why : v.kind === 'rollback' ? v.reason : '', why, `${name}: says why`);
  }
});
type TrialInputKind = 'wait' | 'commit' | 'rollback';

t.test('at the agent start: who restores, who is on trial, who tells the province', async (t) => {
  t.same(startupAction(marker({ state: 'rolling-back' }), '1.0.0'), { kind: 'restore' }, 'the release rolled back to restores the database');
  t.same(startupAction(marker({ state: 'rolling-back' }), '1.1.0'), { kind: 'none' }, 'the failed release does not');
  t.same(startupAction(marker(), '1.1.0'), { kind: 'trial' });
  t.same(startupAction(marker(), '1.0.0'), { kind: 'none' }, 'the old release with a trial marker: the boot check decides');
  t.same(startupAction(marker({ state: 'committed' }), '1.1.0'), { kind: 'report' });
  t.same(startupAction(marker({ state: 'rolled-back', reported: true }), '1.0.0'), { kind: 'none' }, 'told once');
});

t.test('an announced release is refused when it cannot be taken', async (t) => {
  const base = { version: '1.1.0', running: '1.0.0', current: '1.0.0', schemaNow: 8, schema: { min: 0, max: 9 }, marker: null, busyWith: null, bytes: 1000, maxBytes: 10_000 };
  t.equal(offerRefusal(base), null, 'a newer release with a schema ahead');
  t.match(offerRefusal({ ...base, version: '1.0.0' }), /already running/);
  t.match(offerRefusal({ ...base, current: null }), /does not run from the install root's current release \(none\)/, 'no layout to roll back to');
  t.match(offerRefusal({ ...base, busyWith: '1.1.0' }), /already being installed/);
  t.match(offerRefusal({ ...base, busyWith: '1.2.0' }), /busy installing 1.2.0/);
  t.match(offerRefusal({ ...base, marker: marker({ state: 'trial', from: '0.9', to: '1.0.0' }) }), /on trial/);
  t.match(offerRefusal({ ...base, marker: marker({ state: 'rolled-back', failed: ['1.1.0'] }) }), /rolled back on this station before/);
  t.match(offerRefusal({ ...base, schemaNow: 10 }), /opens database schemas up to 9; this station's is 10/, 'an older release never meets a newer database');
  t.match(offerRefusal({ ...base, schema: { min: 9, max: 12 } }), /needs database schema 9/);
  t.match(offerRefusal({ ...base, bytes: 20_000 }), /larger than update.maxBundleMb/);
});

t.test('rollout stages: 1 %, 5 %, 25 %, 100 %, cumulative, at least one station first', async (t) => {
  t.same(stageSizes(200), [2, 10, 50, 200]);
  t.same(stageSizes(1000), [10, 50, 250, 1000]);
  t.same(stageSizes(10), [1, 1, 3, 10], 'small fleets: a stage may add nobody');
  t.same(stageSizes(1), [1, 1, 1, 1]);
  t.same(stageSizes(0), [0, 0, 0, 0]);
});

t.test('rollout verdict: a stage goes on while its failure rate is at most the threshold', async (t) => {
  t.same(stageVerdict(['committed', 'committed', 'rolled-back', 'committed'], 0.25), { failures: 1, total: 4, rate: 0.25, goOn: true });
  t.equal(stageVerdict(['committed', 'rolled-back'], 0.25).goOn, false);
  t.equal(stageVerdict(['committed', 'timeout'], 0.4).goOn, false, 'a station that never answered counts against the release');
  t.equal(stageVerdict(['refused'], 0).goOn, false);
  t.equal(stageVerdict([], 0).goOn, true, 'an empty stage passes');
  t.equal(outcomeOf({ event: 'update.committed', level: 'info', message: '', data: { version: '2' } }, '2'), 'committed');
  t.equal(outcomeOf({ event: 'update.rolled-back', level: 'error', message: '', data: { version: '2' } }, '2'), 'rolled-back');
  t.equal(outcomeOf({ event: 'update.committed', level: 'info', message: '', data: { version: '1' } }, '2'), undefined, 'another version says nothing of this one');
  t.equal(outcomeOf({ event: 'update.ready', level: 'info', message: '', data: { version: '2' } }, '2'), undefined, 'still on its way');
});
