import type { Logger } from 'pino';
import { BoardServer } from '../board/server.js';

/**
 * The enrolment code full screen on the bulletin board, with a QR code the
 * province operator scans: the board's own server and page, showing one QR
 * item, on the board's port. That port is free on a controller not yet
 * enrolled (no agent runs); when the agent holds it, the terminal alone shows
 * the code.
 */
export async function showCodeOnBoard(o: { port: number; timezone: string; code: string; url: string; log: Logger }): Promise<BoardServer | null> {
  const board = new BoardServer({ log: o.log, timezone: o.timezone, port: o.port, contentPath: () => null });
  board.setSchedule({
    defaultPlaylist: {
      id: 'enrolment',
      items: [{
        kind: 'qr',
        id: 'enrolment-code',
        durationS: 3600,
        url: o.url,
        title: `Mã đăng ký / Enrolment code: ${o.code}`,
        caption: 'Đọc mã này cho cán bộ tỉnh, hoặc để họ quét mã QR. Read this code to the province operator, or let them scan the QR code.',
      }],
    },
  });
  try {
    await board.start();
    return board;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return null;
    throw err;
  }
}
