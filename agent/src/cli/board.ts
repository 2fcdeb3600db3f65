import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DateTime } from 'luxon';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { CliError } from './validate.js';

export interface BoardCommandContext {
  rpc: <T>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;
  emit: (result: unknown, kind: string) => void;
  /** The station's time zone: screenshot file names are in its local time. */
  timezone: string;
  limit: number | undefined;
  playlist: string | undefined;
  /** Refuses the arguments with the command's usage (throws). */
  usage: () => never;
}

/** `loa board ...`: what the bulletin board shows, what comes next, a screenshot, one item now. */
export async function boardCommand(args: string[], ctx: BoardCommandContext): Promise<number> {
  const { rpc, emit } = ctx;
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
        throw new CliError('file-unwritable', { file: path, reason: (err as Error).message }, 1);
      }
      emit({ path, bytes: shot.bytes, takenMs: shot.takenMs, showingKey: shot.showingKey }, 'board-screenshot');
      return 0;
    }
  }
  return ctx.usage();
}
