import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import { boardProofBetween, boardShownEvent } from '../store/board-proof.js';
import type { SyncConfig } from '../config/schema.js';
import { CommandLog, ProvinceClock, ReplayGuard, decideCommand, provenWallMs, type StoredCommand } from './guard.js';
import type { WriteBehind } from '../store/write-behind.js';
import type { Command, CommandResponse, OutboxKind } from './protocol.js';
import type { PortAction, StationPort } from './station-port.js';

/**
 * Province commands, each run at most once (sync_command) and never after
 * its expiry: checked, recorded before anything runs, carried out, answered
 * through the outbox. When the station clock cannot judge expiry, commands
 * that arrive after a connect wait briefly for the province time beacon.
 */

/** A command still running after this long is answered "accepted" first. */
const ACCEPTED_AFTER_MS = 500;

export type ArrivedOn = { station: string } | { group: string };

export interface CommandRunnerOptions {
  stationId: string;
  config: SyncConfig;
  port: StationPort;
  db: Db;
  log: Logger;
  now: () => number;
  guard: ReplayGuard;
  clock: ProvinceClock;
  /** The sync side's writes the state disk will not take now (full, read-only), held until it does. */
  behind: WriteBehind;
  /** How long commands wait after a connect for the province time beacon when the station clock is not trusted. */
  commandHoldMs: number;
  send: (kind: OutboxKind, body: unknown, id?: string) => void;
  refuse: (reason: string, detail: Record<string, unknown>) => void;
  /** A command was accepted and is about to run. */
  onAccepted: (cmd: Command) => void;
  /** The `resync` command: the target asked for again and compared at once. */
  resync: () => Promise<void>;
}

export class CommandRunner {
  private readonly commands: CommandLog;
  private readonly acceptTx: (cmd: Command, first: CommandResponse) => void;
  private holding = false;
  private held: Array<{ cmd: Command; arrivedOn: ArrivedOn }> = [];
  private holdTimer?: NodeJS.Timeout;
  private commandCount = 0;
  /** Commands run while the state disk refused their record (full, read-only): known here until it takes them, so a redelivery is still answered, not run. */
  private readonly unrecorded = new Map<string, { cmd: Command; stored: StoredCommand }>();

  constructor(private readonly o: CommandRunnerOptions) {
    this.commands = new CommandLog(o.db);
    this.acceptTx = o.db.transaction((cmd: Command, first: CommandResponse) => {
      this.o.guard.accept('cmd', cmd.seq);
      this.commands.record(cmd, first, this.o.now());
    });
  }

  /** After each connect: hold commands until the time beacon if the station clock is not trusted. */
  connected(): void {
    this.holding = !this.o.port.snapshot().clock.trusted;
    if (this.holding) {
      clearTimeout(this.holdTimer);
      this.holdTimer = setTimeout(() => this.releaseHeld(), this.o.commandHoldMs);
    }
  }

  stop(): void {
    clearTimeout(this.holdTimer);
  }

  /** A command whose signature and address have been checked. */
  offer(cmd: Command, arrivedOn: ArrivedOn): void {
    if (this.holding) {
      if (this.held.length < 100) this.held.push({ cmd, arrivedOn });
      else this.o.refuse('hold-overflow', { id: cmd.id });
      return;
    }
    void this.onCommand(cmd, arrivedOn);
  }

  releaseHeld(): void {
    if (!this.holding) return;
    this.holding = false;
    clearTimeout(this.holdTimer);
    const held = this.held;
    this.held = [];
    for (const h of held) void this.onCommand(h.cmd, h.arrivedOn);
  }

