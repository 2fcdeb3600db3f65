/** Real headless Chromium for the board's tests: Debian's browser, started the way STACK.md says works here. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';
import { DevtoolsClient } from '../src/board/devtools.js';
import { transpile } from './transpile-fixture.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Without the networking flags Chromium floods a closed network with refused connections. */
export const HEADLESS_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A browser of the test's own, with a fresh profile, driven by playwright-core. */
export function launchBrowser(profile: string, viewport: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: HEADLESS_ARGS, viewport });
}

/** A loopback TCP port nobody listens on (for a kiosk browser's DevTools endpoint). */
export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** `node bin/loa-board-devtools.js`, from the sources transpiled (a TypeScript loader would take seconds to start it). */
export const devtoolsRelay = (): string[] => [process.execPath, transpile(['agent/test/devtools-relay-child.ts'])[0]!];

export interface Kiosk {
  /** The DevTools socket (loa-board.socket's ListenStream). */
  socket: string;
  child: ChildProcess;
  /** SIGKILL to the whole kiosk (relay and browser), as a crash would; resolves when all are gone. */
  kill(): Promise<void>;
}

/**
 * Runs `command` the way systemd runs loa-board.service behind
 * loa-board.socket: systemd-socket-activate listens on `socket` and passes
 * it (LISTEN_FDS) to the command, which it starts at the first connection;
 * resolves once DevTools answers there with a page at `pageUrl`.
 */
export async function startSocketActivated(socket: string, command: string[], o: { pageUrl: string; env?: NodeJS.ProcessEnv; stderr?: (s: string) => void }): Promise<Kiosk> {
  const child = spawn('systemd-socket-activate', ['-l', socket, ...Object.keys(o.env ?? process.env).flatMap((k) => ['-E', k]), '--', ...command], {
    env: o.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], detached: true,
  });
  child.stderr!.on('data', (d: Buffer) => o.stderr?.(d.toString()));
  const kiosk: Kiosk = {
    socket, child,
    kill: async () => {
      const alive = (sig: NodeJS.Signals | 0): boolean => { try { return process.kill(-child.pid!, sig); } catch { return false; } };
      alive('SIGKILL');
      for (let i = 0; i < 100 && alive(0); i++) await new Promise((r) => setTimeout(r, 50));
    },
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (existsSync(socket) && (await pageOn(socket, o.pageUrl))) return kiosk;
    await new Promise((r) => setTimeout(r, 100));
  }
  await kiosk.kill();
  throw new Error(`kiosk DevTools did not come up on ${socket}`);
}

/** Whether DevTools on `socket` lists a page at `prefix`. */
export async function pageOn(socket: string, prefix: string): Promise<boolean> {
  const c = await DevtoolsClient.connect(socket, 1000).catch(() => null);
  if (!c) return false;
  try {
    const { targetInfos } = await c.send('Target.getTargets', {}, { timeoutMs: 3000 });
    return (targetInfos as Array<{ type: string; url: string }>).some((i) => i.type === 'page' && i.url.startsWith(prefix));
  } catch {
    return false;
  } finally {
    c.close();
  }
}

/** The kiosk for the board tests: the relay and headless Chromium with --remote-debugging-pipe, socket-activated. */
export function startKiosk(o: { socket: string; profile: string; url: string; windowSize?: string }): Promise<Kiosk> {
  return startSocketActivated(o.socket, [
    ...devtoolsRelay(), CHROMIUM, ...HEADLESS_ARGS, '--remote-debugging-pipe', `--user-data-dir=${o.profile}`, `--window-size=${o.windowSize ?? '1280,720'}`, o.url,
  ], { pageUrl: o.url.split('?')[0]! });
}

/** The processes of a process group (a kiosk started detached: cage, the relay, Chromium and its helpers). */
export function processGroup(pgid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      // Field 5 of /proc/PID/stat, after the parenthesised command name.
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]) === pgid;
    } catch {
      return false;
    }
  });
}

/** The TCP ports (v4 and v6) on which any of `pids` holds a listening socket: each process's /proc/PID/net/tcp* (its network namespace) joined with its open sockets. */
export function listeningTcpPorts(pids: number[]): number[] {
  const ports = new Set<number>();
  for (const pid of pids) {
    const listening = new Map<string, number>();
    try {
      for (const table of ['tcp', 'tcp6']) {
        for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
          const f = line.trim().split(/\s+/);
          // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; field 9 is the inode.
          if (f[3] === '0A') listening.set(f[9]!, parseInt(f[1]!.split(':')[1]!, 16));
        }
      }
    } catch {
      continue; // gone meanwhile
    }
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link = '';
      try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode && listening.has(inode)) ports.add(listening.get(inode)!);
    }
  }
  return [...ports].sort((a, b) => a - b);
}
