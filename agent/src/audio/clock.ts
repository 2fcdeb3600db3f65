/**
 * High-resolution wall clock (epoch ms, fractional) that stays on the system
 * clock. `performance.timeOrigin + performance.now()` alone is monotonic but
 * drifts from Date.now() over weeks of uptime (NTP slews the wall clock,
 * not the monotonic one), and scheduled instants come from Date.now(). So
 * the offset between the two is re-measured every few seconds, at the edge
 * where Date.now() ticks to the next millisecond (costs at most ~1 ms).
 */
const REANCHOR_MS = 10_000;
let offset = NaN;
let anchoredAt = -Infinity;

export function wallClockMs(): number {
  const mono = performance.now();
  if (mono - anchoredAt > REANCHOR_MS) anchor();
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
