/** Shared inputs for the board planner's pure tests. */
import type { z } from 'zod';
import { PlaylistSchema, type Playlist } from '../src/board/playlist.js';

export const TZ = 'Asia/Ho_Chi_Minh';
/** Station local time (UTC+7, no DST) as epoch ms. */
export const local = (s: string): number => Date.parse(`${s}+07:00`);

export const playlist = (over: Partial<z.input<typeof PlaylistSchema>> & { id: string }): Playlist =>
  PlaylistSchema.parse({ items: [{ kind: 'clock', id: 'c', durationS: 10 }], ...over });

/** A notice for 20 s, then the clock for 10 s. */
export const defaults = playlist({
  id: 'default',
  items: [
    { kind: 'notice', id: 'n1', durationS: 20, title: 'Thông báo', body: 'Họp dân', issuer: 'UBND xã' },
    { kind: 'clock', id: 'clock', durationS: 10 },
  ],
});
