import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/**
 * The daemon's local door for field staff: newline-delimited JSON over a
 * unix socket (mode 0660, so only root and the loa group can command the
 * station). One request per line: { id, method, params } -> { id, ok, result | error }.
 * Every request gets its answer, or the connection is closed after a line
 * that says why: nothing a client sends can leave it waiting.
 */
export type Handler = (params: Record<string, unknown>) => Promise<unknown> | unknown;

/**
 * A refusal for the operator: a stable `code` and its `params` go over the
 * socket so the CLI can say it in the operator's language (cli/messages.ts
 * `err_<code>`); `message` is the English fallback for other clients.
 */
export class OperatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** Texts are cut to their bounds inside (lib/text.ts); this only stops a runaway client. */
const MAX_LINE = 8 << 20;

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
  let refused = false;
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    if (refused) return;
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      void answer(line, handlers, log).then((reply) => {
        if (!socket.destroyed) socket.write(encode(reply, log));
      });
    }
    if (buffer.length > MAX_LINE) {
      refused = true;
      buffer = '';
      log.warn({ bytes: MAX_LINE }, 'control request too large: refused');
      socket.end(JSON.stringify({ id: null, ok: false, error: { code: 'too-large', message: `request larger than ${MAX_LINE >> 20} MiB: refused`, params: { mib: MAX_LINE >> 20 } } }) + '\n');
    }
  });
}

interface Reply {
  id: unknown;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; params?: Record<string, string | number> };
}

/** A reply that cannot be serialised (a cycle, a BigInt) still goes out, as an error. */
function encode(reply: Reply, log: Logger): string {
  try {
    return JSON.stringify(reply) + '\n';
  } catch (err) {
    log.error({ err }, 'control reply could not be encoded');
    const id = typeof reply.id === 'number' || typeof reply.id === 'string' ? reply.id : null;
    return JSON.stringify({ id, ok: false, error: { code: 'internal', message: `the answer could not be encoded: ${(err as Error).message}` } }) + '\n';
  }
}

async function answer(line: string, handlers: Record<string, Handler>, log: Logger): Promise<Reply> {
  let msg: { id?: unknown; method?: unknown; params?: unknown };
  try {
    msg = JSON.parse(line) as typeof msg;
    if (msg === null || typeof msg !== 'object') throw new Error('not an object');
  } catch {
    return { id: null, ok: false, error: { code: 'bad-json', message: 'request is not a JSON object' } };
  }
  const id = msg.id ?? null;
  const handler = typeof msg.method === 'string' && Object.hasOwn(handlers, msg.method) ? handlers[msg.method] : undefined;
  if (!handler) return { id, ok: false, error: { code: 'unknown-method', message: `unknown method ${String(msg.method).slice(0, 80)}`, params: { method: String(msg.method).slice(0, 80) } } };
  try {
    const params = msg.params && typeof msg.params === 'object' ? (msg.params as Record<string, unknown>) : {};
    return { id, ok: true, result: await handler(params) };
  } catch (err) {
    if (err instanceof OperatorError) return { id, ok: false, error: { code: err.code, message: err.message, params: err.params } };
    log.error({ err, method: msg.method }, 'control request failed');
    const detail = err instanceof Error ? err.message : String(err);
    return { id, ok: false, error: { code: 'internal', message: detail, params: { detail: detail.slice(0, 300) } } };
  }
}
