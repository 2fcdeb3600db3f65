import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorError } from './control-server.js';
import { cleanField } from '../lib/text.js';

/**
 * Files a technician names, received as bytes over the control socket
 * (`loa play FILE`, `loa cache import FILE`): the service's unit hides home
 * folders and /tmp from it, so the CLI reads the file and the agent writes
 * it here, then imports it into the content cache and deletes it. Bounded
 * in size and number, in order (an offset that is not the next byte is
 * refused), and an upload left idle is dropped.
 */
export interface UploadLimits {
  maxBytes: number;
  maxOpen: number;
  idleMs: number;
}

/** Raw bytes per chunk: base64 of it stays well inside the control socket's 8 MiB line. */
export const UPLOAD_CHUNK_BYTES = 1 << 20;

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxBytes: 512 << 20, maxOpen: 2, idleMs: 60_000 };

interface Upload {
  path: string;
  name: string;
  size: number;
  received: number;
  file: FileHandle;
  touchedMs: number;
}

export class UploadSpool {
  private readonly uploads = new Map<string, Upload>();

  /** Empties `dir` (uploads a crash left behind are incomplete by definition). */
  constructor(
    private readonly dir: string,
    private readonly limits: UploadLimits = DEFAULT_UPLOAD_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true, recursive: true });
  }

  async begin(p: Record<string, unknown>): Promise<{ upload: string; chunkBytes: number }> {
    await this.sweep();
    const size = p.size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) throw new OperatorError('upload-empty', 'the file is empty or its size is unknown');
    if (size > this.limits.maxBytes) {
      throw new OperatorError('upload-too-large', `the file is ${mib(size)} MiB; at most ${mib(this.limits.maxBytes)} MiB can be sent`, { size: mib(size), max: mib(this.limits.maxBytes) });
    }
    if (this.uploads.size >= this.limits.maxOpen) throw new OperatorError('upload-busy', `${this.uploads.size} files are being sent already: try again when they are done`, { n: this.uploads.size });
    const id = randomUUID();
    const path = join(this.dir, id);
    const file = await open(path, 'wx', 0o600);
    this.uploads.set(id, { path, name: cleanField(p.name, 200) || 'upload', size, received: 0, file, touchedMs: this.now() });
    return { upload: id, chunkBytes: UPLOAD_CHUNK_BYTES };
  }

  async chunk(p: Record<string, unknown>): Promise<{ received: number }> {
    const u = this.find(p.upload);
    const data = typeof p.data === 'string' ? Buffer.from(p.data, 'base64') : Buffer.alloc(0);
    if (p.offset !== u.received || data.length === 0 || data.length > UPLOAD_CHUNK_BYTES || u.received + data.length > u.size) {
      await this.drop(String(p.upload));
      throw new OperatorError('upload-broken', `the file arrived out of order or larger than announced (at byte ${u.received} of ${u.size}): send it again`, { at: u.received, size: u.size });
    }
    await u.file.write(data, 0, data.length, u.received);
    u.received += data.length;
    u.touchedMs = this.now();
    return { received: u.received };
  }

  /**
   * Runs `use` on the complete file (its path and the name the technician
   * gave it), then deletes it whatever `use` does.
   */
  async take<T>(id: unknown, use: (path: string, name: string) => Promise<T>): Promise<T> {
    const u = this.find(id);
    try {
      if (u.received !== u.size) throw new OperatorError('upload-broken', `only ${u.received} of ${u.size} bytes arrived: send it again`, { at: u.received, size: u.size });
      // Not synced here: the cache syncs it once it is renamed into place.
      await u.file.close();
      return await use(u.path, u.name);
    } finally {
      await this.drop(String(id));
    }
  }

  async abort(id: unknown): Promise<{ aborted: boolean }> {
    return { aborted: await this.drop(String(id)) };
  }

  /** Uploads idle longer than the limit (the CLI was interrupted), dropped. */
  async sweep(): Promise<void> {
    const cutoff = this.now() - this.limits.idleMs;
    for (const [id, u] of [...this.uploads]) if (u.touchedMs < cutoff) await this.drop(id);
  }

  async close(): Promise<void> {
    for (const id of [...this.uploads.keys()]) await this.drop(id);
  }

  private find(id: unknown): Upload {
    const u = typeof id === 'string' ? this.uploads.get(id) : undefined;
    if (!u) throw new OperatorError('upload-unknown', 'the agent holds no such upload (it was dropped after a minute idle, or the agent restarted): send the file again');
    return u;
  }

  private async drop(id: string): Promise<boolean> {
    const u = this.uploads.get(id);
    if (!u) return false;
    this.uploads.delete(id);
    await u.file.close().catch(() => undefined); // already closed by take()
    await unlink(u.path).catch(() => undefined);
    return true;
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / 1_048_576) * 10) / 10;
}
