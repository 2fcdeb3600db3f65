import { createHash } from 'node:crypto';
import type { ShownItem } from './playlist.js';

/**
 * The player page: one self-contained HTML document (inline CSS and JS, no
 * network beyond its own loopback server). It renders what the server says
 * and nothing else; content only ever reaches the DOM through textContent
 * and attributes, never as markup.
 *
 * `player` is real, type-checked code; it runs in Chromium via its source
 * text, so it must not reference anything outside its own body.
 */
function player(timezone: string): void {
  const stage = document.getElementById('stage')!;
  const tickerBox = document.getElementById('ticker')!;
  const tickerText = document.getElementById('ticker-text')!;
  const corner = document.getElementById('corner-clock')!;
  let offsetMs = 0;
  let current = '';
  // The screen is off: everything hidden, the page black (the server never blanks an emergency).
  let blanked = false;
  let lastAck: { key: string; ok: boolean; problem?: string; truncated?: string[] } | null = null;
  let lastShow: Show | null = null;
  // The smallest scale of the type: every size in the CSS times this still reads across a yard.
  const FLOOR_K = 0.35;
  const timeFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hour12: false });
  const dateFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: timezone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

  const el = (tag: string, cls: string, text?: string): HTMLElement => {
    const e = document.createElement(tag);
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // This boot's key, in the address the agent gave the kiosk: proof of display needs it.
  const boardKey = new URLSearchParams(location.search).get('key') ?? '';
  const ack = (key: string, ok: boolean, problem?: string): void => {
    lastAck = { key, ok, problem, ...(cut.length > 0 ? { truncated: cut } : {}) };
    void fetch('/ack', { method: 'POST', headers: { 'content-type': 'application/json', 'x-board-key': boardKey }, body: JSON.stringify(lastAck) }).catch(() => undefined);
  };
  const setBlank = (blank: boolean): void => {
    blanked = blank;
    document.body.classList.toggle('blank', blank);
    for (const v of Array.from(document.querySelectorAll('video'))) {
      if (blank) v.pause();
      else void v.play().catch(() => undefined);
    }
    // The server counts a showing as seen only once it is visible.
    if (!blank && lastAck?.key === current) ack(lastAck.key, lastAck.ok, lastAck.problem);
  };
  /** What the last fit had to cut (the blocks' names), reported with the ack. */
  let cut: string[] = [];
  /**
   * Fits the text of `root` whole: one scale (--k) for every block in it, so
   * the layout keeps its hierarchy, shrunk by bisection until nothing
   * overflows, down to `floorK` (a size still readable across the yard).
   * Beyond that the blocks marked data-cut (in order) are cut between two
   * lines, never through a glyph, and a visible "…" says that text is
   * missing. Returns the names of the blocks cut.
   */
  const fitText = (root: HTMLElement, floorK: number): string[] => {
    const fits = (): boolean => root.scrollHeight <= root.clientHeight + 1 && root.scrollWidth <= root.clientWidth + 1;
    const setK = (k: number): void => root.style.setProperty('--k', String(k));
    setK(1);
    if (fits()) return [];
    let lo = floorK;
    let hi = 1;
    setK(lo);
    if (fits()) {
      for (let i = 0; i < 10 && hi - lo > 0.005; i++) {
        const mid = (lo + hi) / 2;
        setK(mid);
        if (fits()) lo = mid;
        else hi = mid;
      }
      setK(lo);
      return [];
    }
    const names: string[] = [];
    // From the last block up: the body goes before the title.
    root.classList.add('truncated');
    for (const block of Array.from(root.querySelectorAll<HTMLElement>('[data-cut]')).reverse()) {
      if (fits()) break;
      names.push(block.dataset.cut!);
      const more = el('div', 'more', '…');
      block.after(more);
      // What the root has to lose (the "…" included), taken from this block's bottom.
      const { top, bottom } = block.getBoundingClientRect();
      const limit = bottom - (root.scrollHeight - root.clientHeight);
      // Cut at the bottom of the last line box within the limit: every line kept is whole, its dots below included.
      const lineGap = (r: DOMRect): number => (parseFloat(getComputedStyle(block).lineHeight) - r.height) / 2;
      let cutAt = top;
      const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      outer: for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        range.selectNodeContents(n);
        for (const r of Array.from(range.getClientRects())) {
          const lineBottom = r.bottom + lineGap(r);
          if (lineBottom > limit) break outer;
          cutAt = Math.max(cutAt, lineBottom);
        }
      }
      block.classList.add('cut');
      block.style.height = `${Math.max(0, Math.floor(cutAt - top))}px`;
    }
    return names;
  };
  const tick = (): void => {
    const now = new Date(Date.now() + offsetMs);
    corner.textContent = timeFmt.format(now);
    for (const c of Array.from(document.querySelectorAll('.big-time'))) c.textContent = timeFmt.format(now);
    for (const c of Array.from(document.querySelectorAll('.big-date'))) c.textContent = dateFmt.format(now);
  };

  interface Show {
    key: string;
    serverNowMs: number;
    ticker: string;
    item: ShownItem;
  }
  /** A block the fit may cut when even the smallest type does not hold it all. */
  const cuttable = (e: HTMLElement, name: string): HTMLElement => {
    e.dataset.cut = name;
    return e;
  };
  const render = (s: Show): void => {
    offsetMs = s.serverNowMs - Date.now();
    if (s.key === current) return;
    current = s.key;
    lastShow = s;
    const it = s.item;
    document.body.classList.toggle('emergency', it.kind === 'emergency');
    const page = el('div', `page ${it.kind}`);
    // The element whose text must fit whole (null: nothing to fit).
    let fitRoot: HTMLElement | null = null;
    let media: HTMLImageElement | HTMLVideoElement | null = null;
    if (it.kind === 'notice') {
      if (it.issuer) page.append(el('div', 'issuer', it.issuer));
      if (it.title) page.append(cuttable(el('h1', 'title', it.title), 'title'));
      if (it.date) page.append(el('div', 'date', new Date(`${it.date}T12:00:00Z`).toLocaleDateString('vi-VN', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' })));
      page.append(cuttable(el('div', 'body', it.body), 'body'));
      fitRoot = page;
    } else if (it.kind === 'text') {
      page.append(cuttable(el('div', 'body text', it.text), 'text'));
      fitRoot = page;
    } else if (it.kind === 'image') {
      const img = document.createElement('img');
      img.alt = it.caption;
      img.src = `/media/${encodeURIComponent(it.content)}`;
      page.append(img);
      if (it.caption) page.append(el('div', 'caption', it.caption));
      media = img;
    } else if (it.kind === 'video') {
      // Always muted: the speakers belong to the station's audio, never to the board.
      const video = document.createElement('video');
      video.muted = true;
      video.loop = true;
      video.autoplay = !blanked;
      video.playsInline = true;
      video.src = `/media/${encodeURIComponent(it.content)}`;
      page.append(video);
      if (it.caption) page.append(el('div', 'caption', it.caption));
      media = video;
    } else if (it.kind === 'emergency') {
      page.append(cuttable(el('h1', 'title', it.title), 'title'));
      const body = el('div', 'body', '');
      if (it.text) body.append(el('p', 'alert-text', it.text));
      if (it.instructions) body.append(el('p', 'instructions', it.instructions));
      if (it.meta) body.append(el('p', 'alert-meta', it.meta));
      if (body.childElementCount > 0) page.append(cuttable(body, 'body'));
      fitRoot = page;
    } else if (it.kind === 'qr') {
      // The code on the left, its words on the right: a long title or URL never pushes the code (or itself) off screen.
      // Drawn module by module (the server encodes): crisp at any size, nothing for the browser to decode.
      const modules = (it as typeof it & { modules?: string[] }).modules ?? [];
      const quiet = 4;
      const n = modules.length + 2 * quiet;
      const scale = Math.max(2, Math.floor(Math.min(window.innerHeight * 0.62, window.innerWidth * 0.42) / n));
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = n * scale;
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#fff';
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.fillStyle = '#000';
      modules.forEach((row, r) => {
        for (let c = 0; c < row.length; c++) if (row[c] === '1') g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
      });
      const words = el('div', 'qr-text');
      if (it.title) words.append(cuttable(el('h1', 'title', it.title), 'title'));
      if (it.caption) words.append(cuttable(el('div', 'caption', it.caption), 'caption'));
      words.append(cuttable(el('div', 'qr-url', it.url ?? ''), 'url'));
      page.append(canvas, words);
      fitRoot = words;
    } else {
      page.append(el('div', 'big-time', ''), el('div', 'big-date', ''));
    }
    stage.replaceChildren(page);
    tickerText.textContent = s.ticker;
    // A constant reading speed whatever the length.
    tickerText.style.animationDuration = `${Math.max(10, s.ticker.length / 6)}s`;
    tickerBox.hidden = s.ticker === '';
    tick();
    const key = s.key;
    void document.fonts.ready.then(() => {
      if (key !== current) return;
      cut = fitRoot ? fitText(fitRoot, FLOOR_K) : [];
      document.body.dataset.key = key;
      if (!media) return ack(key, true);
      const m = media;
      const failed = (): void => {
        // Broken media must not leave a broken-image icon or a black box on a public board.
        m.remove();
        if (!page.querySelector('.caption')) page.append(el('div', 'big-time', ''), el('div', 'big-date', ''));
        tick();
        ack(key, false, `${it.kind} ${m.src} did not load`);
      };
      if (m instanceof HTMLImageElement) {
        if (m.complete) return m.naturalWidth > 0 ? ack(key, true) : failed();
        m.onload = () => ack(key, true);
      } else {
        if (m.error) return failed();
        if (!m.paused && m.currentTime > 0) return ack(key, true);
        m.onplaying = () => ack(key, true);
      }
      m.onerror = failed;
    });
  };

  setInterval(tick, 1000);
  tick();
  // A new screen size (the kiosk's window settling) lays the showing out again.
  window.addEventListener('resize', () => {
    if (!lastShow) return;
    current = '';
    render(lastShow);
  });
  // EventSource reconnects by itself; meanwhile the last item stays on screen.
  const events = new EventSource('/events');
  events.addEventListener('show', (e) => render(JSON.parse((e as MessageEvent<string>).data) as Show));
  events.addEventListener('blank', (e) => setBlank((JSON.parse((e as MessageEvent<string>).data) as { blank: boolean }).blank));
}

/*
 * Every size of text is a base times --k, the scale fitText() sets. Line
 * heights hold Vietnamese whole: a capital with two stacked marks (Ẩ, Ẫ, Ặ)
 * reaches well above the font's cap height and a dot below (ặ, ộ) below its
 * baseline (Noto Sans: ascent 1.07 em, descent 0.29 em, and marks and dots
 * reach the edges of that box), so a line of 1.6 em leaves a gap between
 * the dots of one line and the marks of the next at every size, down to the
 * fit's smallest type. No text box
 * clips: blocks keep their natural height and the fit shrinks or cuts them
 * between lines, so no glyph is ever drawn in part.
 */
const STYLE = `
@font-face { font-family: 'LoaBoard'; src: url('/font/regular') format('truetype'); font-weight: 400; }
@font-face { font-family: 'LoaBoard'; src: url('/font/bold') format('truetype'); font-weight: 700; }
* { box-sizing: border-box; margin: 0; padding: 0; }
html, body { width: 100vw; height: 100vh; overflow: hidden; background: #0b2545; color: #fff; cursor: none;
  font-family: 'LoaBoard', 'Noto Color Emoji', sans-serif; }
#stage { position: absolute; inset: 0 0 8vh 0; overflow: hidden; }
:root { --lh: 1.6; }
.page { --k: 1; width: 100%; height: 100%; padding: 4vh 5vw; display: flex; flex-direction: column; gap: 2vh; overflow: hidden; }
.page > *, .qr-text > * { flex: none; min-width: 0; }
.issuer { font-size: calc(var(--k) * 3.5vh); line-height: var(--lh); text-transform: uppercase; opacity: 0.85; overflow-wrap: anywhere; }
.title { font-size: calc(var(--k) * 7vh); font-weight: 700; line-height: var(--lh); overflow-wrap: anywhere; }
.date { font-size: calc(var(--k) * 3vh); line-height: var(--lh); opacity: 0.85; }
.body { font-size: calc(var(--k) * 5.5vh); white-space: pre-wrap; overflow-wrap: anywhere; line-height: var(--lh); }
.body.text { font-size: calc(var(--k) * 9vh); font-weight: 700; }
.cut { overflow: hidden; }
.more { font-size: 6vh; line-height: 1; font-weight: 700; text-align: center; opacity: 0.9; }
.image img, .video video { flex: 1 1 auto; min-height: 0; object-fit: contain; width: 100%; }
.caption { font-size: 4vh; line-height: var(--lh); text-align: center; overflow-wrap: anywhere; max-height: calc(2 * var(--lh) * 4vh); overflow: hidden; }
.clock, .text { justify-content: safe center; }
.clock { align-items: center; }
.qr { flex-direction: row; align-items: center; gap: 4vw; }
.qr canvas { flex: none; image-rendering: pixelated; }
.qr-text { --k: 1; flex: 1 1 0; height: 100%; display: flex; flex-direction: column; justify-content: safe center; gap: 2vh; overflow: hidden; }
.qr .title { font-size: calc(var(--k) * 6vh); }
.qr .caption { font-size: calc(var(--k) * 4vh); max-height: none; overflow: visible; text-align: left; }
.qr-url { font-size: calc(var(--k) * 3.5vh); line-height: var(--lh); overflow-wrap: anywhere; opacity: 0.9; }
.big-time { font-size: 30vh; font-weight: 700; line-height: 1.2; }
.big-date { font-size: 6vh; line-height: var(--lh); text-transform: capitalize; }
body.emergency, body.emergency #stage { background: #b00000; }
body.blank { background: #000; }
body.blank #stage, body.blank #ticker, body.blank #corner-clock { visibility: hidden; }
.emergency .title { font-size: calc(var(--k) * 12vh); line-height: var(--lh); text-transform: uppercase; }
.emergency .body { font-size: calc(var(--k) * 7vh); }
.emergency .instructions { margin-top: 0.5em; font-weight: 700; }
.emergency .alert-meta { margin-top: 0.5em; font-size: 0.6em; }
#corner-clock { position: absolute; right: 2vw; bottom: 1vh; height: 6vh; font-size: 4vh; line-height: 6vh; }
#ticker { position: absolute; left: 0; right: 14vw; bottom: 0; height: 8vh; overflow: hidden; background: #13315c; }
#ticker-text { position: absolute; white-space: nowrap; font-size: 4.5vh; line-height: 8vh; padding-left: 100%;
  animation: scroll 30s linear infinite; }
@keyframes scroll { from { transform: translateX(0); } to { transform: translateX(-100%); } }
`;

export interface PlayerPage {
  html: string;
  /** Content-Security-Policy admitting exactly this page's script: injected markup could not run code even if it reached the DOM. */
  csp: string;
}

export function playerPage(timezone: string): PlayerPage {
  const script = `(${player.toString()})(${JSON.stringify(timezone)});`;
  const hash = createHash('sha256').update(script).digest('base64');
  const html = `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>loa</title><style>${STYLE}</style></head>
<body><div id="stage"></div><div id="ticker" hidden><span id="ticker-text"></span></div><div id="corner-clock"></div>
<script>${script}</script></body></html>`;
  const csp = [
    "default-src 'none'", `script-src 'sha256-${hash}'`, "style-src 'unsafe-inline'", "img-src 'self'",
    "font-src 'self'", "connect-src 'self'", "media-src 'self'", "base-uri 'none'", "form-action 'none'",
  ].join('; ');
  return { html, csp };
}
