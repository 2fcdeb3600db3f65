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
  let lastAck: { key: string; ok: boolean; problem?: string } | null = null;
  const timeFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hour12: false });
  const dateFmt = new Intl.DateTimeFormat('vi-VN', { timeZone: timezone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

  const el = (tag: string, cls: string, text?: string): HTMLElement => {
    const e = document.createElement(tag);
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const ack = (key: string, ok: boolean, problem?: string): void => {
    lastAck = { key, ok, problem };
    void fetch('/ack', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(lastAck) }).catch(() => undefined);
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
  // Shrinks the type until the block fits its box (large first: a board is read from across the yard).
  const fit = (box: HTMLElement, maxPx: number, minPx: number): void => {
    let lo = minPx;
    let hi = maxPx;
    box.style.fontSize = `${hi}px`;
    if (box.scrollHeight <= box.clientHeight) return;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      box.style.fontSize = `${mid}px`;
      if (box.scrollHeight <= box.clientHeight) lo = mid;
      else hi = mid;
    }
    box.style.fontSize = `${lo}px`;
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
  const render = (s: Show): void => {
    offsetMs = s.serverNowMs - Date.now();
    if (s.key === current) return;
    current = s.key;
    const it = s.item;
    document.body.classList.toggle('emergency', it.kind === 'emergency');
    const page = el('div', `page ${it.kind}`);
    let fitBox: HTMLElement | null = null;
    let media: HTMLImageElement | HTMLVideoElement | null = null;
    if (it.kind === 'notice') {
      page.append(el('div', 'issuer', it.issuer));
      page.append(el('h1', 'title', it.title));
      if (it.date) page.append(el('div', 'date', new Date(`${it.date}T12:00:00Z`).toLocaleDateString('vi-VN', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' })));
      fitBox = el('div', 'body', it.body);
      page.append(fitBox);
    } else if (it.kind === 'text') {
      fitBox = el('div', 'body text', it.text);
      page.append(fitBox);
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
      page.append(el('h1', 'title', it.title));
      fitBox = el('div', 'body', '');
      if (it.text) fitBox.append(el('p', 'alert-text', it.text));
      if (it.instructions) fitBox.append(el('p', 'instructions', it.instructions));
      page.append(fitBox);
    } else if (it.kind === 'qr') {
      if (it.title) page.append(el('h1', 'title', it.title));
      // Drawn module by module (the server encodes): crisp at any size, nothing for the browser to decode.
      const modules = (it as typeof it & { modules?: string[] }).modules ?? [];
      const quiet = 4;
      const n = modules.length + 2 * quiet;
      const scale = Math.max(2, Math.floor(Math.min(window.innerHeight * 0.55, window.innerWidth * 0.5) / n));
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = n * scale;
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#fff';
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.fillStyle = '#000';
      modules.forEach((row, r) => {
        for (let c = 0; c < row.length; c++) if (row[c] === '1') g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
      });
      page.append(canvas, el('div', 'qr-url', it.url ?? ''));
      if (it.caption) page.append(el('div', 'caption', it.caption));
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
      if (fitBox) fit(fitBox, it.kind === 'emergency' ? 80 : 64, 12);
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
  // EventSource reconnects by itself; meanwhile the last item stays on screen.
  const events = new EventSource('/events');
  events.addEventListener('show', (e) => render(JSON.parse((e as MessageEvent<string>).data) as Show));
  events.addEventListener('blank', (e) => setBlank((JSON.parse((e as MessageEvent<string>).data) as { blank: boolean }).blank));
}

const STYLE = `
@font-face { font-family: 'LoaBoard'; src: url('/font/regular') format('truetype'); font-weight: 400; }
@font-face { font-family: 'LoaBoard'; src: url('/font/bold') format('truetype'); font-weight: 700; }
* { box-sizing: border-box; margin: 0; padding: 0; }
html, body { width: 100vw; height: 100vh; overflow: hidden; background: #0b2545; color: #fff; cursor: none;
  font-family: 'LoaBoard', sans-serif; }
#stage { position: absolute; inset: 0 0 8vh 0; overflow: hidden; }
.page { width: 100%; height: 100%; padding: 4vh 5vw; display: flex; flex-direction: column; gap: 2vh; overflow: hidden; }
.issuer { font-size: 3.5vh; text-transform: uppercase; opacity: 0.85; overflow-wrap: anywhere; max-height: 10vh; overflow: hidden; }
.title { font-size: 7vh; font-weight: 700; line-height: 1.2; overflow-wrap: anywhere; max-height: 30vh; overflow: hidden; }
.date { font-size: 3vh; opacity: 0.85; }
.body { flex: 1 1 auto; min-height: 0; overflow: hidden; white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.35; }
.text { display: flex; align-items: center; font-weight: 700; }
.image img, .video video { flex: 1 1 auto; min-height: 0; object-fit: contain; width: 100%; }
.caption { font-size: 4vh; text-align: center; overflow-wrap: anywhere; max-height: 12vh; overflow: hidden; }
.clock, .qr { justify-content: center; align-items: center; }
.qr canvas { flex: 0 0 auto; image-rendering: pixelated; }
.qr-url { font-size: 3.5vh; overflow-wrap: anywhere; text-align: center; }
.big-time { font-size: 30vh; font-weight: 700; line-height: 1; }
.big-date { font-size: 6vh; text-transform: capitalize; }
body.emergency, body.emergency #stage { background: #b00000; }
body.blank { background: #000; }
body.blank #stage, body.blank #ticker, body.blank #corner-clock { visibility: hidden; }
.emergency .title { font-size: 13vh; line-height: 1.1; text-transform: uppercase; max-height: 40vh; }
.emergency .instructions { margin-top: 2vh; font-weight: 700; }
#corner-clock { position: absolute; right: 2vw; bottom: 1vh; height: 6vh; font-size: 5vh; line-height: 6vh; }
#ticker { position: absolute; left: 0; right: 14vw; bottom: 0; height: 8vh; overflow: hidden; background: #13315c; }
#ticker-text { position: absolute; white-space: nowrap; font-size: 5vh; line-height: 8vh; padding-left: 100%;
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
