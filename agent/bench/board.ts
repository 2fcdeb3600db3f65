/**
 * scripts/bench board [--emergencies 40] [--warmup 4] [--hours 24] [--snapshots DIR [--no-heap]]
 *
 * The HDMI board with a real station and a real Chromium, two figures:
 *
 * - emergency: from the moment the arbiter decides (the conductor's
 *   'session' started event for a priority-9 request, the same instant the
 *   board is told) to the frame that first shows it, as Chromium itself
 *   reports that frame's presentation (Element Timing: the emergency
 *   title's renderTime). Both ends on the machine's wall clock. Also given:
 *   from the request reaching the conductor, and to the start of that frame
 *   (its requestAnimationFrame), a lower bound.
 * - memory: the board rotates through a realistic commune schedule
 *   (notices, images, a video, the clock, a ticker, two dayparts) as fast
 *   as the page acknowledges each showing. The station's clock jumps to
 *   each showing's end and the board is told, as after any clock jump, so
 *   it plans the next showing at once (its own timer would wait real
 *   time). Resident memory of the browser (its whole process tree) and of
 *   the agent after `--warmup` simulated hours (Chromium's compositor and
 *   media buffer pools take a few hours of rotation to fill) and after
 *   `--hours` more, each after a full garbage collection: growth is what
 *   stays.
 *
 * As on a station, the agent and the browser are separate processes: the
 * station runs in a child process (`--station DIR`), so the measuring
 * client's memory is not counted as the agent's.
 *
 * `--snapshots DIR` also writes a V8 heap snapshot and /proc smaps of the station at each
 * memory sample (after its garbage collection) into DIR, to compare what the
 * agent retains (`node scripts/heap-diff.mjs A B`); `--no-heap` keeps only the
 * smaps (a snapshot itself leaves the station some 65 MB larger).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import type { Page } from 'playwright-core';
import { parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';
import { PacedSink } from '../src/audio/sink.js';
import { wallClockMs } from '../src/audio/clock.js';
import { makeTestTone } from '../src/audio/tones.js';
import { BoardScheduleSchema, type BoardScheduleInput } from '../src/board/playlist.js';
import { percentile } from './stats.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { emergencies: { type: 'string', default: '40' }, warmup: { type: 'string', default: '4' }, hours: { type: 'string', default: '24' }, station: { type: 'string' }, snapshots: { type: 'string' }, 'no-heap': { type: 'boolean' } },
});

type ToStation = { type: 'emergency'; i: number } | { type: 'advance' } | { type: 'gc'; snapshot?: string } | { type: 'stop' };
type FromStation =
  | { type: 'ready'; url: string }
  | { type: 'decided'; i: number; submittedMs: number; decidedMs: number }
  | { type: 'ended'; i: number }
  | { type: 'advanced'; key: string; simulatedMs: number }
  | { type: 'gc-done'; heapUsed: number; heapTotal: number; external: number; spaces: Record<string, number> };
/** What the probe in the page reports. */
type FromPage =
  | { kind: 'ack'; key: string; ok: boolean }
  | { kind: 'emergency-frame'; n: number; frameMs: number }
  | { kind: 'emergency-painted'; n: number; paintedMs: number };

const HOUR = 3_600_000;

