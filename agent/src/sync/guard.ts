import type { Db } from '../store/database.js';
import type { Command, CommandResponse } from './protocol.js';
import { MAX_AHEAD_OF_EVIDENCE_MS, RELEASED_NOT_BEFORE_MS } from '../clock/trust.js';

/**
 * What keeps an authentic but unwanted message from acting: replays, a
 * command seen twice, a command past its expiry. None of it trusts the
 * station's wall clock, which may be years off after a dead RTC battery.
 */

export type SeqVerdict = 'fresh' | 'seen' | 'too-old';

/**
 * Sliding-window replay guard over a signer's sequence numbers, persisted in
 * SQLite (table sync_seen) so a reboot does not reopen the window. A
 * sequence above the highest accepted is fresh; within `window` below it,
 * fresh only if not seen (commands on different topics may arrive out of
 * order); further below, too old to tell, so refused.
 */
export class ReplayGuard {
  private readonly maxStmt;
  private readonly hasStmt;
  private readonly addStmt;
  private readonly pruneStmt;

  constructor(
    db: Db,
    private readonly window = 4096,
  ) {
    this.maxStmt = db.prepare('SELECT MAX(seq) AS high FROM sync_seen WHERE stream = ?');
    this.hasStmt = db.prepare('SELECT 1 FROM sync_seen WHERE stream = ? AND seq = ?');
    this.addStmt = db.prepare('INSERT OR IGNORE INTO sync_seen (stream, seq) VALUES (?, ?)');
    this.pruneStmt = db.prepare('DELETE FROM sync_seen WHERE stream = ? AND seq < ?');
  }

  // High-water marks cached per stream: this guard is the table's only writer.
  private readonly highs = new Map<string, number>();

  high(stream: string): number {
    let h = this.highs.get(stream);
    if (h === undefined) {
      h = (this.maxStmt.get(stream) as { high: number | null }).high ?? 0;
      this.highs.set(stream, h);
    }
    return h;
  }

  check(stream: string, seq: number): SeqVerdict {
    const high = this.high(stream);
    if (seq > high) return 'fresh';
    if (seq <= high - this.window) return 'too-old';
    return this.hasStmt.get(stream, seq) ? 'seen' : 'fresh';
  }

  accept(stream: string, seq: number): void {
    this.addStmt.run(stream, seq);
    const high = Math.max(this.high(stream), seq);
    this.highs.set(stream, high);
    // Keep the window's rows plus the high-water row; older ones can only be "too old".
    this.pruneStmt.run(stream, high - this.window);
  }
}

/**
 * How far one signed time may move the lower bound on the province's clock
 * beyond what the station can justify without it (the bound itself carried
 * on by monotonic time, a proven wall clock): the province's clock and ours
 * may differ by this much, not more.
 */
export const MAX_TIME_STEP_MS = 10 * 60_000;
/** Two readings of the province's clock agree when it moved as far as the station's monotonic clock, give or take this (delivery delays, the retained beacon's age). */
export const TIME_AGREEMENT_MS = 2 * 60_000;
/** A jump the station cannot justify is taken once this many signed readings agree on it... */
export const TIME_CONFIRMATIONS = 3;
/** ...spread over at least this much monotonic time (the reference beacon comes every 30 s). */
export const TIME_CONFIRM_SPAN_MS = 60_000;
/** Readings waiting for confirmation, newest kept. */
const MAX_UNPROVEN_READINGS = 8;

export interface TimeReading {
  issuedMs: number;
  /** The station's monotonic clock when it arrived. */
  mono: number;
}

export interface ProvinceTimeState {
  /** The bound now (the accepted time plus monotonic time since); 0 when nothing was ever heard. */
  boundMs: number;
  /** Readings beyond what could be justified, waiting for agreeing ones (newest last). */
  unproven: readonly TimeReading[];
}

