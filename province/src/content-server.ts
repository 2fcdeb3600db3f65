import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { ContentEntry } from '../../agent/src/sync/target.js';

/**
 * The province's content server: files by SHA-256 over HTTP with byte
 * ranges, so stations resume interrupted downloads. Fault injection
 * (`faults`) lets tests cut a transfer midway or serve wrong bytes.
 */

export interface ContentFaults {
  /** Close the connection after this many body bytes, this many times. */
  cutAfterBytes?: number;
  cuts?: number;
  /** Serve these bytes instead of the file (a hash mismatch). */
  corrupt?: Set<string>;
  /** Wait this long before answering each request (a slow link). */
  delayMs?: number;
  /** Answer this many requests with 503 (a server down for a while). */
  unavailable?: number;
}

export class ContentServer {
  private readonly files = new Map<string, { path: string; name: string; bytes: number }>();
  private server?: http.Server;
  readonly faults: ContentFaults = {};
  /** Requests seen, with their Range header (tests check resumes). */
  readonly requests: Array<{ sha256: string; range?: string }> = [];

  constructor(private readonly host = '127.0.0.1') {}

  /** Adds a file; returns its manifest entry (URL valid once listening). */
  add(path: string, name = basename(path), kind: ContentEntry['kind'] = 'audio'): ContentEntry {
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    const bytes = statSync(path).size;
    this.files.set(sha256, { path, name, bytes });
    return { sha256, kind, name, bytes, url: this.urlFor(sha256) };
  }

  urlFor(sha256: string): string {
    const port = (this.server?.address() as AddressInfo | null)?.port ?? 0;
    return `http://${this.host}:${port}/content/${sha256}`;
  }

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, this.host, resolve));
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.faults.delayMs) {
      setTimeout(() => this.serve(req, res), this.faults.delayMs);
      return;
    }
    this.serve(req, res);
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (res.destroyed) return;
    const m = /^\/content\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const file = m ? this.files.get(m[1]!) : undefined;
    if (!m || !file) {
      res.writeHead(404).end('no such content\n');
      return;
    }
    const sha256 = m[1]!;
    this.requests.push({ sha256, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if ((this.faults.unavailable ?? 0) > 0) {
      this.faults.unavailable! -= 1;
      res.writeHead(503).end('down for maintenance\n');
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= file.bytes) {
        res.writeHead(416, { 'content-range': `bytes */${file.bytes}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': file.bytes - start, 'content-range': `bytes ${start}-${file.bytes - 1}/${file.bytes}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': file.bytes, 'accept-ranges': 'bytes' });
    }
    if (this.faults.corrupt?.has(sha256)) {
      res.end(Buffer.alloc(file.bytes - start, 0x55));
      return;
    }
    const stream = createReadStream(file.path, { start });
    const cut = this.faults.cutAfterBytes;
    if (cut !== undefined && (this.faults.cuts ?? 0) > 0) {
      this.faults.cuts = (this.faults.cuts ?? 0) - 1;
      let sent = 0;
      stream.on('data', (chunk) => {
        const b = chunk as Buffer;
        const room = cut - sent;
        if (room <= 0) return;
        res.write(b.subarray(0, room));
        sent += Math.min(room, b.length);
        if (sent >= cut) {
          stream.destroy();
          // Let the bytes reach the client, then drop the connection as a failing 3G link would.
          setTimeout(() => res.socket?.destroy(), 50);
        }
      });
      return;
    }
    stream.pipe(res);
  }
}
