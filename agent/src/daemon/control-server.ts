import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/**
 * The daemon's local door for field staff: newline-delimited JSON over a
 * unix socket (mode 0660, so only root and the loa group can command the
 * station). One request per line: { id, method, params } -> { id, ok, result | error }.
 */
export type Handler = (params: Record<string, unknown>) => Promise<unknown> | unknown;

export class OperatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_LINE = 1 << 20;

export function startControlServer(path: string, handlers: Record<string, Handler>, log: Logger): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) unlinkSync(path); // a stale socket from a crash
  const server = createServer((socket) => serve(socket, handlers, log));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      chmodSync(path, 0o660);
      resolve(server);
    });
  });
}

function serve(socket: Socket, handlers: Record<string, Handler>, log: Logger): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_LINE) {
      socket.end(JSON.stringify({ id: null, ok: false, error: { code: 'too-large', message: 'request larger than 1 MiB' } }) + '\n');
      return;
    }
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      void answer(line, handlers, log).then((reply) => {
        if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
      });
    }
  });
}

async function answer(line: string, handlers: Record<string, Handler>, log: Logger): Promise<unknown> {
  let msg: { id?: unknown; method?: unknown; params?: unknown };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return { id: null, ok: false, error: { code: 'bad-json', message: 'request is not JSON' } };
  }
  const id = msg.id ?? null;
  const handler = typeof msg.method === 'string' && Object.hasOwn(handlers, msg.method) ? handlers[msg.method] : undefined;
  if (!handler) return { id, ok: false, error: { code: 'unknown-method', message: `unknown method ${String(msg.method)}` } };
  try {
    const params = msg.params && typeof msg.params === 'object' ? (msg.params as Record<string, unknown>) : {};
    return { id, ok: true, result: await handler(params) };
  } catch (err) {
    if (err instanceof OperatorError) return { id, ok: false, error: { code: err.code, message: err.message } };
    log.error({ err, method: msg.method }, 'control request failed');
    return { id, ok: false, error: { code: 'internal', message: (err as Error).message } };
  }
}