export interface TimeEvidence {
  /** The station's monotonic clock now. */
  mono: number;
  /** The station's wall clock, only when NTP, the RTC or the configuration prove it (not merely "after the last time seen"). */
  provenWallMs?: number;
  /** No station runs before this (clock/trust.ts); the ceiling of a first reading without a proven clock is MAX_AHEAD_OF_EVIDENCE_MS beyond it. */
  releasedMs: number;
}

export type TimeVerdict =
  /** Not above the bound: nothing learnt. */
  | { kind: 'kept' }
  /** Within a step of what the station can justify: the new bound. */
  | { kind: 'raised' }
  /** Beyond what a proven wall clock allows: refused, the bound stays. */
  | { kind: 'future-dated'; aheadMs: number }
  /** Beyond the bound with no proven wall clock: held until agreeing readings confirm it; the bound stays. */
  | { kind: 'unproven'; aheadMs: number; agreeing: number }
  /** Agreeing readings over time confirmed a jump the bound could not justify (a station switched off for weeks). */
  | { kind: 'confirmed'; jumpMs: number };

/**
 * Pure: what one verified signed time (`issuedMs`) does to the lower bound
 * on the province's clock. The bound expires commands, so a bound too high
 * would refuse every fresh emergency: a single message must never raise it
 * far. The rule:
 *
 * - at or below the bound: nothing changes;
 * - up to MAX_TIME_STEP_MS beyond max(bound, proven wall clock): the new bound
 *   (a station that has heard nothing yet and has no proven clock accepts a
 *   first reading up to the release date plus MAX_AHEAD_OF_EVIDENCE_MS: it has
 *   no evidence against it);
 * - further, with a proven wall clock: refused as future-dated;
 * - further, without one: the station may have been off for weeks (the
 *   persisted bound lacks the time spent off), or the message is wrongly
 *   dated. It waits: it becomes the bound only when TIME_CONFIRMATIONS
 *   readings agree with it (the province's clock moved as the station's
 *   monotonic clock did, within TIME_AGREEMENT_MS) over TIME_CONFIRM_SPAN_MS.
 *   One wrongly dated message followed by rightly dated ones never gets
 *   there. A province whose clock stays wrong does; the signed clock-reset
 *   command brings the bound back down.
 *
 * Meanwhile a command dated beyond the bound is judged against the bound:
 * its staleness is not yet provable, so it runs rather than being refused.
 */
export function judgeProvinceTime(issuedMs: number, state: ProvinceTimeState, e: TimeEvidence): { verdict: TimeVerdict; state: ProvinceTimeState } {
  if (issuedMs <= state.boundMs) return { verdict: { kind: 'kept' }, state };
  const justified = Math.max(state.boundMs, e.provenWallMs ?? 0);
  const ceiling = justified > 0 ? justified + MAX_TIME_STEP_MS : e.releasedMs + MAX_AHEAD_OF_EVIDENCE_MS;
  if (issuedMs <= ceiling) {
    return { verdict: { kind: 'raised' }, state: { boundMs: issuedMs, unproven: state.unproven.filter((r) => r.issuedMs > issuedMs) } };
  }
  const aheadMs = issuedMs - justified;
  if (e.provenWallMs !== undefined) return { verdict: { kind: 'future-dated', aheadMs }, state };
  const reading: TimeReading = { issuedMs, mono: e.mono };
  const unproven = [...state.unproven, reading].slice(-MAX_UNPROVEN_READINGS);
  const agreeing = unproven.filter((r) => Math.abs(issuedMs - r.issuedMs - (e.mono - r.mono)) <= TIME_AGREEMENT_MS);
  const span = e.mono - Math.min(...agreeing.map((r) => r.mono));
  if (agreeing.length >= TIME_CONFIRMATIONS && span >= TIME_CONFIRM_SPAN_MS) {
    // A lower bound: the least advanced of the agreeing readings, carried to now.
    const boundMs = Math.min(...agreeing.map((r) => r.issuedMs + (e.mono - r.mono)));
    return { verdict: { kind: 'confirmed', jumpMs: boundMs - state.boundMs }, state: { boundMs, unproven: [] } };
  }
  return { verdict: { kind: 'unproven', aheadMs, agreeing: agreeing.length }, state: { boundMs: state.boundMs, unproven } };
}