  private async onCommand(cmd: Command, arrivedOn: ArrivedOn): Promise<void> {
    const { stationId, config, port, log } = this.o;
    const snap = port.snapshot();
    const decision = decideCommand(cmd, {
      stationId,
      groups: config.groups,
      arrivedOn,
      seqVerdict: [...this.unrecorded.values()].some((u) => u.cmd.seq === cmd.seq) ? 'seen' : this.o.guard.check('cmd', cmd.seq),
      previous: this.commands.get(cmd.id) ?? this.unrecorded.get(cmd.id)?.stored,
      provinceNowMs: this.o.clock.lowerBound(),
      trustedWallMs: snap.clock.trusted ? this.o.now() : undefined,
      provenWallMs: provenWallMs(snap.clock, this.o.now()),
    });
    if (decision.action === 'ignore') return this.o.refuse('misaddressed', { id: cmd.id, reason: decision.reason });
    if (decision.action === 'repeat-answer') {
      this.respond(decision.response);
      return;
    }
    const answer = (status: CommandResponse['status'], reason?: string, result?: unknown): CommandResponse => ({
      id: cmd.id,
      station: stationId,
      status,
      ...(reason !== undefined ? { reason } : {}),
      ...(result !== undefined ? { result } : {}),
      atMs: this.o.now(),
    });
    const first = decision.action === 'reject' ? answer('rejected', decision.reason) : answer('accepted');
    // Recorded before anything runs: after a crash a redelivered command is answered, not run again. A disk
    // that takes no record does not stop it (an emergency must play): it is known here until the disk does.
    this.record(cmd, first);
    if (decision.action === 'reject') {
      this.respond(first);
      log.warn({ id: cmd.id, action: cmd.command.action, reason: decision.reason }, 'command refused');
      return;
    }
    log.info({ id: cmd.id, action: cmd.command.action, via: cmd.to }, 'command accepted');
    this.o.onAccepted(cmd);
    // "accepted" is said only when the outcome takes a while; a quick command gets its final answer alone.
    const slow = setTimeout(() => this.respond(first), ACCEPTED_AFTER_MS);
    let final: CommandResponse;
    try {
      const outcome = await this.execute(cmd);
      final = answer(outcome.status, outcome.reason, outcome.result);
    } catch (err) {
      final = answer('rejected', `failed: ${(err as Error).message}`);
    }
    clearTimeout(slow);
    this.record(cmd, final);
    // Pruning walks the table; now and then is enough to keep it bounded.
    if (++this.commandCount % 256 === 0) this.o.behind.run('command-prune', () => this.commands.prune());
    this.respond(final);
  }

  private async execute(cmd: Command): Promise<{ status: 'done' | 'rejected'; reason?: string; result?: unknown }> {
    const a = cmd.command;
    if (a.action === 'resync') {
      await this.o.resync();
      return { status: 'done' };
    }
    if (a.action === 'clock-reset') {
      const beforeMs = this.o.clock.lowerBound();
      if (!this.o.clock.reset(a.lowerBoundMs)) return { status: 'rejected', reason: `clock-reset only lowers the bound, and it is already below ${new Date(a.lowerBoundMs).toISOString()} (${new Date(beforeMs).toISOString()}): nothing changed` };
      this.o.log.warn({ id: cmd.id, beforeMs, lowerBoundMs: a.lowerBoundMs }, 'province clock bound reset by a signed command');
      return { status: 'done', result: { beforeMs, lowerBoundMs: a.lowerBoundMs } };
    }
    if (a.action === 'upload-log') {
      const rows = this.o.db
        .prepare('SELECT * FROM play_log WHERE COALESCE(started_ms, scheduled_ms, 0) BETWEEN ? AND ? ORDER BY seq LIMIT ?')
        .all(a.sinceMs, a.untilMs ?? Number.MAX_SAFE_INTEGER, a.maxRows) as Array<{ id: string }>;
      // Proof of display too, each showing under its own id as first sent.
      const showings = boardProofBetween(this.o.db, a.sinceMs, a.untilMs ?? Number.MAX_SAFE_INTEGER, a.maxRows);
      this.o.db.transaction(() => {
        for (const r of rows) this.o.send('play', r, r.id);
        for (const p of showings) this.o.send('event', boardShownEvent(p), p.id);
      })();
      return { status: 'done', result: { rows: rows.length, showings: showings.length } };
    }
    return this.o.port.runCommand({
      id: cmd.id,
      issuedMs: cmd.issuedMs,
      expiresMs: cmd.issuedMs + cmd.ttlMs,
      via: cmd.to,
      action: a as PortAction,
    });
  }

  /**
   * A command's record with its sequence number seen, one transaction (the
   * same again is harmless); while the disk refuses it, known here instead,
   * and the newest answer waits for the disk.
   */
  private record(cmd: Command, response: CommandResponse): void {
    this.unrecorded.set(cmd.id, { cmd, stored: { id: cmd.id, seq: cmd.seq, status: response.status, response } });
    this.o.behind.run(`command:${cmd.id}`, () => {
      this.acceptTx(cmd, response);
      this.unrecorded.delete(cmd.id);
    });
  }

  private respond(r: CommandResponse): void {
    this.o.send('response', r);
  }
}
