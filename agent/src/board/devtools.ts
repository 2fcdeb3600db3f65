/**
 * The kiosk browser's DevTools Protocol without a TCP port. Chromium runs
 * with --remote-debugging-pipe (commands in on its fd 3, answers out on fd
 * 4, each JSON message ended by a NUL byte); the relay in the kiosk's unit
 * (devtools-relay.ts) carries that framing over a Unix socket that systemd
 * creates with file permissions (systemd/loa-board.socket: the agent's group
 * only). This is the agent's end.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/**
 * A screenshot of a 4K panel as base64 PNG is a few MB; anything far larger
 * is not DevTools talking, and a buffer without bound is how a stuck peer
 * takes the process's memory.
 */
export const MAX_DEVTOOLS_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Splits a byte stream into NUL-terminated messages. */
export class NulFrames {
  private parts: Buffer[] = [];
  private size = 0;

  /** The whole messages completed by this chunk; throws past the size bound. */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0, start); end !== -1; end = chunk.indexOf(0, start)) {
      this.parts.push(chunk.subarray(start, end));
      out.push(Buffer.concat(this.parts).toString('utf8'));
      this.parts = [];
      this.size = 0;
      start = end + 1;
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      if (this.size > MAX_DEVTOOLS_MESSAGE_BYTES) throw new Error(`DevTools message over ${MAX_DEVTOOLS_MESSAGE_BYTES} bytes`);
      this.parts.push(chunk.subarray(start));
    }
    return out;
  }
}

export interface DevtoolsMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/**
 * One DevTools connection over the kiosk's socket. Calls time out; a closed
 * or broken socket fails every pending call at once. Emits 'close'.
 */
export class DevtoolsClient extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    const frames = new NulFrames();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const text of frames.push(chunk)) this.receive(JSON.parse(text) as DevtoolsMessage);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', () => undefined); // 'close' follows and says it
    socket.on('close', () => this.fail(new Error('DevTools connection closed')));
  }

  static connect(path: string, timeoutMs: number): Promise<DevtoolsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no DevTools connection on ${path} within ${timeoutMs} ms`)); }, timeoutMs);
      socket.once('error', (err) => { clearTimeout(timer); reject(new Error(`DevTools socket ${path}: ${err.message}`)); });
      socket.once('connect', () => { clearTimeout(timer); resolve(new DevtoolsClient(socket)); });
    });
  }

  get connected(): boolean {
    return !this.closed;
  }

  /** One command; `sessionId` addresses a page attached with Target.attachToTarget (flatten). */
  send(method: string, params: Record<string, unknown> = {}, o: { sessionId?: string; timeoutMs: number }): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('DevTools connection closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out after ${o.timeoutMs} ms`));
      }, o.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(`${JSON.stringify({ id, method, params, ...(o.sessionId ? { sessionId: o.sessionId } : {}) })}\0`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(m: DevtoolsMessage): void {
    if (m.id === undefined) return; // events: nothing here listens to them
    const p = this.pending.get(m.id);
    if (!p) return; // answered after its timeout
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error) p.reject(new Error(`DevTools: ${m.error.message}`));
    else p.resolve(m.result ?? {});
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.emit('close');
  }
}