/** Builds a commune board's day of content in the station's cache, as the province would send it. */
async function communeSchedule(dir: string, importFile: (path: string, name: string) => Promise<string>): Promise<BoardScheduleInput> {
  const ff = (out: string, ...args: string[]): string => {
    execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args, join(dir, out)]);
    return join(dir, out);
  };
  const photo = await importFile(ff('hop-dan.jpg', '-f', 'lavfi', '-i', 'testsrc2=s=1920x1080', '-frames:v', '1', '-q:v', '3'), 'hop-dan.jpg');
  const map = await importFile(ff('ban-do.png', '-f', 'lavfi', '-i', 'mandelbrot=s=1280x720', '-frames:v', '1'), 'ban-do.png');
  const video = await importFile(
    ff('phong-chay.mp4', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:r=25:d=10', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'),
    'phong-chay.mp4',
  );
  const issuer = 'UBND xã Mường Tè';
  const body = 'Ủy ban nhân dân xã thông báo: từ ngày 02 đến ngày 06 tháng 12, Trạm Y tế xã tổ chức tiêm chủng mở rộng cho trẻ em dưới 5 tuổi. Phụ huynh mang theo sổ tiêm chủng. ';
  return {
    playlists: [
      {
        id: 'sang', name: 'Bản tin sáng', priority: 1, dayparts: [{ from: '06:00', to: '08:00' }],
        ticker: 'Dự báo thời tiết: hôm nay trời nhiều mây, có mưa rào rải rác, nhiệt độ 22-29 độ C.',
        items: [
          { kind: 'notice', id: 'thoi-tiet', durationS: 20, title: 'Thời tiết hôm nay', body: 'Nhiều mây, mưa rào rải rác. Bà con chú ý khi lên nương.', issuer },
          { kind: 'image', id: 'ban-do-sang', durationS: 15, content: map, caption: 'Bản đồ khu vực sạt lở' },
          { kind: 'clock', id: 'dong-ho-sang', durationS: 10 },
        ],
      },
      {
        id: 'toi', name: 'Bản tin tối', priority: 1, dayparts: [{ weekdays: [1, 2, 3, 4, 5], from: '17:00', to: '21:00' }],
        ticker: 'Họp dân thôn Nà Hiệp lúc 19 giờ 30 tối nay tại nhà văn hoá thôn.',
        items: [
          { kind: 'video', id: 'phong-chay-toi', durationS: 30, content: video, caption: 'Phòng cháy rừng mùa khô' },
          { kind: 'notice', id: 'hop-dan', durationS: 25, title: 'Họp dân thôn Nà Hiệp', body: body.repeat(2), issuer, date: '2026-12-01' },
          { kind: 'text', id: 'khau-hieu-toi', durationS: 10, text: 'Chung tay xây dựng nông thôn mới' },
        ],
      },
    ],
    defaultPlaylist: {
      id: 'hang-ngay', name: 'Hằng ngày',
      ticker: 'Đài truyền thanh xã Mường Tè — thông tin chính thống của chính quyền địa phương.',
      items: [
        { kind: 'notice', id: 'tiem-chung', durationS: 20, title: 'Tiêm chủng mở rộng', body, issuer, date: '2026-12-02' },
        { kind: 'image', id: 'anh-hop-dan', durationS: 15, content: photo, caption: 'Hội nghị tiếp xúc cử tri' },
        { kind: 'notice', id: 'thu-thue', durationS: 25, title: 'Thu thuế sử dụng đất phi nông nghiệp', body: body.repeat(6), issuer },
        { kind: 'video', id: 'phong-chay', durationS: 30, content: video, caption: 'Phòng cháy rừng mùa khô' },
        { kind: 'text', id: 'khau-hieu', durationS: 10, text: 'Toàn dân đoàn kết xây dựng đời sống văn hoá' },
        { kind: 'image', id: 'ban-do', durationS: 15, content: map, caption: '' },
        { kind: 'clock', id: 'dong-ho', durationS: 10 },
      ],
    },
  };
}

/** The station: the real agent with the board, simulated relays, a paced null sink. Driven over IPC. */
async function station(dir: string): Promise<void> {
  const send = (m: FromStation): void => void process.send!(m);
  const log = createLogger({ level: 'error' });
  let offsetMs = 0;
  const now = (): number => Date.now() + offsetMs;
  const config = parseConfig({
    station: { id: 'bench-board' },
    paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'z1', line: 22, amplifier: 'amp' }], tailMs: 200 },
    audio: { sink: { kind: 'null' } },
    clock: { trustWithoutSync: true },
    // The panel's power is simulated (no CEC adapter here); it stays on all day.
    board: { port: 0, display: { driver: 'sim' } },
  });
  const agent = await startAgent(config, { log, sink: new PacedSink({}, log), now });
  const board = agent.board!;
  const schedule = BoardScheduleSchema.parse(await communeSchedule(dir, async (path, name) => (await agent.media.importFile(path, name)).sha256));
  const alert = (await agent.media.importFile(await makeTestTone(join(dir, 'alert.wav'), 'ffmpeg', { durationMs: 300 }), 'alert')).sha256;
  board.setSchedule(schedule);
  const startMs = now();

  process.on('message', (raw) => {
    const m = raw as ToStation;
    if (m.type === 'emergency') {
      const key = `request:alert-${m.i}`;
      let submittedMs = 0;
      const on = (e: { key: string; state: string }): void => {
        if (e.key !== key) return;
        if (e.state === 'started') return send({ type: 'decided', i: m.i, submittedMs, decidedMs: wallClockMs() });
        agent.conductor.off('session', on);
        send({ type: 'ended', i: m.i });
      };
      // Registered after the agent's own listener, but that one defers the board to a microtask: this stamp comes first.
      agent.conductor.on('session', on);
      submittedMs = wallClockMs();
      agent.conductor.submit({ id: `alert-${m.i}`, mode: 'now', priority: 9, label: 'Cảnh báo lũ quét', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'bench' });
    } else if (m.type === 'advance') {
      const current = board.server.showing()!;
      offsetMs += Math.max(0, (current.untilMs ?? now()) - now());
      board.clockJumped();
      const next = board.server.showing()!;
      send({ type: 'advanced', key: next.key, simulatedMs: now() - startMs });
    } else if (m.type === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      if (m.snapshot) writeHeapSnapshot(m.snapshot);
      const { heapUsed, heapTotal, external } = process.memoryUsage();
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name.replace(/_space$/, ''), Math.round(sp.space_size / 104_857.6) / 10]));
      send({ type: 'gc-done', heapUsed, heapTotal, external, spaces });
    } else {
      void agent.stop().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url: board.server.url });
}

