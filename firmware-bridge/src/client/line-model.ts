/**
 * What the host has learnt about its serial line, as plain numbers: how long
 * a round trip takes (smoothed, with its variation, as TCP does) and how
 * often one attempt gets through. Timeouts and the number of attempts come
 * from these, so a noisy line gets more patience and a quick line quick
 * retries, instead of one fixed timeout that is too short for one line and
 * too long for another.
 */
export interface LineEstimate {
  /** Smoothed round trip, ms; null until one has been measured. */
  srttMs: number | null;
  rttVarMs: number;
  /** Decayed counts of attempts sent and answered; their ratio is the chance one attempt gets through. */
  sent: number;
  answered: number;
}

export interface LineBounds {
  /** The timeout before any round trip is measured (`requestTimeoutMs`). */
  initialTimeoutMs: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** Each further attempt of one request waits this much longer than the one before... */
  backoff: number;
  /** ...up to this many times the first attempt's timeout (noise is not congestion: waiting longer does not help it). */
  maxBackoff: number;
  /** At least this many attempts (1 + `retries`). */
  minAttempts: number;
  maxAttempts: number;
  /** Attempts are added until a request fails with at most this probability. */
  targetFailure: number;
}

export const LINE_BOUNDS: Omit<LineBounds, 'initialTimeoutMs' | 'minAttempts'> = {
  minTimeoutMs: 20,
  maxTimeoutMs: 1000,
  backoff: 1.25,
  maxBackoff: 4,
  maxAttempts: 120,
  targetFailure: 1e-4,
};

/** Counts decay so the estimate follows a line whose noise changes. */
const DECAY = 0.97;
/** The prior: one attempt, answered (a new line is assumed clean until it shows otherwise). */
export const FRESH_LINE: LineEstimate = { srttMs: null, rttVarMs: 0, sent: 1, answered: 1 };

/** A round trip measured on a first attempt (Karn: a retried request's answer cannot say which attempt it answers). */
export function withRoundTrip(e: LineEstimate, rttMs: number): LineEstimate {
  if (e.srttMs === null) return { ...e, srttMs: rttMs, rttVarMs: rttMs / 2 };
  const rttVarMs = 0.75 * e.rttVarMs + 0.25 * Math.abs(e.srttMs - rttMs);
  return { ...e, srttMs: 0.875 * e.srttMs + 0.125 * rttMs, rttVarMs };
}

/** One request finished after `attempts` attempts, answered or not. */
export function withOutcome(e: LineEstimate, attempts: number, answered: boolean): LineEstimate {
  return { ...e, sent: e.sent * DECAY + attempts, answered: e.answered * DECAY + (answered ? 1 : 0) };
}

/** The chance that one attempt (request and response) gets through. */
export function deliveryOf(e: LineEstimate): number {
  return Math.min(1, Math.max(0.001, e.answered / e.sent));
}

/** How long attempt `n` (1-based) waits for its answer. */
export function timeoutFor(e: LineEstimate, n: number, b: LineBounds): number {
  // Until a round trip is measured there is nothing to back off from: the first answer is what is needed.
  if (e.srttMs === null) return b.initialTimeoutMs;
  const base = e.srttMs + Math.max(4 * e.rttVarMs, b.minTimeoutMs);
  const clamped = Math.min(b.maxTimeoutMs, Math.max(b.minTimeoutMs, base));
  return Math.round(Math.min(b.maxTimeoutMs, clamped * Math.min(b.maxBackoff, b.backoff ** (n - 1))));
}

/** How many attempts a request gets, so that it fails with at most `targetFailure` on this line. */
export function attemptsFor(e: LineEstimate, b: Pick<LineBounds, 'minAttempts' | 'maxAttempts' | 'targetFailure'>): number {
  const p = deliveryOf(e);
  const needed = p >= 1 ? 1 : Math.ceil(Math.log(b.targetFailure) / Math.log(1 - p));
  return Math.min(b.maxAttempts, Math.max(b.minAttempts, needed));
}
