import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { BoardConfig } from '../config/schema.js';
import type { Conductor } from '../playout/conductor.js';
import type { StationMedia } from '../playout/media.js';
import type { StationStore } from '../store/station-store.js';
import { classOf } from '../domain/types.js';
import { BoardServer, type BoardProofRow } from '../board/server.js';
import { KioskWatch, type KioskHealth } from '../board/kiosk-watch.js';
import { BUILTIN_BOARD_SCHEDULE, type BoardEmergencyInput, type BoardSchedule } from '../board/playlist.js';
import { createDisplayPower, type DisplayPower } from '../board/display.js';
import { DisplayController, type DisplayPowerEvent } from '../board/display-controller.js';
import { readAppliedTarget } from '../sync/station-port.js';
import { boardHandlers } from './board-control.js';

/**
 * The HDMI bulletin board as the agent runs it: the page server (fed the
 * province's playlists and the one arbiter's emergency), the screen's power,
 * proof of display into the outbox, and the kiosk browser watched and
 * restarted.
 */
export class BoardLink {
  readonly server: BoardServer;
  readonly display: DisplayController;
  /** The screen's driver (a test or the demo looks at the simulated one). */
  readonly screen: DisplayPower;
  private kioskWatch: KioskWatch | null = null;
  private kioskHealth: KioskHealth | null = null;
  private kioskTimer: NodeJS.Timeout | null = null;
  private checking: Promise<unknown> | null = null;
  private readonly pendingProof: BoardProofRow[] = [];
  private flushTimer: NodeJS.Immediate | null = null;
  private scheduleProblem: string | null = null;
  /** The last time the board could not follow the conductor (the speakers played on regardless). */
  private followProblem: string | null = null;
  /** The public alert in force (alerts/manager.ts decides, with the lifecycle the speakers use): it holds the screen. */
  private alert: BoardEmergencyInput | null = null;

  private constructor(
    private readonly cfg: BoardConfig,
    private readonly d: BoardLinkDeps,
  ) {
    const { media } = d;
    this.server = new BoardServer({
      log: d.log,
      timezone: d.timezone,
      port: cfg.port,
      // Only images and videos: an audio file named by a board item is not shown.
      contentPath: (sha) => {
        const r = media.cache.get(sha);
        return r && r.state === 'ok' && r.kind !== 'audio' ? media.cache.pathFor(sha) : null;
      },
      ...(cfg.feedbackUrl ? { feedbackUrl: cfg.feedbackUrl } : {}),
      now: d.now,
    });
    this.screen = createDisplayPower(cfg.display);
    this.display = new DisplayController({ driver: this.screen, board: this.server, timezone: d.timezone, windows: cfg.display.on, log: d.log, now: d.now });
  }

  /** The watch on the kiosk browser, when one is configured. */
  get kiosk(): KioskWatch | null {
    return this.kioskWatch;
  }

  static async open(cfg: BoardConfig, deps: BoardLinkDeps): Promise<BoardLink> {
    const link = new BoardLink(cfg, deps);
    await link.start();
    return link;
  }

  private async start(): Promise<void> {
    const { conductor, store, log } = this.d;
    await this.server.start();
    this.setSchedule(readAppliedTarget(store.db)?.board ?? null);
    // After begin()/finish() have updated what plays. Whatever the board does, the conductor never sees it.
    conductor.on('session', () => queueMicrotask(() => this.followConductor()));
    conductor.on('live', () => queueMicrotask(() => this.followConductor()));
    this.server.on('proof', (row: BoardProofRow) => this.proof(row));
    this.display.on('power', (e: DisplayPowerEvent) => {
      store.recordEvent('board.display', e.ok ? 'info' : 'warn', `board screen ${e.on ? 'on' : 'off'} (${e.reason})${e.ok ? '' : `: ${e.problem ?? 'failed'}`}`, { ...e }, this.d.now());
    });
    this.display.start();
    const kiosk = this.cfg.kiosk;
    if (kiosk) {
      const watch = new KioskWatch({
        devtoolsSocket: kiosk.devtoolsSocket,
        boardUrl: this.server.url,
        log,
        expectedKey: () => this.server.showing()?.key ?? null,
        restart: (reason) => this.restartKiosk(kiosk.restartCommand, reason),
        now: this.d.now,
      });
      this.kioskWatch = watch;
      this.kioskTimer = setInterval(() => {
        // One probe at a time: a hung browser makes a probe last its whole timeout.
        this.checking ??= watch.check().then(
          (h) => this.noteKiosk(h),
          (err: unknown) => log.error({ err }, 'kiosk check failed'),
        ).finally(() => { this.checking = null; });
      }, kiosk.checkIntervalMs);
    }
  }

  /** The province's playlists (null: none, the built-in clock). A bad stored schedule falls back to the clock, loudly. */
  setSchedule(schedule: BoardSchedule | null): void {
    try {
      this.server.setSchedule(schedule ?? BUILTIN_BOARD_SCHEDULE);
      this.scheduleProblem = null;
    } catch (err) {
      this.scheduleProblem = `board schedule not usable, showing the clock: ${(err as Error).message}`;
      this.d.log.error({ err }, 'board schedule not usable; showing the clock');
      this.server.setSchedule(BUILTIN_BOARD_SCHEDULE);
    }
  }

  /** Content the board's schedule needs (kept by cache eviction). */
  neededContent(): string[] {
    const board = readAppliedTarget(this.d.store.db)?.board;
    if (!board) return [];
    return [...board.playlists, board.defaultPlaylist].flatMap((p) => p.items.flatMap((i) => ('content' in i ? [i.content] : [])));
  }

