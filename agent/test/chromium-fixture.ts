/** Real headless Chromium for the board's tests: Debian's browser, started the way STACK.md says works here. */
import { createServer } from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';

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
