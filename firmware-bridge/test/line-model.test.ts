import t from 'tap';
import { attemptsFor, deliveryOf, FRESH_LINE, LINE_BOUNDS, timeoutFor, withOutcome, withRoundTrip, type LineBounds } from '../src/client/line-model.js';

const bounds: LineBounds = { ...LINE_BOUNDS, initialTimeoutMs: 100, minAttempts: 3 };

t.test('timeouts: the configured one until a round trip is measured, then from the round trip, backing off per attempt within bounds', async (t) => {
  t.same([1, 2, 5].map((n) => timeoutFor(FRESH_LINE, n, bounds)), [100, 100, 100], 'no back-off before anything is known');
  const quick = withRoundTrip(FRESH_LINE, 2);
  t.same([1, 2, 3, 20].map((n) => timeoutFor(quick, n, bounds)), [22, 28, 34, 88], 'a 2 ms line: 22 ms (floor on the variation), then +25 % per attempt, at most 4x');
  let slow = FRESH_LINE;
  for (const rtt of [300, 320, 280, 900]) slow = withRoundTrip(slow, rtt);
  t.ok(timeoutFor(slow, 1, bounds) > 300 && timeoutFor(slow, 1, bounds) <= 1000, 'a slow, jittery line waits longer');
  t.equal(timeoutFor(slow, 30, bounds), 1000, 'never beyond maxTimeoutMs');
});

t.test('attempts: as many as the measured loss needs for a 1e-4 failure, within bounds', async (t) => {
  t.equal(attemptsFor(FRESH_LINE, bounds), 3, 'a clean line: the configured minimum');
  let noisy = FRESH_LINE;
  for (let i = 0; i < 200; i++) noisy = withOutcome(noisy, 7, true); // one attempt in 7 answered
  t.ok(Math.abs(deliveryOf(noisy) - 1 / 7) < 0.01, `delivery estimated ${deliveryOf(noisy).toFixed(3)}`);
  t.equal(attemptsFor(noisy, bounds), Math.ceil(Math.log(1e-4) / Math.log(1 - deliveryOf(noisy))), 'enough attempts for one failure in 10,000');
  let dead = FRESH_LINE;
  for (let i = 0; i < 50; i++) dead = withOutcome(dead, 10, false);
  t.equal(attemptsFor(dead, bounds), LINE_BOUNDS.maxAttempts, 'a line that answers nothing: capped');
  let healed = dead;
  for (let i = 0; i < 300; i++) healed = withOutcome(healed, 1, true);
  t.equal(attemptsFor(healed, bounds), 3, 'the estimate follows a line that heals');
});