  problems(): string[] {
    return [
      ...(this.scheduleProblem ? [this.scheduleProblem] : []),
      ...(this.followProblem ? [this.followProblem] : []),
      ...this.truncationProblem(),
      ...this.display.problems(),
      ...(this.kioskHealth === 'restarted' ? ['board browser was restarted at the last check'] : []),
    ];
  }

  private truncationProblem(): string[] {
    const cut = this.server.pages().showingTruncated;
    const item = this.server.showing()?.item;
    return cut.length > 0 && item ? [`board ${item.kind} "${item.id}" is too long for the screen even at the smallest type: its ${cut.join(', ')} shown cut (marked "…"); shorten it`] : [];
  }

  /** `loa board ...` on the control socket. */
  handlers(): ReturnType<typeof boardHandlers> {
    const kiosk = this.kioskWatch;
    return boardHandlers({
      board: this.server,
      screenshot: kiosk ? () => kiosk.screenshot() : null,
      ...(kiosk ? { kiosk: () => this.kioskHealth } : {}),
      display: () => this.display.status(),
      now: this.d.now,
    });
  }

  /** What the screen shows now, as JPEG, with the showing the agent meant it to show. */
  async screenshot(quality: number): Promise<{ jpeg: Buffer; showing: string | null }> {
    if (!this.kiosk) throw new Error('no kiosk browser is configured (board.kiosk)');
    const showing = this.server.showing()?.key ?? null;
    return { jpeg: await this.kiosk.screenshot({ format: 'jpeg', quality }), showing };
  }

  /** The wall clock jumped: every showing deadline is recomputed. */
  clockJumped(): void {
    this.server.recheck();
    this.display.recheck();
  }

  async close(): Promise<void> {
    if (this.kioskTimer) clearInterval(this.kioskTimer);
    this.kioskTimer = null;
    await this.checking;
    await this.kiosk?.close();
    await this.display.stop();
    await this.server.stop();
    this.flushProof();
  }

  /**
   * The public alert the screen shows while it is active, between its
   * repeats too (null: none, the board follows the conductor again).
   */
  showAlert(alert: BoardEmergencyInput | null): void {
    this.alert = alert;
    this.followConductor();
  }

  /** Runs in a microtask: nothing may escape it (it would end the agent, and the emergency with it). */
  private followConductor(): void {
    const np = this.d.conductor.nowPlaying();
    try {
      const emergency = this.alert !== null || (np !== null && classOf(np.priority) === 'emergency');
      // A sleeping screen is woken first, so the alert is the first thing it shows.
      this.display.setEmergency(emergency);
      this.server.setEmergency(this.alert ?? (emergency && np ? { key: np.key, title: emergencyTitle(np.label, np.key), ...np.display } : null));
      this.server.setLiveCaption(np?.live?.display ?? null);
      if (this.followProblem) this.d.log.info('board follows the conductor again');
      this.followProblem = null;
    } catch (err) {
      const message = `board could not show ${np?.key ?? 'the end of a broadcast'}: ${(err as Error).message.split('\n')[0]}`;
      this.d.log.error({ err, session: np?.key ?? null }, 'board could not follow the conductor; audio continues');
      if (message !== this.followProblem) this.d.store.recordEvent('board.error', 'error', message, { session: np?.key ?? null }, this.d.now());
      this.followProblem = message;
    }
  }

  private proof(row: BoardProofRow): void {
    // The rotation runs on behind a black page at night; what no one could see needs no proof.
    if (row.result === 'unconfirmed' && this.server.blanked) return;
    this.pendingProof.push(row);
    // Written at once, in one transaction for the showings that end together
    // (an emergency replacing a showing, a new schedule): a crash loses only
    // what was on screen at that instant, and the SD card sees one commit
    // per change of screen, every few seconds at most.
    this.flushTimer ??= setImmediate(() => this.flushProof());
  }

  private flushProof(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = null;
    const rows = this.pendingProof.splice(0);
    if (rows.length === 0) return;
    try {
      this.d.store.logShowings(rows, this.d.clockLabel(), this.d.now());
    } catch (err) {
      this.d.log.error({ err, rows: rows.length }, 'proof of display could not be written');
    }
  }

  private noteKiosk(h: KioskHealth): void {
    if (h !== this.kioskHealth) this.d.log.info({ kiosk: h, was: this.kioskHealth }, 'kiosk health changed');
    this.kioskHealth = h;
  }

  private restartKiosk(command: readonly string[], reason: string): Promise<void> {
    this.d.store.recordEvent('board.kiosk.restart', 'warn', `board browser restarted: ${reason}`, { reason }, this.d.now());
    return new Promise((resolve) => {
      execFile(command[0]!, command.slice(1), { timeout: 30_000 }, (err, _out, stderr) => {
        if (err) this.d.log.error({ err: err.message, stderr: stderr.trim().slice(0, 500), command }, 'could not restart the board browser');
        resolve();
      });
    });
  }
}

/**
 * The conductor labels a request without a label by its id
 * ("request:<id>"); the screen says "Thông báo khẩn cấp" instead (the
 * board's schema also turns a blank title into it).
 */
export function emergencyTitle(label: string, key: string): string {
  return key === `request:${label}` ? '' : label;
}

export interface BoardLinkDeps {
  log: Logger;
  timezone: string;
  conductor: Conductor;
  media: StationMedia;
  store: StationStore;
  now: () => number;
  /** The clock's trust label, stamped on each proof-of-display row like a play-log row. */
  clockLabel: () => string;
}