/**
 * A lower bound on the province's clock, from the issue times of verified
 * messages plus the station's monotonic time since. It can only prove that
 * time has passed, never that it has not, so it can expire a stale command
 * but never wrongly expire a fresh one, as long as no message moves it
 * further than `judgeProvinceTime` allows. The bound survives reboots
 * through `meta` (without the time elapsed while powered off).
 */
export class ProvinceClock {
  private lastIssuedMs = 0;
  private lastMono = 0;
  private unproven: readonly TimeReading[] = [];
  private readonly saveStmt;

  constructor(
    db: Db,
    private readonly mono: () => number = () => performance.now(),
    private readonly releasedMs = RELEASED_NOT_BEFORE_MS,
    /** How the bound reaches the disk (the sync side's WriteBehind: a full disk must not stop a command); at once by default. */
    private readonly persist: (write: () => void) => void = (write) => write(),
  ) {
    this.saveStmt = db.prepare("INSERT INTO meta (key, value) VALUES ('sync.province_time', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    const row = db.prepare("SELECT value FROM meta WHERE key = 'sync.province_time'").get() as { value: string } | undefined;
    const persisted = row ? Number(row.value) : 0;
    if (Number.isFinite(persisted) && persisted > 0) {
      this.lastIssuedMs = persisted;
      this.lastMono = this.mono();
    }
  }

  /** A verified message's issue time; `provenWallMs` only when the station clock is proven (NTP, RTC, configured). */
  observe(issuedMs: number, provenWallMs?: number): TimeVerdict {
    const mono = this.mono();
    const { verdict, state } = judgeProvinceTime(issuedMs, { boundMs: this.lowerBound(), unproven: this.unproven }, { mono, releasedMs: this.releasedMs, ...(provenWallMs !== undefined ? { provenWallMs } : {}) });
    this.unproven = state.unproven;
    if (verdict.kind === 'raised' || verdict.kind === 'confirmed') this.set(state.boundMs, mono);
    return verdict;
  }

  /**
   * The province's signed clock-reset: the bound comes down to `boundMs` and
   * waiting readings are forgotten. False (nothing changed) if that is above
   * the bound: raising it is for signed times under the rule above.
   */
  reset(boundMs: number): boolean {
    if (boundMs > this.lowerBound()) return false;
    this.unproven = [];
    this.set(boundMs, this.mono());
    return true;
  }

  private set(boundMs: number, mono: number): void {
    this.lastIssuedMs = boundMs;
    this.lastMono = mono;
    this.persist(() => this.saveStmt.run(String(boundMs)));
  }

  /** 0 when nothing was ever heard from the province. */
  lowerBound(): number {
    return this.lastIssuedMs === 0 ? 0 : this.lastIssuedMs + Math.max(0, this.mono() - this.lastMono);
  }
}

export interface StoredCommand {
  id: string;
  seq: number;
  status: CommandResponse['status'];
  response: CommandResponse;
}

/** Commands already seen (table sync_command): one seen twice runs once and gets the same answer. */
export class CommandLog {
  private readonly getStmt;
  private readonly recordStmt;
  private readonly pruneStmt;

  constructor(
    db: Db,
    private readonly keep = 20_000,
  ) {
    this.getStmt = db.prepare('SELECT id, seq, status, response FROM sync_command WHERE id = ?');
    this.recordStmt = db.prepare(
      `INSERT INTO sync_command (id, seq, status, response, received_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET status = excluded.status, response = excluded.response`,
    );
    this.pruneStmt = db.prepare('DELETE FROM sync_command WHERE id IN (SELECT id FROM sync_command ORDER BY received_ms DESC, seq DESC LIMIT -1 OFFSET ?)');
  }

