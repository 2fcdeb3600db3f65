import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { DevtoolsClient } from './devtools.js';

export interface KioskWatchOptions {
  /** The kiosk's DevTools socket (systemd/loa-board.socket; the browser runs with --remote-debugging-pipe behind it). */
  devtoolsSocket: string;
  /** The board page the kiosk must show. */
  boardUrl: string;
  log: Logger;
  /** The showing the server pushed last (BoardServer.showing()?.key). */
  expectedKey: () => string | null;
  /** Restarts the browser (production: `systemctl restart loa-board`); resolves once it was asked to. */
  restart: (reason: string) => Promise<void>;
  /** A probe that takes longer means a hung renderer. */
  probeTimeoutMs?: number;
  /** How long the page may lag behind the server before it is reloaded. */
  staleMs?: number;
  now?: () => number;
}

export type KioskHealth = 'ok' | 'lagging' | 'reloaded' | 'restarted';

/** The board's tab as DevTools names it: a page session attached to it. */
interface BoardTab { targetId: string; url: string; sessionId: string }

/**
 * Watches the kiosk Chromium over the DevTools Protocol: the page must
 * answer, show the board and keep up with the server. A page elsewhere or
 * stuck on an old showing is reloaded; a browser that is gone or does not
 * answer is restarted. Also takes the proof-of-display screenshot.
 *
 * The browser runs as its own service, so restarting the agent never
 * blanks the screen; this class only observes it and asks for restarts.
 * Emits 'restart' ({ reason }).
 */
export class KioskWatch extends EventEmitter {
  private browser: DevtoolsClient | null = null;
  private session: { targetId: string; sessionId: string } | null = null;
  private lagSinceMs: number | null = null;
  private readonly now: () => number;

  constructor(private readonly o: KioskWatchOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  /** One health probe and its remedy. Call it every few seconds. */
  async check(): Promise<KioskHealth> {
    const timeout = this.o.probeTimeoutMs ?? 5000;
    let tab: BoardTab;
    try {
      tab = await this.tab(timeout);
    } catch (err) {
      return this.restart(`browser unreachable: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!tab.url.startsWith(this.o.boardUrl)) {
      // A crashed tab, a stray navigation: put the board back.
      this.o.log.warn({ url: tab.url }, 'kiosk not on the board page; reloading it');
      await this.call(tab, 'Page.navigate', { url: this.o.boardUrl }, timeout).catch(() => undefined);
      return 'reloaded';
    }
    let shown: string | null;
    try {
      const r = await this.call(tab, 'Runtime.evaluate', { expression: 'document.body.dataset.key ?? null', returnByValue: true }, timeout);
      shown = ((r.result as { value?: unknown } | undefined)?.value ?? null) as string | null;
    } catch {
      return this.restart(`page did not answer within ${timeout} ms`);
    }
    const expected = this.o.expectedKey();
    if (expected === null || shown === expected) {
      this.lagSinceMs = null;
      return 'ok';
    }
    this.lagSinceMs ??= this.now();
    if (this.now() - this.lagSinceMs < (this.o.staleMs ?? 15_000)) return 'lagging';
    this.o.log.warn({ shown, expected }, 'kiosk page stuck on an old showing; reloading it');
    this.lagSinceMs = null;
    await this.call(tab, 'Page.reload', {}, timeout).catch(() => undefined);
    return 'reloaded';
  }

  /** What the panel shows (proof of display): PNG for field staff, a smaller JPEG for the province's link. */
  async screenshot(opts: { format: 'png' } | { format: 'jpeg'; quality: number } = { format: 'png' }): Promise<Buffer> {
    const timeout = this.o.probeTimeoutMs ?? 5000;
    const tab = await this.tab(timeout);
    const { data } = await this.call(tab, 'Page.captureScreenshot', opts, timeout);
    return Buffer.from(String(data), 'base64');
  }

  async close(): Promise<void> {
    const b = this.browser;
    this.browser = null;
    this.session = null;
    // Disconnects only: the kiosk browser belongs to its own service (the relay detaches our session).
    b?.close();
  }

  /** The board's tab (else the first page), with a session on it, connecting first if need be. */
  private async tab(timeout: number): Promise<BoardTab> {
    if (!this.browser?.connected) {
      this.session = null;
      this.browser = await DevtoolsClient.connect(this.o.devtoolsSocket, timeout);
    }
    const { targetInfos } = await this.browser.send('Target.getTargets', {}, { timeoutMs: timeout });
    const pages = (targetInfos as Array<{ targetId: string; type: string; url: string }>).filter((i) => i.type === 'page');
    const page = pages.find((p) => p.url.startsWith(this.o.boardUrl)) ?? pages[0];
    if (!page) throw new Error('no open page');
    if (this.session?.targetId !== page.targetId) {
      const { sessionId } = await this.browser.send('Target.attachToTarget', { targetId: page.targetId, flatten: true }, { timeoutMs: timeout });
      this.session = { targetId: page.targetId, sessionId: String(sessionId) };
    }
    return { targetId: page.targetId, url: page.url, sessionId: this.session.sessionId };
  }

  private call(tab: BoardTab, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.browser!.send(method, params, { sessionId: tab.sessionId, timeoutMs });
  }

  private async restart(reason: string): Promise<KioskHealth> {
    this.o.log.error({ reason }, 'restarting the kiosk browser');
    const b = this.browser;
    this.browser = null;
    this.session = null;
    this.lagSinceMs = null;
    b?.close();
    this.emit('restart', { reason });
    await this.o.restart(reason);
    return 'restarted';
  }
}
