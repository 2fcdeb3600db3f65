import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';

export const BY_ID_DIR = '/dev/serial/by-id';

/**
 * What a configured serial path points at now. A USB adapter's ttyUSBn name
 * changes with plug order; its /dev/serial/by-id link does not. The client
 * always opens the configured path (so a replug behind a by-id link is
 * found again); this only tells the log which device that is, and which
 * stable name the operator should have configured instead of a bare tty.
 */
export interface SerialPathInfo {
  path: string;
  /** The device node the path resolves to now. */
  device: string;
  /** A /dev/serial/by-id name for the same device, when `path` is not one. */
  stableAlias: string | null;
}

/** Throws a clear error when nothing is there (unplugged). */
export async function describeSerialPath(path: string, byIdDir = BY_ID_DIR): Promise<SerialPathInfo> {
  let device: string;
  try {
    device = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `no serial device at ${path} (unplugged, or the wrong name?)` : `cannot resolve serial path ${path}: ${(err as Error).message}`);
  }
  let stableAlias: string | null = null;
  if (!path.startsWith(`${byIdDir}/`)) {
    const names = await readdir(byIdDir).catch(() => [] as string[]);
    for (const n of names) {
      const candidate = join(byIdDir, n);
      if ((await realpath(candidate).catch(() => null)) === device) {
        stableAlias = candidate;
        break;
      }
    }
  }
  return { path, device, stableAlias };
}
