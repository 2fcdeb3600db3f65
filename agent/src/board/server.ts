import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isValidTimezone } from '../schedule/planner.js';
import { playerPage, type PlayerPage } from './page.js';
import { qrModules } from './qr.js';
import { byteRange } from './http-range.js';
import {
  boardNow, boardUpcoming, fnv1a, BoardEmergencySchema, BoardScheduleSchema, BUILTIN_BOARD_SCHEDULE,
  type BoardEmergency, type BoardEmergencyInput, type BoardNow, type BoardNowOptions, type BoardSchedule, type BoardScheduleInput, type UpcomingShowing,
  NoticeItemSchema,
} from './playlist.js';

/** Debian `fonts-noto-core`: Noto Sans covers every Vietnamese letter and tone mark. */
export const DEFAULT_BOARD_FONTS = {
  regular: '/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf',
  bold: '/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf',
} as const;

/** Debian `fonts-noto-color-emoji`: the kiosk's Chromium draws emoji with it (a system font, not served). */
export const EMOJI_FONT = '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf';

/** Proof of display: one row per showing, like a play-log row. */
export interface BoardProofRow {
  key: string;
  itemId: string;
  kind: string;
  /** Playlist id, 'emergency', 'fallback', or 'operator' (shown by `showItem`; the key names its playlist). */
  source: string;
  /** When the page confirmed it on screen; null if no page ever did (or only while blanked). */
  shownMs: number | null;
  endedMs: number;
  /**
   * completed: ran its slot (or the emergency ended); interrupted: replaced
   * early (emergency, new schedule); failed: the page could not render it
   * (image did not load); unconfirmed: no page acknowledged it.
   */
  result: 'completed' | 'interrupted' | 'failed' | 'unconfirmed';
  problem: string | null;
}

export interface BoardServerOptions {
  log: Logger;
  timezone: string;
  /** Loopback port; 0 picks a free one (tests). */
  port: number;
  /** File path of a cached content item, or null if it is not (usably) cached. */
  contentPath: (sha256: string) => string | null;
  /** The province's feedback channel, for QR items without a URL of their own. */
  feedbackUrl?: string;
  fonts?: { regular: string; bold: string };
  now?: () => number;
}

