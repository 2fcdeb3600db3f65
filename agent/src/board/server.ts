import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isValidTimezone } from '../schedule/planner.js';
import { playerPage, type PlayerPage } from './page.js';
import {
  boardNow, BoardEmergencySchema, BoardScheduleSchema,
  type BoardEmergency, type BoardEmergencyInput, type BoardNow, type BoardSchedule, type BoardScheduleInput,
} from './playlist.js';

/** Debian `fonts-noto-core`: Noto Sans covers every Vietnamese letter and tone mark. */
export const DEFAULT_BOARD_FONTS = {
  regular: '/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf',
  bold: '/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf',
} as const;

/** Proof of display: one row per showing, like a play-log row. */
export interface BoardProofRow {
  key: string;
  itemId: string;
  kind: string;
  /** Playlist id, 'emergency' or 'fallback'. */
  source: string;
  /** When the page confirmed it on screen; null if no page ever did. */
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
  fonts?: { regular: string; bold: string };
  now?: () => number;
}

interface Showing {
  now: BoardNow;
  shownMs: number | null;
  problem: string | null;
}

const AckSchema = z.object({ key: z.string().max(400), ok: z.boolean(), problem: z.string().max(500).optional() });
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
  private current: Showing | null = null;
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
    // Until the province sends a schedule, the board shows the date and time.
    this.schedule = BoardScheduleSchema.parse({ defaultPlaylist: { id: 'builtin', items: [{ kind: 'clock', id: 'clock', durationS: 60 }] } });
  }

  async start(): Promise<void> {
    for (const [weight, path] of Object.entries(this.fonts)) {
      await access(path).catch(() =>
        this.o.log.error({ weight, path }, 'board font missing: Vietnamese may render with the wrong font (install Debian fonts-noto-core)'),
      );
    }
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

  get url(): string {
    if (!this.server) throw new Error('board server is not started');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
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

  /** The arbiter's emergency, or null when it ends or is cancelled. Pushed to the page at once. */
  setEmergency(input: BoardEmergencyInput | null): void {
    const next = input === null ? null : BoardEmergencySchema.parse(input);
    if (JSON.stringify(next) === JSON.stringify(this.emergency)) return;
    this.emergency = next;
    this.o.log.warn({ emergency: next?.key ?? null }, next ? 'board emergency takeover' : 'board emergency ended');
    this.recompute();
  }

  /** What the board shows now (null before start). */
  showing(): BoardNow | null {
    return this.current?.now ?? null;
  }

  private recompute(): void {
    if (!this.server) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const nowMs = this.now();
    const next = boardNow(nowMs, this.o.timezone, this.schedule.playlists, this.schedule.defaultPlaylist, this.emergency, {
      hasContent: (sha) => this.o.contentPath(sha) !== null,
    });
    if (next.key !== this.current?.now.key) {
      if (this.current) this.finish(this.current, nowMs);
      this.current = { now: next, shownMs: null, problem: null };
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
    return `event: show\ndata: ${JSON.stringify({ key: c.now.key, item: c.now.item, ticker: c.now.ticker, serverNowMs: this.now() })}\n\n`;
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
      this.clients.add(res);
      req.on('close', () => this.clients.delete(res));
      return;
    }
    if (req.method === 'GET' && path === '/now') return this.reply(res, 200, JSON.stringify(this.current?.now ?? null), 'application/json');
    if (req.method === 'GET' && (path === '/font/regular' || path === '/font/bold')) {
      return this.sendFile(res, path === '/font/bold' ? this.fonts.bold : this.fonts.regular, 'font/ttf');
    }
    const media = /^\/media\/([0-9a-f]{64})$/.exec(path);
    if (req.method === 'GET' && media) {
      const file = this.o.contentPath(media[1]!);
      return file ? this.sendFile(res, file, 'application/octet-stream') : this.reply(res, 404, 'not cached');
    }
    if (req.method === 'POST' && path === '/ack') return this.ack(req, res);
    this.reply(res, 404, 'not found');
  }

  private ack(req: IncomingMessage, res: ServerResponse): void {
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
      const c = this.current;
      // An ack for a showing already replaced is late news, not proof.
      if (c && c.now.key === parsed.key) {
        if (c.shownMs === null) c.shownMs = this.now();
        if (!parsed.ok && c.problem === null) {
          c.problem = parsed.problem ?? 'page could not render the item';
          this.o.log.warn({ key: c.now.key, problem: c.problem }, 'board item failed to render');
        }
      }
      this.reply(res, 204, '');
    });
  }

  private sendFile(res: ServerResponse, path: string, type: string): void {
    stat(path).then(
      (s) => {
        res.writeHead(200, { 'content-type': type, 'content-length': s.size, 'cache-control': 'no-cache' });
        createReadStream(path).on('error', () => res.destroy()).pipe(res);
      },
      () => this.reply(res, 404, 'file missing'),
    );
  }

  private reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  }
}