  get(id: string): StoredCommand | undefined {
    const row = this.getStmt.get(id) as
      | { id: string; seq: number; status: CommandResponse['status']; response: string }
      | undefined;
    return row ? { id: row.id, seq: row.seq, status: row.status, response: JSON.parse(row.response) as CommandResponse } : undefined;
  }

  record(cmd: Pick<Command, 'id' | 'seq'>, response: CommandResponse, nowMs: number): void {
    this.recordStmt.run(cmd.id, cmd.seq, response.status, JSON.stringify(response), nowMs);
  }

  /** Bounded: the replay guard still refuses anything older than what is forgotten here. */
  prune(): void {
    this.pruneStmt.run(this.keep);
  }
}

export type CommandDecision =
  | { action: 'run' }
  /** Seen before: answer again with the stored response, do nothing else. */
  | { action: 'repeat-answer'; response: CommandResponse }
  /** Authentic but not to be run: answer "rejected" with this reason. */
  | { action: 'reject'; reason: string }
  /** Not for this station (or redirected): drop without answering. */
  | { action: 'ignore'; reason: string };

export interface CommandContext {
  stationId: string;
  groups: readonly string[];
  /** Where it arrived: the signed address must match, so a command cannot be redirected. */
  arrivedOn: { station: string } | { group: string };
  seqVerdict: SeqVerdict;
  previous: StoredCommand | undefined;
  /** Lower bound on the province's "now" (ProvinceClock), and the station wall clock when it is trusted. */
  provinceNowMs: number;
  trustedWallMs: number | undefined;
  /** The wall clock when NTP, the RTC or the configuration prove it (`provenWallMs`). */
  provenWallMs: number | undefined;
}

/** The station clock's reasons that prove it, rather than only not contradicting the evidence (clock/trust.ts). */
export function provenWallMs(clock: { trusted: boolean; reason: string }, nowMs: number): number | undefined {
  return clock.trusted && ['ntp', 'rtc', 'configured'].includes(clock.reason) ? nowMs : undefined;
}

/** Pure: what to do with a verified command. Order matters and is documented in docs/protocol.md. */
export function decideCommand(cmd: Command, ctx: CommandContext): CommandDecision {
  const to = cmd.to;
  const arrived = ctx.arrivedOn;
  const sameAddress =
    'station' in to ? 'station' in arrived && arrived.station === to.station : 'group' in arrived && arrived.group === to.group;
  if (!sameAddress) return { action: 'ignore', reason: `addressed to ${JSON.stringify(to)} but arrived on ${JSON.stringify(arrived)}` };
  if ('station' in to ? to.station !== ctx.stationId : !ctx.groups.includes(to.group)) {
    return { action: 'ignore', reason: `addressed to ${JSON.stringify(to)}, not to this station or its groups` };
  }
  if (ctx.previous) return { action: 'repeat-answer', response: ctx.previous.response };
  if (ctx.seqVerdict !== 'fresh') return { action: 'reject', reason: `replayed: sequence ${cmd.seq} was ${ctx.seqVerdict === 'seen' ? 'already used' : 'too old'}` };
  const expiresMs = cmd.issuedMs + cmd.ttlMs;
  // A clock reset corrects the bound: judged by it, a bound raised too far would refuse its own correction.
  const now = cmd.command.action === 'clock-reset' ? (ctx.provenWallMs ?? 0) : Math.max(ctx.provinceNowMs, ctx.trustedWallMs ?? 0);
  if (now > expiresMs) return { action: 'reject', reason: `expired ${Math.round((now - expiresMs) / 1000)} s ago (issued ${new Date(cmd.issuedMs).toISOString()}, valid ${cmd.ttlMs} ms)` };
  return { action: 'run' };
}