/** Why `showItem` refused; `code` goes out on the control socket. */
export class BoardOverrideRefused extends Error {
  constructor(
    readonly code: 'emergency' | 'unknown-item' | 'unknown-playlist' | 'not-playable',
    message: string,
    /** What the operator's message names (the item, the playlists known), for the CLI's translation. */
    readonly params: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Showing {
  now: BoardNow;
  shownMs: number | null;
  problem: string | null;
  /** Blocks the page had to cut, even at its smallest type (title, body...): the screen shows "…" there. */
  truncated: string[];
}

const AckSchema = z.object({
  key: z.string().max(400),
  ok: z.boolean(),
  problem: z.string().max(500).optional(),
  truncated: z.array(z.string().max(20)).max(10).optional(),
});
/** Comment lines keep idle SSE connections from being dropped by anything in between. */
const HEARTBEAT_MS = 15_000;
/** setTimeout's limit; a longer deadline is simply re-asked. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Owns the board: decides what shows (through the pure planner), serves the
 * player page on 127.0.0.1 and pushes every change over Server-Sent Events.
 * Only the daemon changes what shows (setSchedule, setEmergency); the page
 * has no opinion of its own.
 *
 * Emits 'proof' (BoardProofRow) when a showing ends and 'show' (BoardNow)
 * when one begins.
 */
export class BoardServer extends EventEmitter {
  private server: Server | null = null;
  private readonly clients = new Set<ServerResponse>();
  private schedule: BoardSchedule;
  private emergency: BoardEmergency | null = null;
  /** The live relay on air, said in the ticker. */
  private liveCaption: string | null = null;
  /** The screen is off (the display controller says so); the page is black unless an emergency holds it. */
  private blankRequested = false;
  private blankPushed = false;
  private current: Showing | null = null;
  /** An item the operator put on screen; it holds until its untilMs unless an emergency comes. */
  private override: BoardNow | null = null;
  private lastAckMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly page: PlayerPage;
  private readonly fonts: { regular: string; bold: string };
  private readonly now: () => number;

  constructor(private readonly o: BoardServerOptions) {
    super();
    // Every deadline is computed in this zone: an unknown one would make all of them NaN.
    if (!isValidTimezone(o.timezone)) throw new Error(`board: unknown time zone "${o.timezone}" (expected an IANA name such as Asia/Ho_Chi_Minh)`);
    this.now = o.now ?? Date.now;
    this.fonts = o.fonts ?? DEFAULT_BOARD_FONTS;
    this.page = playerPage(o.timezone);
    this.schedule = BoardScheduleSchema.parse(BUILTIN_BOARD_SCHEDULE);
  }

  async start(): Promise<void> {
    for (const [weight, path] of Object.entries(this.fonts)) {
      await access(path).catch(() =>
        this.o.log.error({ weight, path }, 'board font missing: Vietnamese may render with the wrong font (install Debian fonts-noto-core)'),
      );
    }
    await access(EMOJI_FONT).catch(() =>
      this.o.log.warn({ path: EMOJI_FONT }, 'emoji font missing: emoji on the board show as empty boxes (install Debian fonts-noto-color-emoji)'),
    );
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.heartbeat = setInterval(() => { for (const c of this.clients) c.write(': ping\n\n'); }, HEARTBEAT_MS);
    this.recompute();
    this.o.log.info({ url: this.url }, 'board server listening');
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    if (this.current) this.finish(this.current, this.now());
    this.current = null;
    for (const c of this.clients) c.end();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive sockets (the kiosk's) would otherwise hold stop() for seconds.
    server.closeAllConnections();
    await closed;
  }

  /**
   * The page's address, with this boot's key: only a page loaded from it
   * (the kiosk, which the agent navigates there) can post proof of display.
   * Any local user can reach the port; none can learn the key but through
   * the agent (its control socket, the kiosk's DevTools).
   */
  get url(): string {
    if (!this.server) throw new Error('board server is not started');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/?key=${this.key}`;
  }

  private readonly key = randomBytes(16).toString('hex');
  private forgedAcks = 0;

  private hasKey(req: IncomingMessage): boolean {
    const given = Buffer.from(String(req.headers['x-board-key'] ?? ''));
    const key = Buffer.from(this.key);
    return given.length === key.length && timingSafeEqual(given, key);
  }

  /** Replaces the playlists. Throws one error naming every problem; the old schedule stays on failure. */
  setSchedule(input: BoardScheduleInput): void {
    const r = BoardScheduleSchema.safeParse(input);
    if (!r.success) {
      throw new Error(`board schedule refused: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    this.schedule = r.data;
    this.o.log.info({ playlists: r.data.playlists.length, default: r.data.defaultPlaylist.id }, 'board schedule set');
    this.recompute();
  }

  /**
   * The arbiter's emergency, or null when it ends or is cancelled. Pushed to
   * the page at once. Never throws for an emergency: input the schema cannot
   * take still shows the default alert.
   */
  setEmergency(input: BoardEmergencyInput | null): void {
    const next = input === null ? null : this.emergencyOf(input);
    if (JSON.stringify(next) === JSON.stringify(this.emergency)) return;
    this.emergency = next;
    this.o.log.warn({ emergency: next?.key ?? null }, next ? 'board emergency takeover' : 'board emergency ended');
    // The emergency is on the page before it unblanks, and the page is black again before the rotation returns.
    if (!next) this.pushBlank();
    this.recompute();
    if (next) this.pushBlank();
  }

  private emergencyOf(input: BoardEmergencyInput): BoardEmergency {
    const r = BoardEmergencySchema.safeParse(input);
    if (r.success) return r.data;
    this.o.log.error({ issues: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'board emergency text unusable; showing the default alert');
    return BoardEmergencySchema.parse({ key: typeof input.key === 'string' && input.key ? input.key.slice(0, 300) : 'emergency', title: '' });
  }

  /**
   * What the speakers relay live ("Đang tiếp sóng VOV1"), or null when the
   * relay ends: the ticker says it in place of the playlist's, over whatever
   * the rotation shows (an emergency's page has no ticker). The showing's key
   * changes with it, so its proof of display says what was on screen.
   */
  setLiveCaption(text: string | null): void {
    const next = text?.trim() ? text.trim() : null;
    if (next === this.liveCaption) return;
    this.liveCaption = next;
    this.o.log.info({ caption: next }, next ? 'board shows the live relay' : 'board live caption ended');
    this.recompute();
  }

  /** Blanks the page (the screen is off) or shows it again. An emergency is never hidden: blank waits for its end. */
  setBlank(blank: boolean): void {
    if (blank === this.blankRequested) return;
    this.blankRequested = blank;
    this.o.log.info({ blank }, blank ? 'board page blanked' : 'board page unblanked');
    this.pushBlank();
  }

  /** Whether the page is black now. */
  get blanked(): boolean {
    return this.blankRequested && this.emergency === null;
  }

  private planOptions(): BoardNowOptions {
    return { hasContent: (sha) => this.o.contentPath(sha) !== null, ...(this.o.feedbackUrl ? { feedbackUrl: this.o.feedbackUrl } : {}) };
  }

  /** Recomputes what shows now (after a clock jump, every deadline is stale). */
  recheck(): void {
    this.recompute();
  }

  /** What the board shows now (null before start). */
  showing(): BoardNow | null {
    return this.current?.now ?? null;
  }

  /** The player pages: how many listen now, when one last answered, and when the current showing was confirmed. */
  pages(): { connected: number; lastAckMs: number | null; showingConfirmedMs: number | null; showingProblem: string | null; showingTruncated: string[] } {
    return {
      connected: this.clients.size, lastAckMs: this.lastAckMs, showingConfirmedMs: this.current?.shownMs ?? null,
      showingProblem: this.current?.problem ?? null, showingTruncated: this.current?.truncated ?? [],
    };
  }

  /**
   * The next `count` showings after the one on screen. During an emergency,
   * what the rotation would show if it ended now.
   */
  upcoming(count: number): UpcomingShowing[] {
    const c = this.current?.now;
    const list = boardUpcoming(c?.untilMs ?? this.now(), this.o.timezone, this.schedule.playlists, this.schedule.defaultPlaylist, count + 1, this.planOptions());
    // The one on screen may run on past its deadline (a deadline that changed nothing).
    return list.filter((s) => s.key !== c?.key).slice(0, count);
  }

  /**
   * Field staff's override: one item of the schedule on screen now, for its
   * duration, then the rotation resumes where the clock has it. Looks in
   * `opts.playlist` if given, else the playlist on screen, the others in
   * order, then the default. Refused, not queued, during an emergency: a
   * showing that pops up whenever the emergency ends would surprise whoever
   * stands at the panel then. An emergency starting later cancels it.
   */
  showItem(itemId: string, opts: { playlist?: string } = {}): BoardNow {
    if (!this.server) throw new Error('board server is not started');
    if (this.emergency) {
      throw new BoardOverrideRefused('emergency', `an emergency holds the board ("${this.emergency.title}"): nothing else is shown until it ends`, { title: this.emergency.title });
    }
    const all = [...this.schedule.playlists, this.schedule.defaultPlaylist];
    const onScreen = this.current?.now.source;
    const searched = opts.playlist !== undefined
      ? all.filter((p) => p.id === opts.playlist)
      : [...all.filter((p) => p.id === onScreen), ...all.filter((p) => p.id !== onScreen)];
    if (searched.length === 0) {
      throw new BoardOverrideRefused('unknown-playlist', `no playlist "${opts.playlist}" in the board schedule; playlists: ${all.map((p) => p.id).join(', ')}`, { playlist: String(opts.playlist), known: all.map((p) => p.id).join(', ') });
    }
    const found = searched.map((p) => ({ p, item: p.items.find((i) => i.id === itemId) })).find((f) => f.item !== undefined);
    if (!found?.item) {
      const known = [...new Set(searched.flatMap((p) => p.items.map((i) => i.id)))];
      const where = opts.playlist !== undefined ? `playlist "${opts.playlist}"` : 'the board schedule';
      const items = `${known.slice(0, 30).join(', ')}${known.length > 30 ? ', …' : ''}`;
      throw new BoardOverrideRefused('unknown-item', `no item "${itemId}" in ${where}; items: ${items}`, { item: itemId, known: items });
    }
    const { p, item } = found;
    const nowMs = this.now();
    // The planner's own rule says whether it can show (media cached, a QR code's URL known) and completes it.
    const planned = boardNow(nowMs, this.o.timezone, [], { ...p, items: [item] }, null, this.planOptions());
    if (planned.source === 'fallback') {
      throw new BoardOverrideRefused('not-playable', 'content' in item
        ? `item "${itemId}" needs ${item.kind} ${item.content.slice(0, 12)}, which is not in the content cache yet`
        : `item "${itemId}" has no URL to show and the station has no board.feedbackUrl`, { item: itemId, content: 'content' in item ? item.content.slice(0, 12) : '' });
    }
    const shown: BoardNow = { key: `operator/${p.id}/${item.id}@${nowMs}`, source: 'operator', item: planned.item, ticker: p.ticker, startedMs: nowMs, untilMs: nowMs + item.durationS * 1000 };
    this.override = shown;
    this.o.log.info({ item: item.id, playlist: p.id, untilMs: shown.untilMs }, 'board item shown by the operator');
    this.recompute();
    return shown;
  }

  /**
   * `loa identify`: the station's id and address full screen for
   * `durationMs`, as an operator's showing (the rotation resumes after it;
   * refused during an emergency, which also cuts it).
   */
  showIdentify(title: string, body: string, durationMs: number): BoardNow {
    if (!this.server) throw new Error('board server is not started');
    if (this.emergency) throw new BoardOverrideRefused('emergency', `an emergency holds the board ("${this.emergency.title}"): nothing else is shown until it ends`);
    const nowMs = this.now();
    const durationS = Math.max(1, Math.round(durationMs / 1000));
    const item = NoticeItemSchema.parse({ kind: 'notice', id: 'identify', durationS, title, body });
    const shown: BoardNow = { key: `identify/${nowMs}`, source: 'operator', item, ticker: '', startedMs: nowMs, untilMs: nowMs + durationMs };
    this.override = shown;
    this.o.log.info({ untilMs: shown.untilMs }, 'board shows the station identity');
    this.recompute();
    return shown;
  }

  private recompute(): void {
    if (!this.server) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const nowMs = this.now();
    if (this.override && (this.emergency || nowMs >= this.override.untilMs!)) {
      if (this.emergency) this.o.log.info({ item: this.override.item.id }, 'operator showing cancelled by the emergency');
      this.override = null;
    }
    const planned = this.override ?? boardNow(nowMs, this.o.timezone, this.schedule.playlists, this.schedule.defaultPlaylist, this.emergency, this.planOptions());
    const next = this.liveCaption && planned.source !== 'emergency' ? { ...planned, key: `${planned.key}|live:${fnv1a(this.liveCaption)}`, ticker: this.liveCaption } : planned;
    if (next.key !== this.current?.now.key) {
      if (this.current) this.finish(this.current, nowMs);
      this.current = { now: next, shownMs: null, problem: null, truncated: [] };
      this.emit('show', next);
      this.broadcast();
    }
    if (next.untilMs !== null) {
      this.timer = setTimeout(() => this.recompute(), Math.min(Math.max(0, next.untilMs - nowMs), MAX_TIMER_MS));
    }
  }

  private finish(s: Showing, endedMs: number): void {
    const ranFull = s.now.untilMs === null ? true : endedMs >= s.now.untilMs;
    const result: BoardProofRow['result'] = s.problem ? 'failed' : s.shownMs === null ? 'unconfirmed' : ranFull ? 'completed' : 'interrupted';
    const row: BoardProofRow = {
      key: s.now.key, itemId: s.now.item.id, kind: s.now.item.kind, source: s.now.source,
      shownMs: s.shownMs, endedMs, result, problem: s.problem,
    };
    this.emit('proof', row);
  }

  private showEvent(): string {
    const c = this.current!;
    const item = c.now.item.kind === 'qr' && c.now.item.url ? { ...c.now.item, modules: qrModules(c.now.item.url) } : c.now.item;
    return `event: show\ndata: ${JSON.stringify({ key: c.now.key, item, ticker: c.now.ticker, serverNowMs: this.now() })}\n\n`;
  }

  private blankEvent(): string {
    return `event: blank\ndata: ${JSON.stringify({ blank: this.blanked })}\n\n`;
  }

  private pushBlank(): void {
    if (this.blanked === this.blankPushed) return;
    this.blankPushed = this.blanked;
    const ev = this.blankEvent();
    for (const c of this.clients) c.write(ev);
  }

  private broadcast(): void {
    if (this.clients.size === 0) return;
    const ev = this.showEvent();
    for (const c of this.clients) c.write(ev);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // Loopback only, and only under our own name: a web page elsewhere cannot reach us through DNS rebinding.
    const host = req.headers.host ?? '';
    if (!/^(127\.0\.0\.1|localhost):\d+$/.test(host)) return this.reply(res, 403, 'forbidden host');
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': this.page.csp, 'cache-control': 'no-store' });
      res.end(this.page.html);
      return;
    }
    if (req.method === 'GET' && path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 1000\n\n');
      if (this.current) res.write(this.showEvent());
      res.write(this.blankEvent());
      this.clients.add(res);
      req.on('close', () => this.clients.delete(res));
      return;
    }
    if (req.method === 'GET' && path === '/now') return this.reply(res, 200, JSON.stringify(this.current?.now ?? null), 'application/json');
    if (req.method === 'GET' && (path === '/font/regular' || path === '/font/bold')) {
      return this.sendFile(req, res, path === '/font/bold' ? this.fonts.bold : this.fonts.regular, 'font/ttf');
    }
    const media = /^\/media\/([0-9a-f]{64})$/.exec(path);
    if (req.method === 'GET' && media) {
      const file = this.o.contentPath(media[1]!);
      return file ? this.sendFile(req, res, file, 'application/octet-stream', media[1]!) : this.reply(res, 404, 'not cached');
    }
    if (req.method === 'POST' && path === '/ack') return this.ack(req, res);
    this.reply(res, 404, 'not found');
  }

  private ack(req: IncomingMessage, res: ServerResponse): void {
    if (!this.hasKey(req)) {
      // Transitions, not repeats: the first forgery, then every thousandth.
      if (this.forgedAcks++ % 1000 === 0) this.o.log.warn({ count: this.forgedAcks }, 'proof of display without the board key: refused (a local process, not the kiosk page)');
      req.resume();
      return this.reply(res, 401, 'proof of display needs the key of the page this agent serves');
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => {
      let parsed: z.infer<typeof AckSchema>;
      try {
        parsed = AckSchema.parse(JSON.parse(body));
      } catch {
        return this.reply(res, 400, 'bad ack');
      }
      this.lastAckMs = this.now();
      const c = this.current;
      // An ack for a showing already replaced is late news, not proof.
      if (c && c.now.key === parsed.key) {
        // Behind a black page nobody saw it yet; the page acks again when it shows.
        if (c.shownMs === null && !this.blanked) c.shownMs = this.now();
        const truncated = parsed.truncated ?? [];
        if (truncated.join() !== c.truncated.join()) {
          c.truncated = truncated;
          if (truncated.length > 0) this.o.log.warn({ key: c.now.key, truncated }, 'board text does not fit the screen even at the smallest type: shown cut, marked "…"');
        }
        if (!parsed.ok && c.problem === null) {
          c.problem = parsed.problem ?? 'page could not render the item';
          this.o.log.warn({ key: c.now.key, problem: c.problem }, 'board item failed to render');
        }
      }
      this.reply(res, 204, '');
    });
  }

  /**
   * A file, whole or the range asked for. Media are named by their SHA-256,
   * so their ETag is the name and they never change: the page's cache keeps
   * them, and a rotation shows a video again without reading it again.
   */
  private sendFile(req: IncomingMessage, res: ServerResponse, path: string, type: string, sha?: string): void {
    stat(path).then(
      (s) => {
        const headers = {
          'content-type': type,
          'accept-ranges': 'bytes',
          ...(sha ? { etag: `"${sha}"`, 'cache-control': 'private, max-age=31536000, immutable' } : { 'cache-control': 'no-cache' }),
        };
        if (sha && req.headers['if-none-match']?.split(/\s*,\s*/).includes(`"${sha}"`)) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        const range = byteRange(req.headers.range, s.size);
        if (range === 'unsatisfiable') {
          res.writeHead(416, { ...headers, 'content-range': `bytes */${s.size}` });
          res.end();
          return;
        }
        const part = range === 'whole' ? { start: 0, end: s.size - 1 } : range;
        res.writeHead(range === 'whole' ? 200 : 206, {
          ...headers,
          'content-length': part.end - part.start + 1,
          ...(range === 'whole' ? {} : { 'content-range': `bytes ${part.start}-${part.end}/${s.size}` }),
        });
        if (s.size === 0) {
          res.end();
          return;
        }
        // pipeline, not pipe: when the page drops the connection mid-file (the
        // showing changed while a video loaded), the file is closed too; pipe()
        // would leave it open and paused, one descriptor and buffer per cut.
        pipeline(createReadStream(path, part), res, () => undefined);
      },
      () => this.reply(res, 404, 'file missing'),
    );
  }

  private reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  }
}