/**
 * Runs in the page before the player: reports each acknowledgement once the
 * server has it, and each emergency's first frame (its start, and its
 * presentation as Element Timing reports it). Serialised into the page, so
 * it must not reference anything outside its own body.
 */
function probe(): void {
  interface ElementTiming extends PerformanceEntry { identifier: string; renderTime: number }
  const report = (m: FromPage): void => void (window as unknown as { __loaBench(m: FromPage): Promise<void> }).__loaBench(m);
  const realFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const done = realFetch(input, init);
    if (input === '/ack' && typeof init?.body === 'string') {
      const { key, ok } = JSON.parse(init.body) as { key: string; ok: boolean };
      void done.then(() => report({ kind: 'ack', key, ok }), () => undefined);
    }
    return done;
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as ElementTiming[]) {
      const m = /^loa-emergency-(\d+)$/.exec(e.identifier);
      if (m) report({ kind: 'emergency-painted', n: Number(m[1]), paintedMs: performance.timeOrigin + (e.renderTime || e.startTime) });
    }
  }).observe({ type: 'element', buffered: true });
  let n = 0;
  let inEmergency = false;
  // The player switches the body's class and builds the page in one task; this runs right after, before any frame.
  new MutationObserver(() => {
    const now = document.body?.classList.contains('emergency') ?? false;
    if (now && !inEmergency) {
      const id = n++;
      document.querySelector('.page.emergency .title')?.setAttribute('elementtiming', `loa-emergency-${id}`);
      requestAnimationFrame((t) => report({ kind: 'emergency-frame', n: id, frameMs: performance.timeOrigin + t }));
    }
    inEmergency = now;
  }).observe(document, { attributes: true, attributeFilter: ['class'], subtree: true });
}

