/**
 * High-resolution wall clock (epoch ms, fractional) that stays on the system
 * clock. `performance.timeOrigin + performance.now()` alone is monotonic but
 * drifts from Date.now() over weeks of uptime (NTP slews the wall clock,
 * not the monotonic one), and scheduled instants come from Date.now(). So
 * the offset between the two is re-measured every few seconds, at the edge
 * where Date.now() ticks to the next millisecond (costs at most ~1 ms).
 *
 * A step of the wall clock (NTP at boot, `loa-clock-set`, an operator) is
 * followed at once, not at the next re-measure: every reading is checked
 * against Date.now() (cheap), and one more than STEP_MS apart re-anchors.
 * Stale for 10 s after a step, a session starting then waited the whole
 * step for its first sample (a day-long silence with the relays on, seen in
 * the offline soak).
 */
const REANCHOR_MS = 10_000;
/** Far above slewing (at most 0.5 ms/s) and Date.now()'s 1 ms resolution. */
const STEP_MS = 20;
let offset = NaN;
let anchoredAt = -Infinity;

export function wallClockMs(): number {
  const mono = performance.now();
  if (mono - anchoredAt > REANCHOR_MS || Math.abs(offset + mono - Date.now()) > STEP_MS) anchor();
  return offset + performance.now();
}

function anchor(): void {
  const first = Date.now();
  let now = Date.now();
  let mono = performance.now();
  // Spin to the next millisecond edge: there the fractional part of the wall clock is ~0.
  while (now === first) {
    now = Date.now();
    mono = performance.now();
  }
  offset = now - mono;
  anchoredAt = mono;
}
