import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { CliError } from './validate.js';

type Rpc = <T>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;

/**
 * Sends the bytes of a file the technician names to the agent
 * (daemon/upload-spool.ts), chunk by chunk, and returns the upload's id for
 * `play` or `cache.import`. The agent never needs to see the path: under its
 * unit, home folders and /tmp are hidden from it.
 */
export async function sendFile(rpc: Rpc, path: string): Promise<string> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? 'file-missing' : code === 'EACCES' ? 'file-denied' : 'file-unreadable', { file: path, reason: (err as Error).message }, 1);
  }
  try {
    const st = await file.stat();
    if (!st.isFile()) throw new CliError('not-a-file', { file: path }, 1);
    const { upload, chunkBytes } = await rpc<{ upload: string; chunkBytes: number }>('upload.begin', { size: st.size, name: basename(path) });
    try {
      const buf = Buffer.alloc(chunkBytes);
      for (let offset = 0; offset < st.size; ) {
        const { bytesRead } = await file.read(buf, 0, chunkBytes, offset);
        if (bytesRead === 0) throw new CliError('file-unreadable', { file: path, reason: `it shrank to ${offset} bytes while being sent` }, 1);
        await rpc('upload.chunk', { upload, offset, data: buf.subarray(0, bytesRead).toString('base64') });
        offset += bytesRead;
      }
    } catch (err) {
      await rpc('upload.abort', { upload }).catch(() => undefined);
      throw err;
    }
    return upload;
  } finally {
    await file.close();
  }
}