/** Resolves with the first `event` whose value passes `pred`. */
function next<T>(events: EventEmitter, event: string, pred: (v: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      events.off(event, on);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (v: T): void => {
      if (!pred(v)) return;
      clearTimeout(timer);
      events.off(event, on);
      resolve(v);
    };
    events.on(event, on);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `root` and all its descendants, from /proc. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // Exited while we looked.
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Sum of one /proc memory field (kB) over `pids`, in MB: Vm* and Rss* from status, Pss from smaps_rollup. */
function memoryMb(pids: readonly number[], field: 'VmRSS' | 'RssAnon' | 'RssFile' | 'Pss'): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/${field === 'Pss' ? 'smaps_rollup' : 'status'}`, 'utf8');
      kb += Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    } catch {
      // Exited while we looked.
    }
  }
  return kb / 1024;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

async function driver(): Promise<void> {
  const emergencies = Number(values.emergencies);
  const hours = Number(values.hours);
  const warmup = Number(values.warmup);
  const dir = mkdtempSync(join(tmpdir(), 'loa-bench-board-'));
  const events = new EventEmitter();
  events.setMaxListeners(100);

  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--station', dir], { execArgv: ['--expose-gc'], stdio: ['ignore', 2, 2, 'ipc'] });
  child.on('message', (raw) => events.emit((raw as FromStation).type, raw));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  void exited.then((code) => {
    console.error(`station exited with ${code}`);
    process.exit(1);
  });
  const ask = <T extends FromStation['type']>(m: ToStation, reply: T, timeoutMs = 30_000): Promise<Extract<FromStation, { type: T }>> => {
    const r = next<Extract<FromStation, { type: T }>>(events, reply, () => true, timeoutMs);
    child.send(m);
    return r;
  };
  const { url } = await next<{ url: string }>(events, 'ready', () => true, 120_000);

  // The browser as a kiosk runs it: its own process, DevTools on a loopback port; full HD like the panel.
  const port = await freePort();
  const browserProc = spawn('/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required', `--remote-debugging-port=${port}`, '--remote-debugging-address=127.0.0.1',
    `--user-data-dir=${join(dir, 'chromium')}`, '--window-size=1920,1080', 'about:blank',
  ], { stdio: 'ignore' });
  // However the run ends, the browser goes with it (the station child exits when its channel closes).
  process.on('exit', () => browserProc.kill());
  for (let i = 0; !(await fetch(`http://127.0.0.1:${port}/json/version`).then((r) => r.ok, () => false)); i++) {
    if (i > 100) throw new Error('chromium DevTools endpoint did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Loaded here only: the station child must not carry the client's modules in the agent's memory.
  const { chromium } = await import('playwright-core');
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  const page: Page = browser.contexts()[0]!.pages()[0]!;
  await page.exposeBinding('__loaBench', (_source, m: FromPage) => { events.emit(m.kind, m); });
  await page.addInitScript(probe);
  const acked = new Set<string>();
  let failedRenders = 0;
  events.on('ack', (m: { key: string; ok: boolean }) => {
    acked.add(m.key);
    if (!m.ok) failedRenders++;
  });
  const ackOf = (key: string, timeoutMs = 15_000): Promise<unknown> =>
    acked.has(key) ? Promise.resolve() : next<{ key: string }>(events, 'ack', (m) => m.key === key, timeoutMs);
  await page.goto(url);
  await next(events, 'ack', () => true, 30_000);

  // Emergencies, at random moments of the rotation.
  const fromDecision: number[] = [];
  const fromRequest: number[] = [];
  const toFrameStart: number[] = [];
  for (let i = 0; i < emergencies; i++) {
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
    const frame = next<{ n: number; frameMs: number }>(events, 'emergency-frame', (m) => m.n === i, 10_000);
    const painted = next<{ n: number; paintedMs: number }>(events, 'emergency-painted', (m) => m.n === i, 10_000);
    const ended = next(events, 'ended', (m: { i: number }) => m.i === i, 60_000);
    const decided = await ask({ type: 'emergency', i }, 'decided');
    const [f, p] = await Promise.all([frame, painted]);
    fromDecision.push(p.paintedMs - decided.decidedMs);
    fromRequest.push(p.paintedMs - decided.submittedMs);
    toFrameStart.push(f.frameMs - decided.decidedMs);
    // The emergency is on screen and lasts over a second: the next showing acknowledged is the playlist's again.
    const back = next<{ key: string }>(events, 'ack', (m) => !m.key.startsWith('emergency/'), 60_000);
    await ended;
    await back;
    if ((i + 1) % 10 === 0) console.error(`emergency ${i + 1}/${emergencies}: last ${fromDecision.at(-1)!.toFixed(1)} ms, p50 so far ${percentile(fromDecision, 50).toFixed(1)} ms`);
  }

  // Memory over a simulated day of rotation.
  const cdp = await page.context().newCDPSession(page);
  let samples = 0;
  const sample = async (): Promise<{ browserRss: number; browserPss: number; agentRss: number; agentAnon: number; agentFile: number; agentHeapMb: number; agentHeapTotalMb: number; agentBuffersMb: number; agentSpaces: Record<string, number>; pageHeapMb: number; pageNodes: number }> => {
    await cdp.send('HeapProfiler.collectGarbage');
    const stem = values.snapshots ? join(values.snapshots, `station-${String(samples++).padStart(2, '0')}`) : undefined;
    const agentMemory = await ask({ type: 'gc', ...(stem && !values['no-heap'] ? { snapshot: `${stem}.heapsnapshot` } : {}) }, 'gc-done', 120_000);
    if (stem) writeFileSync(`${stem}.smaps`, readFileSync(`/proc/${child.pid!}/smaps`));
    await new Promise((r) => setTimeout(r, 1000));
    const tree = processTree(browserProc.pid!);
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    const { nodes } = await cdp.send('Memory.getDOMCounters');
    return { browserRss: memoryMb(tree, 'VmRSS'), browserPss: memoryMb(tree, 'Pss'), agentRss: memoryMb([child.pid!], 'VmRSS'), agentAnon: memoryMb([child.pid!], 'RssAnon'), agentFile: memoryMb([child.pid!], 'RssFile'), agentHeapMb: agentMemory.heapUsed / 1_048_576, agentHeapTotalMb: agentMemory.heapTotal / 1_048_576, agentBuffersMb: agentMemory.external / 1_048_576, agentSpaces: agentMemory.spaces, pageHeapMb: usedSize / 1_048_576, pageNodes: nodes };
  };
  let showings = 0;
  let unacknowledged = 0;
  let simulatedMs = 0;
  let lastKey = '';
  const t0 = performance.now();
  const rotateUntil = async (untilMs: number): Promise<void> => {
    while (simulatedMs < untilMs) {
      const step = await ask({ type: 'advance' }, 'advanced');
      simulatedMs = step.simulatedMs;
      // The server's own timer may have moved on first: then there is nothing new to wait for.
      if (step.key === lastKey) continue;
      lastKey = step.key;
      showings++;
      await ackOf(step.key).catch(() => unacknowledged++);
      acked.delete(step.key);
    }
  };
  const report = (label: string, s: Awaited<ReturnType<typeof sample>>): void =>
    console.error(`${label}: ${showings} showings, ${Math.round((performance.now() - t0) / 1000)} s; browser RSS ${s.browserRss.toFixed(1)} MB (PSS ${s.browserPss.toFixed(1)}; page JS heap ${s.pageHeapMb.toFixed(1)} MB, ${s.pageNodes} DOM nodes), agent RSS ${s.agentRss.toFixed(1)} MB (anonymous ${s.agentAnon.toFixed(1)}, files ${s.agentFile.toFixed(1)}; JS heap ${s.agentHeapMb.toFixed(1)} of ${s.agentHeapTotalMb.toFixed(1)} MB, buffers ${s.agentBuffersMb.toFixed(1)} MB; heap spaces MB ${JSON.stringify(s.agentSpaces)})`);
  await rotateUntil(warmup * HOUR);
  const warm = await sample();
  report(`after ${warmup} simulated h of warm-up`, warm);
  const firstShowing = showings;
  let end = warm;
  for (let h = warmup; h < warmup + hours; ) {
    h = Math.min(h + 4, warmup + hours);
    await rotateUntil(h * HOUR);
    end = await sample();
    report(`${h - warmup} simulated h after warm-up`, end);
  }
  const rate = (showings - firstShowing) / ((performance.now() - t0) / 1000);
  console.error(`${showings - firstShowing} showings after warm-up (${rate.toFixed(0)}/s); not acknowledged within 15 s: ${unacknowledged}; failed to render: ${failedRenders}`);

  await browser.close();
  browserProc.kill();
  exited.then(() => undefined, () => undefined);
  child.removeAllListeners('exit');
  child.send({ type: 'stop' } satisfies ToStation);
  await new Promise((r) => { child.once('exit', r); setTimeout(r, 10_000); });
  rmSync(dir, { recursive: true, force: true });
  const browserGrowth = end.browserRss - warm.browserRss;
  const agentGrowth = end.agentRss - warm.agentRss;
  console.log(JSON.stringify({
    bench: 'board',
    emergency_p50_ms: round1(percentile(fromDecision, 50)),
    emergency_p99_ms: round1(percentile(fromDecision, 99)),
    rss_growth_mb: round1(browserGrowth + agentGrowth),
    n: fromDecision.length,
    emergency_max_ms: round1(Math.max(...fromDecision)),
    from_request_p99_ms: round1(percentile(fromRequest, 99)),
    frame_start_p50_ms: round1(percentile(toFrameStart, 50)),
    showings,
    unacknowledged,
    browser_rss_mb: [round1(warm.browserRss), round1(end.browserRss)],
    agent_rss_mb: [round1(warm.agentRss), round1(end.agentRss)],
    browser_rss_growth_mb: round1(browserGrowth),
    agent_rss_growth_mb: round1(agentGrowth),
  }));
  process.exit(0);
}

if (values.station) await station(values.station);
else await driver();
