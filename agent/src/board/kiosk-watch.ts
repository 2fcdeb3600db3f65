import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';

export interface KioskWatchOptions {
  /** The kiosk Chromium's DevTools endpoint, e.g. http://127.0.0.1:9222 (started with --remote-debugging-port). */
  cdpUrl: string;
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
  private browser: Browser | null = null;
  private lagSinceMs: number | null = null;
  private readonly now: () => number;

  constructor(private readonly o: KioskWatchOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  /** One health probe and its remedy. Call it every few seconds. */
  async check(): Promise<KioskHealth> {
    const timeout = this.o.probeTimeoutMs ?? 5000;
    let page: Page;
    try {
      page = await this.page(timeout);
    } catch (err) {
      return this.restart(`browser unreachable: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!page.url().startsWith(this.o.boardUrl)) {
      // A crashed tab, a stray navigation: put the board back.
      this.o.log.warn({ url: page.url() }, 'kiosk not on the board page; reloading it');
      await page.goto(this.o.boardUrl, { timeout }).catch(() => undefined);
      return 'reloaded';
    }
    let shown: string | null;
    try {
      shown = await withTimeout(page.evaluate(() => document.body.dataset.key ?? null), timeout);
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
    await page.reload({ timeout }).catch(() => undefined);
    return 'reloaded';
  }

  /** What the panel shows (proof of display): PNG for field staff, a smaller JPEG for the province's link. */
  async screenshot(opts: { format: 'png' } | { format: 'jpeg'; quality: number } = { format: 'png' }): Promise<Buffer> {
    const page = await this.page(this.o.probeTimeoutMs ?? 5000);
    const cdp = await page.context().newCDPSession(page);
    try {
      const { data } = await cdp.send('Page.captureScreenshot', opts);
      return Buffer.from(data, 'base64');
    } finally {
      await cdp.detach().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const b = this.browser;
    this.browser = null;
    // Disconnects only: the kiosk browser belongs to its own service.
    await b?.close().catch(() => undefined);
  }

  private async page(timeout: number): Promise<Page> {
    if (!this.browser?.isConnected()) {
      this.browser = await chromium.connectOverCDP(this.o.cdpUrl, { timeout });
    }
    const pages = this.browser.contexts().flatMap((c) => c.pages());
    const page = pages.find((p) => p.url().startsWith(this.o.boardUrl)) ?? pages[0];
    if (!page) throw new Error('no open page');
    return page;
  }

  private async restart(reason: string): Promise<KioskHealth> {
    this.o.log.error({ reason }, 'restarting the kiosk browser');
    const b = this.browser;
    this.browser = null;
    this.lagSinceMs = null;
    void b?.close().catch(() => undefined);
    this.emit('restart', { reason });
    await this.o.restart(reason);
    return 'restarted';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e: unknown) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(String(e))); },
    );
  });
}
