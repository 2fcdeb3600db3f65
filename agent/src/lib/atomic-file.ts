import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that after a power cut it holds either the old or the new
 * content, never a mix: temp file in the same directory, fsync, rename,
 * fsync the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number; owner?: { uid: number; gid: number } } = {}): Promise<void> {
  const tmp = tempPathFor(path);
  // Created with its final mode and owner: a secret is never readable by others, not even for a moment.
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    if (opts.mode !== undefined) await fh.chmod(opts.mode);
    if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await commitTemp(tmp, path);
}

/** A temp path beside `path` that startup scans recognise as leftover (`.tmp-` prefix). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${randomBytes(4).toString('hex')}`);
}

/** Renames a fully written and fsynced temp file into place, then makes the rename durable. */
export async function commitTemp(tmp: string, path: string): Promise<void> {
  await rename(tmp, path);
  await fsyncDirectory(dirname(path));
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
