/**
 * The kiosk's end of its DevTools (bin/loa-board-devtools.js, run by
 * systemd/loa-board.service under cage): starts Chromium with
 * --remote-debugging-pipe and carries its pipe over the Unix socket that
 * systemd passes in (loa-board.socket, file permissions: the agent's group).
 * No TCP port: a local user outside that group cannot drive the board or
 * read its key.
 *
 * Several clients may be connected (the agent, a technician's tool run as
 * loa): each command's id is renumbered on the way in and restored on the
 * way out, events of a page session go to the client that attached it, and
 * a client's sessions are detached when it goes, so reconnecting agents
 * leave nothing behind in the browser.
 */
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { NulFrames, type DevtoolsMessage } from './devtools.js';

/** sd_listen_fds(3): the first passed socket. */
const SD_LISTEN_FDS_START = 3;

interface Client { socket: Socket; sessions: Set<string> }

/** Why the relay cannot start, before anything runs; null if it can. */
export function relayProblem(command: string[], env: NodeJS.ProcessEnv, pids: { pid: number; ppid: number }): string | null {
  if (command.length === 0) return 'no browser command given';
  if (!command.includes('--remote-debugging-pipe')) return 'the browser command lacks --remote-debugging-pipe';
  if (command.some((a) => a.startsWith('--remote-debugging-port'))) return 'the browser command opens a DevTools TCP port (--remote-debugging-port): remove it';
  // The compositor (cage) sits between systemd and us: the socket was passed to our parent.
  const forUs = [pids.pid, pids.ppid].map(String).includes(env.LISTEN_PID ?? '');
  if (env.LISTEN_FDS !== '1' || !forUs) return 'no DevTools socket passed by systemd (LISTEN_FDS=1): start loa-board.service through loa-board.socket';
  return null;
}

/** Runs the browser and the relay until the browser exits; resolves with its exit code. */
export function runDevtoolsRelay(command: string[], log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const problem = relayProblem(command, env, { pid: process.pid, ppid: process.ppid });
  if (problem) {
    log.error({ problem }, 'kiosk DevTools relay cannot start');
    return Promise.resolve(78);
  }
  const { LISTEN_FDS: _fds, LISTEN_PID: _pid, LISTEN_FDNAMES: _names, ...browserEnv } = env;
  const browser = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'], env: browserEnv });
  const toBrowser = browser.stdio[3] as Writable;
  const fromBrowser = browser.stdio[4] as Readable;
  const clients = new Set<Client>();
  const pending = new Map<number, { client: Client | null; id: number; attach: boolean }>();
  let nextId = 1;

  const toBrowserMessage = (m: DevtoolsMessage): void => void toBrowser.write(`${JSON.stringify(m)}\0`);
  const toClient = (c: Client, m: DevtoolsMessage): void => void c.socket.write(`${JSON.stringify(m)}\0`);

  const server = createServer((socket) => {
    const client: Client = { socket, sessions: new Set() };
    clients.add(client);
    const frames = new NulFrames();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const text of frames.push(chunk)) {
          const m = JSON.parse(text) as DevtoolsMessage;
          if (!Number.isSafeInteger(m.id) || typeof m.method !== 'string') throw new Error('a DevTools command needs an integer id and a method');
          const id = nextId++;
          pending.set(id, { client, id: m.id!, attach: m.method === 'Target.attachToTarget' });
          toBrowserMessage({ ...m, id });
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'DevTools client sent something unusable; disconnected');
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clients.delete(client);
      for (const sessionId of client.sessions) {
        const id = nextId++;
        pending.set(id, { client: null, id, attach: false });
        toBrowserMessage({ id, method: 'Target.detachFromTarget', params: { sessionId } });
      }
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'DevTools socket failed'));
  server.listen({ fd: SD_LISTEN_FDS_START });

  const frames = new NulFrames();
  fromBrowser.on('data', (chunk: Buffer) => {
    let messages: DevtoolsMessage[];
    try {
      messages = frames.push(chunk).map((text) => JSON.parse(text) as DevtoolsMessage);
    } catch (err) {
      // Not Chromium speaking any more: end it, and the unit starts a fresh one.
      log.error({ err: (err as Error).message }, 'kiosk browser pipe unusable; stopping the browser');
      browser.kill('SIGKILL');
      return;
    }
    for (const m of messages) {
      if (m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (!p?.client || !clients.has(p.client)) continue;
        const sessionId = m.result?.sessionId;
        if (p.attach && typeof sessionId === 'string') p.client.sessions.add(sessionId);
        toClient(p.client, { ...m, id: p.id });
      } else if (m.sessionId !== undefined) {
        for (const c of clients) if (c.sessions.has(m.sessionId)) toClient(c, m);
      } else {
        const detached = m.method === 'Target.detachedFromTarget' ? m.params?.sessionId : undefined;
        for (const c of clients) {
          if (typeof detached === 'string') c.sessions.delete(detached);
          toClient(c, m);
        }
      }
    }
  });

  // systemd signals the whole unit; a test or a shell signals only us: the browser goes either way.
  const forward = (sig: NodeJS.Signals): void => void browser.kill(sig);
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  log.info({ browser: command[0], pid: browser.pid }, 'kiosk browser started; DevTools on the unit socket only');
  return new Promise((resolve) => {
    const end = (code: number): void => {
      server.close();
      for (const c of clients) c.socket.destroy();
      process.off('SIGTERM', forward);
      process.off('SIGINT', forward);
      resolve(code);
    };
    browser.once('error', (err) => {
      log.error({ err: err.message }, 'kiosk browser could not start');
      end(1);
    });
    browser.once('exit', (code, signal) => {
      log.warn({ code, signal }, 'kiosk browser exited');
      end(code ?? 1);
    });
  });
}
