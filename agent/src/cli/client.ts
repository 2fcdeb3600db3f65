import { connect } from 'node:net';

/** No agent at the socket (ENOENT, ECONNREFUSED) or no permission to it (EACCES). */
export class DaemonUnavailable extends Error {}

/** The agent's refusal: its stable code and params (translated by the CLI), its English message. */
export class DaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/**
 * One call to the running daemon over its control socket. Always settles:
 * with the answer, the daemon's error, or a clear error of its own when the
 * agent closes the connection without answering, answers garbage, or says
 * nothing for `timeoutMs`.
 */
export function call<T = unknown>(socketPath: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let buffer = '';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new DaemonError('timeout', `no answer from the agent within ${timeoutMs / 1000} s`, { seconds: timeoutMs / 1000 }))), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      settle(() => reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' ? new DaemonUnavailable(err.code) : err)));
    // The agent went away mid-request (it crashed or was restarted).
    socket.on('close', () => settle(() => reject(new DaemonError('closed', 'the agent closed the connection without answering'))));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      let reply: { ok: boolean; result?: T; error?: { code: string; message: string; params?: Record<string, string | number> } };
      try {
        reply = JSON.parse(buffer.slice(0, nl)) as typeof reply;
      } catch {
        return settle(() => reject(new DaemonError('bad-reply', 'the agent answered something that is not JSON')));
      }
      settle(() => (reply.ok ? resolve(reply.result as T) : reject(new DaemonError(reply.error?.code ?? 'error', reply.error?.message ?? 'failed', reply.error?.params ?? {}))));
    });
  });
}
