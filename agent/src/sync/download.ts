import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat, truncate, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { Backoff, sleep } from '../lib/backoff.js';
import type { ContentStore } from './station-port.js';
import type { ContentEntry } from './target.js';

/**
 * Downloads content named by a target into the cache: HTTP(S) with Range
 * resume (a `.part` file survives a dropped link or a reboot), cut off at
 * the manifest's size (a server sending more cannot fill the SD card) and
 * checked against its SHA-256 before the cache sees it, a bounded number at
 * a time, each retried with backoff.
 */

export interface DownloadOptions {
  dir: string;
  parallel: number;
  attempts: number;
  backoff?: { initialMs: number; maxMs: number };
  /** Pinned CA for https content URLs. */
  ca?: Buffer;
  /** A transfer that receives nothing for this long is abandoned and retried. */
  idleTimeoutMs?: number;
  log: Logger;
}

export interface DownloadFailure {
  sha256: string;
  name: string;
  error: string;
}

export type ProgressFn = (p: { sha256: string; name: string; bytes: number; done: number }) => void;

class PermanentError extends Error {}
/** The server sent more than the manifest's size: other content than the manifest names, not a transfer fault. */
class OversizeError extends PermanentError {}

export class Downloader {
  constructor(private readonly opts: DownloadOptions) {}

  /** Fetches every entry the store lacks; resolves with the ones that could not be had. */
  async fetchAll(entries: readonly ContentEntry[], store: ContentStore, signal: AbortSignal, onProgress: ProgressFn = () => undefined): Promise<DownloadFailure[]> {
    await mkdir(this.opts.dir, { recursive: true });
    const queue = entries.filter((e) => !store.has(e.sha256));
    const failures: DownloadFailure[] = [];
    const worker = async (): Promise<void> => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        signal.throwIfAborted();
        try {
          await this.fetchOne(e, store, signal, onProgress);
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          failures.push({ sha256: e.sha256, name: e.name, error: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.parallel, queue.length) }, worker));
    return failures;
  }

  private async fetchOne(entry: ContentEntry, store: ContentStore, signal: AbortSignal, onProgress: ProgressFn): Promise<void> {
    const part = join(this.opts.dir, `${entry.sha256}.part`);
    const backoff = new Backoff(this.opts.backoff ?? { initialMs: 1000, maxMs: 60_000 });
    let mismatches = 0;
    let lastError = '';
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      try {
        await this.transfer(entry, part, signal, onProgress);
        const digest = await hashFile(part);
        if (digest !== entry.sha256) {
          await unlink(part).catch(() => undefined);
          mismatches++;
          // Once may be a corrupted transfer; twice means the server has other bytes than the manifest says.
          lastError = `hash mismatch: ${entry.url} gave SHA-256 ${digest}, the manifest says ${entry.sha256}`;
          if (mismatches >= 2) throw new PermanentError(lastError);
          continue;
        }
        await store.import(part, entry.name, entry.sha256, entry.kind);
        await unlink(part).catch(() => undefined);
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (err instanceof OversizeError) await unlink(part).catch(() => undefined);
        if (err instanceof PermanentError) throw err;
        lastError = (err as Error).message;
        const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs;
        const delay = backoff.next(retryAfterMs);
        this.opts.log.warn({ content: entry.sha256, name: entry.name, attempt, err: lastError, retryInMs: delay }, 'content download failed; will retry');
        if (attempt < this.opts.attempts) await sleep(delay, signal);
      }
    }
    throw new Error(`${entry.name} (${entry.sha256}): ${lastError} after ${this.opts.attempts} attempts`);
  }

  /** One HTTP exchange, resuming from what the part file holds. */
  private async transfer(entry: ContentEntry, part: string, signal: AbortSignal, onProgress: ProgressFn): Promise<void> {
    let have = await stat(part).then((s) => s.size, () => 0);
    if (have > entry.bytes) {
      await truncate(part, 0);
      have = 0;
    }
    if (have === entry.bytes) return;
    const res = await request(entry.url, have, signal, this.opts.ca, this.opts.idleTimeoutMs ?? 30_000);
    if (res.statusCode === 416) {
      res.resume();
      await truncate(part, 0);
      throw new Error(`server refused to resume at byte ${have}`);
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      res.resume();
      const err = new Error(`HTTP ${res.statusCode} from ${entry.url}`) as Error & { retryAfterMs?: number };
      const ra = Number(res.headers['retry-after']);
      if (Number.isFinite(ra) && ra > 0) err.retryAfterMs = ra * 1000;
      if (res.statusCode === 404 || res.statusCode === 410) throw new PermanentError(err.message);
      throw err;
    }
    const append = res.statusCode === 206 && have > 0;
    let done = append ? have : 0;
    const tooMuch = (bytes: number): OversizeError =>
      new OversizeError(`content problem: ${entry.url} sends ${bytes} bytes or more, the manifest says ${entry.bytes}; stopped and deleted`);
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && done + announced > entry.bytes) {
      res.destroy();
      throw tooMuch(done + announced);
    }
    let lastReport = 0;
    res.on('data', (chunk: Buffer) => {
      done += chunk.length;
      const now = Date.now();
      if (now - lastReport > 1000 || done === entry.bytes) {
        lastReport = now;
        onProgress({ sha256: entry.sha256, name: entry.name, bytes: entry.bytes, done });
      }
    });
    // Counts before writing: not one byte past the manifest's size reaches the disk.
    let written = done;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, next) {
        written += chunk.length;
        if (written > entry.bytes) return next(tooMuch(written));
        next(null, chunk);
      },
    });
    await pipeline(res, cap, createWriteStream(part, { flags: append ? 'a' : 'w' }), { signal });
    if (done !== entry.bytes) throw new Error(`transfer ended at ${done} of ${entry.bytes} bytes`);
  }
}

function request(url: string, from: number, signal: AbortSignal, ca: Buffer | undefined, idleMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    const req = (u.protocol === 'https:' ? https : http).get(u, { headers, signal, ...(ca ? { ca } : {}) }, resolve);
    req.setTimeout(idleMs, () => req.destroy(new Error(`no data from ${u.host} for ${idleMs} ms`)));
    req.on('error', reject);
  });
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}
