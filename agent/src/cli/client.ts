import { connect } from 'node:net';

export class DaemonUnavailable extends Error {}
export class DaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One call to the running daemon over its control socket. */
export function call<T = unknown>(socketPath: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DaemonError('timeout', `no answer from the agent within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' ? new DaemonUnavailable(err.code) : err);
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.end();
      const reply = JSON.parse(buffer.slice(0, nl)) as { ok: boolean; result?: T; error?: { code: string; message: string } };
      if (reply.ok) resolve(reply.result as T);
      else reject(new DaemonError(reply.error?.code ?? 'error', reply.error?.message ?? 'failed'));
    });
  });
}
