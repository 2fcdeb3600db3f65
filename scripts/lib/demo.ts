/**
 * scripts/demo: a whole station on embedded defaults, narrated.
 *
 * A provincial server (the reference simulator) on an embedded MQTT broker
 * (aedes) sends the station a signed target: a programme a minute ahead and
 * its content, downloaded over HTTP and verified. The station's
 * microcontroller is the firmware-bridge simulator on a pseudo-terminal
 * (RTC, watchdog, buttons). Relays are simulated and printed as they switch;
 * audio goes to a file paced like a sound card. Sample bulletins are
 * Vietnamese speech from espeak-ng (tones when it is missing). Part way
 * through, the province sends a flood warning to the whole province group:
 * it preempts the programme, which then resumes. Proof of play returns to
 * the province. The bulletin board follows the same target (a notice, a
 * map, a QR code to the feedback channel) and the same emergency; where
 * Chromium is installed, screenshots of it land in the demo folder.
 * Meanwhile `LOA_SOCKET=<printed path> npx loa status` works in another
 * terminal. The narration is all that prints: every part logs to agent.log
 * in the demo folder, which is shown if the demo fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { DateTime } from 'luxon';
import { parseConfig } from '../../agent/src/config/load.js';
import { startAgent } from '../../agent/src/daemon/agent.js';
import { createLogger } from '../../agent/src/lib/logger.js';
import { SimRelayDriver, simStatePath } from '../../agent/src/relays/sim-driver.js';
import { outputsOf } from '../../agent/src/relays/bank.js';
import { makeSpeech } from '../../agent/src/audio/tones.js';
import type { PlayLogRow } from '../../agent/src/store/station-store.js';
import { render } from '../../agent/src/cli/render.js';
import { translator } from '../../agent/src/cli/messages.js';
import { wrap } from '../../agent/src/cli/width.js';
import { generateProvinceKeys } from '../../agent/src/sync/signing.js';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { startSimulator } from '../../firmware-bridge/src/index.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { lead: { type: 'string', default: '60' }, dir: { type: 'string' }, lang: { type: 'string' } },
});
const leadS = Number(values.lead);
const vi = (values.lang ?? process.env.LOA_LANG ?? 'vi').startsWith('vi');
const TZ = 'Asia/Ho_Chi_Minh';
const clock = (ms?: number): string => (ms === undefined ? DateTime.now() : DateTime.fromMillis(ms)).setZone(TZ).toFormat('HH:mm:ss.SSS');
const say = (v: string, e: string): void => console.log(`${clock()}  ${vi ? v : e}`);

const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'loa-demo-'));
mkdirSync(dir, { recursive: true });
// The parts' logs (JSON lines) go to a file, so they never cut into the narration; a failure shows them.
const logPath = join(dir, 'agent.log');
const logFile = pino.destination({ dest: logPath, sync: true, mkdir: true });
const quiet = createLogger({ level: 'error', destination: logFile });
const failed = (err: unknown): never => {
  console.error(`\n${clock()}  ${vi ? 'DEMO THẤT BẠI' : 'DEMO FAILED'}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  const lines = existsSync(logPath) ? readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-40) : [];
  console.error(`${vi ? 'nhật ký các phần' : 'the parts\' log'} (${logPath}, ${vi ? '40 dòng cuối' : 'last 40 lines'}):\n${lines.join('\n')}`);
  process.exit(1);
};
process.on('uncaughtException', failed);
process.on('unhandledRejection', failed);
const offset = DateTime.now().setZone(TZ).toFormat('ZZ');
say(`mọi giờ theo múi giờ của đài: ${TZ} (UTC${offset})`, `all times in the station's time zone: ${TZ} (UTC${offset})`);

// The province: broker, content server, signing key.
const broker = await EmbeddedBroker.start();
const contentServer = new ContentServer();
await contentServer.listen();
const keys = generateProvinceKeys();
const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
await province.connect();
say(`tỉnh: máy chủ MQTT nhúng ${broker.url}, khoá ký Ed25519 đã tạo`, `province: embedded MQTT broker ${broker.url}, Ed25519 signing key made`);

// The station's microcontroller, on a pseudo-terminal pair.
const mcu = await startSimulator({ log: quiet, pty: { dir } });
say(`vi điều khiển (mô phỏng) trên ${mcu.hostPath}`, `microcontroller (simulated) on ${mcu.hostPath}`);

const config = parseConfig({
  station: { id: 'demo-tam-duong-01', name: 'Đài xã Bình Lư (demo)', timezone: TZ, locale: vi ? 'vi' : 'en' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: {
    driver: 'sim',
    amplifiers: [{ name: 'amp', line: 17, warmupMs: 1500 }],
    zones: [
      { name: 'ban-na-hiep', label: 'Bản Nà Hiệp', line: 22, amplifier: 'amp' },
      { name: 'ban-thang', label: 'Bản Thẳm', line: 23, amplifier: 'amp' },
      { name: 'trung-tam', label: 'Trung tâm xã', line: 24, amplifier: 'amp' },
    ],
  },
  audio: { sink: { kind: 'file', path: join(dir, 'on-air.raw') } },
  clock: { trustWithoutSync: true },
  log: { level: 'warn' },
  board: { port: 0, display: { driver: 'sim' }, feedbackUrl: 'https://gopy.laichau.gov.vn/binh-lu' },
  bridge: { path: mcu.hostPath, inputs: { '0': 'emergency', '1': 'stop' }, watchdog: { enabled: true, timeoutMs: 30_000, warnMs: 5000 } },
  sync: {
    brokers: [broker.url],
    provinceKeys: [keys.publicPem],
    protocolVersion: 4,
    groups: ['lai-chau', 'tam-duong'],
    reconnect: { initialMs: 500, maxMs: 5000, connectTimeoutMs: 5000 },
  },
});
mkdirSync(config.paths.state, { recursive: true });

const names = new Map(outputsOf(config.relays).map((o) => [o.line, o.name]));
const relays = new SimRelayDriver({ statePath: simStatePath(config.paths.state), names });
relays.on('transition', (tr) => {
  const o = outputsOf(config.relays).find((x) => x.line === tr.line)!;
  const on = (tr.level === 1) !== o.activeLow;
  say(`rơ-le  ${names.get(tr.line)} → ${on ? 'BẬT' : 'tắt'}`, `relay  ${names.get(tr.line)} → ${on ? 'ON' : 'off'}`);
});

say(`thư mục demo: ${dir}`, `demo folder: ${dir}`);
const agent = await startAgent(config, { log: createLogger({ level: 'warn', destination: logFile }), relayDriver: relays });
say(`tác tử sẵn sàng; thử: LOA_SOCKET=${config.paths.socket} npx loa status`, `agent ready; try: LOA_SOCKET=${config.paths.socket} npx loa status`);
agent.sync?.on('connected', () => say('đài đã kết nối với tỉnh', 'station connected to the province'));
const board = agent.board!;
say(`bảng tin điện tử: ${board.server.url} (mở bằng trình duyệt)`, `bulletin board: ${board.server.url} (open it in a browser)`);
board.server.on('show', (now: { source: string; item: { kind: string; id: string; title?: string } }) =>
  say(`bảng tin  ${now.item.kind} "${now.item.title ?? now.item.id}" (${now.source})`, `board  ${now.item.kind} "${now.item.title ?? now.item.id}" (${now.source})`));
// Screenshots of the board where Chromium is installed (the station's kiosk is Chromium too).
const screenshots = existsSync('/usr/bin/chromium')
  ? await (async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      await page.goto(board.server.url);
      return {
        async take(name: string): Promise<void> {
          const path = join(dir, `board-${name}.png`);
          await page.screenshot({ path });
          say(`ảnh bảng tin: ${path}`, `board screenshot: ${path}`);
        },
        close: () => browser.close(),
      };
    })()
  : null;
agent.sync?.on('applied', (version: number) => say(`đài áp dụng cấu hình đích v${version} của tỉnh (đã tải và kiểm tra nội dung)`, `station applied the province's target v${version} (content downloaded and verified)`));

// The province's content: spoken bulletins served over HTTP, named by SHA-256.
const spoken = async (name: string, text: string) => contentServer.add(await makeSpeech(join(dir, `${name}.wav`), text), `${name}.wav`);
const morning = await spoken('ban-tin-sang', 'Xin chào bà con. Đây là bản tin sáng của Đài truyền thanh xã Bình Lư. Hôm nay trời nhiều mây, có mưa rào rải rác.');
const market = await spoken('thong-bao-cho', 'Thông báo: phiên chợ Bình Lư họp vào sáng chủ nhật tuần này. Bà con mang theo giấy tờ khi bán gia súc.');
const flood = await spoken('canh-bao-lu', 'Cảnh báo khẩn cấp. Nguy cơ lũ quét và sạt lở đất tại các bản ven suối Nậm Mu. Bà con di chuyển ngay lên vùng cao an toàn.');

// The board's own content: a map of the landslide-risk area (made here with ffmpeg).
const mapPng = join(dir, 'ban-do-sat-lo.png');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0x2e7d32:s=1280x720', '-vf', 'drawbox=x=420:y=160:w=440:h=300:color=0xc62828:t=fill', '-frames:v', '1', mapPng]);
const map = contentServer.add(mapPng, 'ban-do-sat-lo.png', 'image');

const start = DateTime.now().setZone(config.station.timezone).plus({ seconds: leadS }).startOf('second');
await province.publishTarget({
  station: config.station.id,
  programmes: [
    {
      id: 'ban-tin-sang',
      name: 'Bản tin sáng',
      priority: 0,
      recurrence: { kind: 'once', date: start.toISODate()!, time: start.toFormat('HH:mm:ss') },
      items: [
        { content: morning.sha256, repeat: 1, gapMs: 500 },
        { content: market.sha256, repeat: 2, gapMs: 500 },
      ],
      zones: ['ban-na-hiep', 'ban-thang'],
      volume: 80,
    },
  ],
  content: [morning, market, flood, map],
  board: {
    defaultPlaylist: {
      id: 'xa-binh-lu',
      ticker: 'Phiên chợ Bình Lư họp sáng Chủ nhật • Tiêm chủng mở rộng tại trạm y tế xã thứ Bảy này',
      items: [
        { kind: 'notice', id: 'tiem-chung', durationS: 8, title: 'Lịch tiêm chủng mở rộng tháng 12', issuer: 'Trạm Y tế xã Bình Lư', date: start.toISODate()!,
          body: 'Trạm Y tế xã tổ chức tiêm chủng cho trẻ dưới 5 tuổi vào sáng thứ Bảy. Phụ huynh mang theo sổ tiêm chủng.' },
        { kind: 'image', id: 'ban-do', durationS: 6, content: map.sha256, caption: 'Bản đồ vùng có nguy cơ sạt lở (màu đỏ)' },
        { kind: 'qr', id: 'gop-y', durationS: 6, title: 'Góp ý, phản ánh của người dân', caption: 'Quét mã bằng điện thoại' },
        { kind: 'clock', id: 'dong-ho', durationS: 5 },
      ],
    },
  },
});
agent.sync?.once('applied', () => setTimeout(() => void screenshots?.take('notice'), 1500));
say(`tỉnh gửi lịch đã ký: "Bản tin sáng" lúc ${start.toFormat('HH:mm:ss ZZZZ')} (${TZ}, sau ${leadS} s), 2 cụm loa`, `province sent a signed schedule: "Bản tin sáng" at ${start.toFormat('HH:mm:ss ZZZZ')} (${TZ}, in ${leadS} s), 2 zones`);
// A demo that has not finished well after its programme has failed: say so, with the log.
setTimeout(() => failed(new Error(vi ? `chưa xong sau ${leadS + 180} s` : `not done after ${leadS + 180} s`)), (leadS + 180) * 1000).unref();

const timed = new Set<string>();
agent.conductor.on('played', (row: PlayLogRow) => {
  const at = row.startedMs ? clock(row.startedMs) : '-';
  // How late the programme's first sample was against its scheduled instant.
  const first = row.occurrenceId !== undefined && !timed.has(row.occurrenceId);
  if (row.occurrenceId) timed.add(row.occurrenceId);
  const late = first && row.startedMs && row.scheduledMs ? ` (${vi ? 'lệch' : 'off by'} ${row.startedMs - row.scheduledMs} ms)` : '';
  say(`nhật ký  ${row.result.padEnd(11)} p${row.priority} bắt đầu ${at}${late} ${row.reason ?? ''}`, `log  ${row.result.padEnd(11)} p${row.priority} started ${at}${late} ${row.reason ?? ''}`);
});
agent.conductor.on('session', (s: { label: string; state: string }) => say(`phiên "${s.label}": ${s.state}`, `session "${s.label}": ${s.state}`));

// The flood warning lands 6 s into the programme, as one signed command to the whole province group.
setTimeout(() => {
  say('!!! TỈNH: CẢNH BÁO LŨ QUÉT gửi cả nhóm "lai-chau": phát khẩn cấp trên mọi cụm loa', '!!! PROVINCE: FLASH FLOOD WARNING to group "lai-chau": emergency on every zone');
  void province
    .send({ group: 'lai-chau' }, {
      action: 'play', content: flood.sha256, priority: 9, repeat: 1, label: 'Cảnh báo lũ quét',
      text: 'Nguy cơ lũ quét và sạt lở đất tại các bản ven suối Nậm Mu.',
      instructions: 'Bà con di chuyển ngay lên vùng cao an toàn. Không qua suối, ngầm, tràn.',
    })
    .then((cmd) => province.waitResponse(cmd.id))
    .then((r) => say(`đài trả lời lệnh: ${r.status}`, `station answered the command: ${r.status}`));
  setTimeout(() => void screenshots?.take('emergency'), 2000);
}, (leadS + 6) * 1000);

// Done when the programme has been resumed and completed.
agent.conductor.on('session', async (s: { label: string; state: string }) => {
  if (s.label !== 'Bản tin sáng' || s.state !== 'completed') return;
  await new Promise((r) => setTimeout(r, config.relays.tailMs + 500));
  say('xong. nhật ký phát (như loa log):', 'done. play log (as loa log shows it):');
  const locale = vi ? 'vi' : 'en';
  console.log(wrap(render('log', { rows: agent.store.recentPlays(20) }, translator(locale), locale, TZ)));
  say(`âm thanh đã phát: ${config.audio.sink.kind === 'file' ? config.audio.sink.path : ''} (s16le 48 kHz stereo)`, `audio that went out: ${config.audio.sink.kind === 'file' ? config.audio.sink.path : ''} (s16le 48 kHz stereo)`);
  await new Promise((r) => setTimeout(r, 2000));
  const plays = [...province.received.values()].filter((m) => m.kind === 'play').length;
  say(`tỉnh đã nhận ${plays} dòng nhật ký phát (bằng chứng phát sóng)`, `the province received ${plays} play-log rows (proof of play)`);
  await screenshots?.close();
  await agent.stop();
  await province.close();
  await mcu.stop();
  await contentServer.close();
  await broker.close();
  process.exit(0);
});
