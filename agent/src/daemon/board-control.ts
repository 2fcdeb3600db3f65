import { BoardOverrideRefused, type BoardServer } from '../board/server.js';
import type { ShownItem } from '../board/playlist.js';
import type { KioskHealth } from '../board/kiosk-watch.js';
import { OperatorError, type Handler } from './control-server.js';

export interface BoardControlDeps {
  board: BoardServer;
  /** What the panel shows, as PNG (the kiosk watch's screenshot); null when no kiosk browser is configured. */
  screenshot: (() => Promise<Buffer>) | null;
  /** Screen power (DisplayController.status()): what it should be, the driver, and why the panel did not switch. */
  display?: () => { on: boolean | null; driver: string; problem?: string | null } | null;
  /** The kiosk watch's last probe; null before the first. Absent: nobody watches the kiosk browser. */
  kiosk?: () => KioskHealth | null;
  now?: () => number;
}

type BoardMethod = 'board.status' | 'board.next' | 'board.screenshot' | 'board.show';

/** How many showings `board.next` lists at most: more than anyone reads on a terminal. */
const MAX_NEXT = 100;

/**
 * Field staff's view of the bulletin board through the control socket
 * (`loa board ...`): what shows, what comes next, a screenshot of the panel,
 * and one item put on screen now.
 */
export function boardHandlers(deps: BoardControlDeps): Record<BoardMethod, Handler> {
  const { board } = deps;
  const now = deps.now ?? Date.now;
  return {
    'board.status': () => {
      const s = board.showing();
      return {
        url: board.url,
        emergency: s?.source === 'emergency',
        blanked: board.blanked,
        showing: s && { key: s.key, itemId: s.item.id, kind: s.item.kind, source: s.source, label: itemLabel(s.item), sinceMs: s.startedMs, untilMs: s.untilMs },
        pages: board.pages(),
        kiosk: deps.kiosk ? { health: deps.kiosk() } : null,
        display: deps.display?.() ?? null,
      };
    },
    'board.next': (p) => {
      const count = typeof p.count === 'number' && Number.isInteger(p.count) && p.count > 0 ? Math.min(p.count, MAX_NEXT) : 10;
      return {
        emergency: board.showing()?.source === 'emergency',
        showings: board.upcoming(count).map((s) => ({ itemId: s.item.id, kind: s.item.kind, source: s.source, label: itemLabel(s.item), startMs: s.startMs, endMs: s.endMs })),
      };
    },
    'board.screenshot': async () => {
      if (!deps.screenshot) {
        throw new OperatorError('no-kiosk', 'no kiosk browser is configured (board.kiosk in the configuration): the agent cannot see the panel');
      }
      const key = board.showing()?.key ?? null;
      let png: Buffer;
      try {
        png = await deps.screenshot();
      } catch (err) {
        const detail = (err as Error).message.split('\n')[0]!;
        throw new OperatorError('kiosk', `the kiosk browser gave no screenshot: ${detail}`, { detail });
      }
      return { takenMs: now(), showingKey: key, bytes: png.length, png: png.toString('base64') };
    },
    'board.show': (p) => {
      if (typeof p.item !== 'string' || p.item === '') throw new OperatorError('bad-request', 'which item? (an item id of the board schedule)');
      try {
        const s = board.showItem(p.item, typeof p.playlist === 'string' ? { playlist: p.playlist } : {});
        return { key: s.key, itemId: s.item.id, kind: s.item.kind, label: itemLabel(s.item), startMs: s.startedMs, untilMs: s.untilMs, blanked: board.blanked };
      } catch (err) {
        if (err instanceof BoardOverrideRefused) throw new OperatorError(err.code, err.message, err.params);
        throw err;
      }
    },
  };
}

/** The same methods on a station without a board: a clear answer instead of "unknown method". */
export function noBoardHandlers(): Record<BoardMethod, Handler> {
  const refuse = (): never => {
    throw new OperatorError('no-board', 'this station has no bulletin board (no "board" section in the configuration)');
  };
  return { 'board.status': refuse, 'board.next': refuse, 'board.screenshot': refuse, 'board.show': refuse };
}

/** One line naming the item for a person: its title, text or caption, shortened. */
function itemLabel(item: ShownItem): string {
  const text = 'title' in item ? item.title : 'text' in item ? item.text : 'caption' in item ? item.caption : '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}
