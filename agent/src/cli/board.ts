import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DateTime } from 'luxon';
import { DaemonError } from './client.js';
import type { MessageKey, translator } from './messages.js';
import type { Out } from './render.js';
import { writeFileAtomic } from '../lib/atomic-file.js';

export interface BoardCommandContext {
  rpc: <T>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;
  emit: (result: unknown, kind: string) => void;
  t: ReturnType<typeof translator>;
  out: Out;
  /** The station's time zone: screenshot file names are in its local time. */
  timezone: string;
  limit: number | undefined;
  playlist: string | undefined;
}

/** Refusals field staff meet at the board, in their language rather than the daemon's English. */
const LOCALISED: Record<string, MessageKey> = { 'no-board': 'boardNone', 'no-kiosk': 'boardNoKiosk', emergency: 'boardEmergencyRefused' };

const USAGE = 'loa board status|next [--limit N]|log [--limit N]|screenshot [FILE]|show ITEM [--playlist ID]';

/** `loa board ...`: what the bulletin board shows, what comes next, a screenshot, one item now. */
export async function boardCommand(args: string[], ctx: BoardCommandContext): Promise<number> {
  const { rpc, emit, t, out } = ctx;
  try {
    switch (args[0] ?? 'status') {
      case 'status':
        emit(await rpc('board.status'), 'board-status');
        return 0;
      case 'next':
        emit(await rpc('board.next', { count: ctx.limit ?? 10 }), 'board-next');
        return 0;
      case 'log':
        emit(await rpc('board.log', { limit: ctx.limit ?? 30 }), 'board-log');
        return 0;
      case 'show':
        if (!args[1]) break;
        emit(await rpc('board.show', { item: args[1], playlist: ctx.playlist }), 'board-show');
        return 0;
      case 'screenshot': {
        const shot = await rpc<{ takenMs: number; showingKey: string | null; bytes: number; png: string }>('board.screenshot', {}, 60_000);
        const name = `board-${DateTime.fromMillis(shot.takenMs, { zone: ctx.timezone }).toFormat('yyyyLLdd-HHmmss')}.png`;
        const asked = args[1] === undefined ? undefined : resolve(args[1]);
        const path = asked === undefined ? resolve(name) : existsSync(asked) && statSync(asked).isDirectory() ? join(asked, name) : asked;
        try {
          await writeFileAtomic(path, Buffer.from(shot.png, 'base64'));
        } catch (err) {
          out.stderr.write(t('failed', { message: `${path}: ${(err as Error).message}` }) + '\n');
          return 1;
        }
        emit({ path, bytes: shot.bytes, takenMs: shot.takenMs, showingKey: shot.showingKey }, 'board-screenshot');
        return 0;
      }
    }
  } catch (err) {
    const key = err instanceof DaemonError ? LOCALISED[err.code] : undefined;
    throw key ? new DaemonError((err as DaemonError).code, t(key)) : err;
  }
  out.stderr.write(`usage: ${USAGE}\n`);
  return 2;
}
