import type { Db } from '../store/database.js';
import type { Command, CommandResponse } from './protocol.js';

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
 * A lower bound on the province's clock, from the issue times of verified
 * messages plus the station's monotonic time since. It can only prove that
 * time has passed, never that it has not, so it can expire a stale command
 * but never wrongly expire a fresh one. The bound survives reboots through
 * `meta` (without the time elapsed while powered off).
 */
export class ProvinceClock {
  private lastIssuedMs = 0;
  private lastMono = 0;
  private readonly saveStmt;

  constructor(
    db: Db,
    private readonly mono: () => number = () => performance.now(),
  ) {
    this.saveStmt = db.prepare("INSERT INTO meta (key, value) VALUES ('sync.province_time', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    const row = db.prepare("SELECT value FROM meta WHERE key = 'sync.province_time'").get() as { value: string } | undefined;
    const persisted = row ? Number(row.value) : 0;
    if (Number.isFinite(persisted) && persisted > 0) {
      this.lastIssuedMs = persisted;
      this.lastMono = this.mono();
    }
  }

  observe(issuedMs: number): void {
    if (issuedMs <= this.lowerBound()) return;
    this.lastIssuedMs = issuedMs;
    this.lastMono = this.mono();
    this.saveStmt.run(String(issuedMs));
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
  const now = Math.max(ctx.provinceNowMs, ctx.trustedWallMs ?? 0);
  if (now > expiresMs) return { action: 'reject', reason: `expired ${Math.round((now - expiresMs) / 1000)} s ago (issued ${new Date(cmd.issuedMs).toISOString()}, valid ${cmd.ttlMs} ms)` };
  return { action: 'run' };
}
