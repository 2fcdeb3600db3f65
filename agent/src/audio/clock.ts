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
  return wallClockAt(performance.now());
}

/** The wall-clock instant of a `performance.now()` reading: one reading for both, so a process descheduled between two reads cannot put them apart. */
export function wallClockAt(mono: number): number {
  const current = performance.now();
  if (current - anchoredAt > REANCHOR_MS || Math.abs(offset + current - Date.now()) > STEP_MS) anchor();
  return offset + mono;
}

function anchor(): void {
  offset = edgeOffset(() => performance.now(), Date.now);
  anchoredAt = performance.now();
}

/** An edge known to this spread (ms of the monotonic clock) is good enough; a wider one was preempted. */
const TIGHT_MS = 0.5;
const ATTEMPTS = 5;

/**
 * The wall clock minus the monotonic one, read at the edge where `wall`
 * ticks to its next millisecond, bracketed by monotonic readings. A process
 * descheduled inside the bracket (a loaded Pi) would shift the offset by
 * however long it waited, so a wide bracket is read again and the tightest
 * kept.
 */
export function edgeOffset(mono: () => number, wall: () => number): number {
  let best = { offset: NaN, spread: Infinity };
  for (let attempt = 0; attempt < ATTEMPTS && best.spread > TIGHT_MS; attempt++) {
    // Reads alternate m0 w0 m1 w1 ...; the first w that ticked was read after the m before the w before it, and before the m after it.
    let mPrev = mono();
    const first = wall();
    let m = mono();
    let now = wall();
    while (now === first) {
      mPrev = m;
      m = mono();
      now = wall();
    }
    const after = mono();
    const spread = after - mPrev;
    if (spread < best.spread) best = { offset: now - (mPrev + after) / 2, spread };
  }
  return best.offset;
}
