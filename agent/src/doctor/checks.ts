import { execFile } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config/schema.js';
import type { ConfigError } from '../config/load.js';
import { checkConfig } from '../config/check.js';
import { insecureLinkWarnings } from '../sync/transport-policy.js';
import { describeUnplayable, unplayableContent } from '../cache/unplayable.js';
import { databasePath, refuseNewerSchema, DatabaseNewerError, isCorruption } from '../store/database.js';
import { DEFAULT_BOARD_FONTS } from '../board/server.js';
import { call } from '../cli/client.js';
import type { Locale } from '../cli/messages.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

interface DoctorInput {
  configPath: string;
  config: Config | null;
  configError: ConfigError | null;
  socket: string;
  locale?: Locale;
}

/**
 * `loa doctor`: each part of the station checked on its own, each answer
 * either OK or what to do. Works with the agent stopped.
 */
export async function runDoctor(input: DoctorInput): Promise<{ checks: Check[] }> {
  const L = (m: { vi: string; en: string }): string => m[input.locale ?? 'vi'];
  const checks: Check[] = [];
  const { config } = input;
  if (!config) {
    const fix = L({ vi: `sửa ${input.configPath} theo thông báo trên`, en: `fix ${input.configPath} as the message says` });
    for (const problem of input.configError?.problems ?? [input.configPath]) checks.push({ name: 'config', status: 'fail', detail: problem, fix });
    return { checks };
  }
  // The very findings that make the daemon refuse to start (exit 78).
  const findings = checkConfig(config);
  const locale = input.locale ?? 'vi';
  checks.push(
    findings.length === 0
      ? { name: 'config', status: 'ok', detail: `${input.configPath}: ${config.station.id}` }
      : { name: 'config', status: 'fail', detail: L({ vi: `${input.configPath}: tác tử sẽ không khởi động (${findings.length} lỗi)`, en: `${input.configPath}: the agent will not start (${findings.length} ${findings.length === 1 ? 'problem' : 'problems'})` }) },
    ...findings.map((f): Check => ({ name: 'config', status: 'fail', detail: `${f.field}: ${f.problem[locale]}`, fix: f.fix[locale] })),
  );
  const flagged = new Set(findings.map((f) => f.field));
  if (config.sync) for (const w of insecureLinkWarnings(config.sync.brokers, config.sync.allowInsecure)) checks.push({ name: 'sync', status: 'warn', detail: w[locale] });

  const ffmpeg = await output(config.audio.ffmpegPath, ['-version']);
  checks.push(
    ffmpeg
      ? { name: 'ffmpeg', status: 'ok', detail: ffmpeg }
      : { name: 'ffmpeg', status: 'fail', detail: L({ vi: 'không tìm thấy ffmpeg', en: 'ffmpeg not found' }), fix: 'sudo apt-get install ffmpeg' },
  );

  if (!flagged.has('audio.sink.path')) checks.push(await audioCheck(config, L));
  checks.push(relayCheck(config, L));
  if (!flagged.has('paths.state')) checks.push(diskCheck(config, L));
  checks.push(databaseCheck(config, L));
  checks.push(...contentChecks(config, locale, L));
  checks.push(...boardChecks(config, L));

  try {
    const status = await call<{ clock: { trusted: boolean; reason: string }; problems: string[] }>(input.socket, 'status', {}, 5000);
    checks.push({ name: 'agent', status: 'ok', detail: L({ vi: 'tác tử đang chạy', en: 'agent running' }) });
    checks.push(
      status.clock.trusted
        ? { name: 'clock', status: 'ok', detail: status.clock.reason }
        : {
            name: 'clock',
            status: 'warn',
            detail: L({ vi: `đồng hồ chưa tin cậy (${status.clock.reason}): lịch phát đang chờ`, en: `clock not trusted (${status.clock.reason}): scheduled programmes wait` }),
            fix: L({ vi: 'kết nối mạng để đồng bộ NTP, hoặc kiểm tra đồng hồ RTC của mạch', en: 'connect the network for NTP, or check the board RTC' }),
          },
    );
    for (const p of status.problems) checks.push({ name: 'agent', status: 'warn', detail: p });
  } catch {
    checks.push({
      name: 'agent',
      status: 'warn',
      detail: L({ vi: `tác tử không chạy (${input.socket})`, en: `agent not running (${input.socket})` }),
      fix: 'sudo systemctl start loa-agent; journalctl -u loa-agent -n 50',
    });
  }
  return { checks };
}

async function audioCheck(config: Config, L: (m: { vi: string; en: string }) => string): Promise<Check> {
  const sink = config.audio.sink;
  if (sink.kind === 'null') return { name: 'audio', status: 'warn', detail: L({ vi: 'âm thanh ra null (không phát ra loa)', en: 'audio goes to the null sink (no sound)' }) };
  // Its folder is checked with the configuration (checkConfig).
  if (sink.kind === 'file') return { name: 'audio', status: 'ok', detail: `file ${sink.path}` };
  const devices = await output('aplay', ['-L'], true);
  if (devices === null) return { name: 'audio', status: 'fail', detail: L({ vi: 'thiếu aplay', en: 'aplay missing' }), fix: 'sudo apt-get install alsa-utils' };
  const names = devices.split('\n').filter((l) => l && !l.startsWith(' '));
  const wanted = sink.device.split(':')[0]!;
  if (sink.device === 'default' || names.some((n) => n === sink.device || n.startsWith(wanted))) {
    return { name: 'audio', status: 'ok', detail: `ALSA ${sink.device}` };
  }
  return {
    name: 'audio',
    status: 'fail',
    detail: L({ vi: `không có thiết bị ALSA "${sink.device}"`, en: `no ALSA device "${sink.device}"` }),
    fix: L({ vi: `chọn một trong: ${names.slice(0, 6).join(', ')} (aplay -L)`, en: `use one of: ${names.slice(0, 6).join(', ')} (aplay -L)` }),
  };
}

function relayCheck(config: Config, L: (m: { vi: string; en: string }) => string): Check {
  const r = config.relays;
  const detail = `${r.driver}: ${r.amplifiers.length} amp, ${r.zones.length} zones`;
  switch (r.driver) {
    case 'sim':
      return { name: 'relays', status: 'warn', detail: L({ vi: `${detail} (mô phỏng: không điều khiển phần cứng)`, en: `${detail} (simulated: no hardware is switched)` }) };
    case 'sysfs':
      return existsSync('/sys/class/gpio')
        ? { name: 'relays', status: 'ok', detail }
        : { name: 'relays', status: 'fail', detail: L({ vi: 'không có /sys/class/gpio', en: '/sys/class/gpio is missing' }), fix: L({ vi: 'dùng relays.driver = "gpiod" trên nhân mới', en: 'use relays.driver = "gpiod" on current kernels' }) };
    case 'gpiod':
      return existsSync(`/dev/${r.chip}`)
        ? { name: 'relays', status: 'ok', detail }
        : { name: 'relays', status: 'fail', detail: L({ vi: `không có /dev/${r.chip}`, en: `/dev/${r.chip} is missing` }), fix: L({ vi: 'kiểm tra relays.chip (gpiodetect)', en: 'check relays.chip (gpiodetect)' }) };
    case 'bridge':
      return { name: 'relays', status: 'ok', detail };
  }
}

function diskCheck(config: Config, L: (m: { vi: string; en: string }) => string): Check {
  try {
    // A state folder not made yet (checkConfig found it creatable) lives on its nearest existing ancestor's filesystem.
    let dir = config.paths.state;
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    const total = s.blocks * s.bsize;
    const detail = `${config.paths.state}: ${(free / 1_048_576).toFixed(0)} MB / ${(total / 1_048_576).toFixed(0)} MB`;
    if (free < 200 * 1_048_576) return { name: 'disk', status: 'fail', detail, fix: L({ vi: 'giải phóng dung lượng thẻ nhớ', en: 'free space on the SD card' }) };
    return { name: 'disk', status: 'ok', detail };
  } catch {
    return { name: 'disk', status: 'fail', detail: config.paths.state, fix: L({ vi: 'tạo thư mục trạng thái (systemd StateDirectory)', en: 'create the state directory (systemd StateDirectory)' }) };
  }
}

function databaseCheck(config: Config, L: (m: { vi: string; en: string }) => string): Check {
  const path = databasePath(config.paths.state);
  if (!existsSync(path)) return { name: 'database', status: 'warn', detail: L({ vi: `chưa có ${path} (tạo khi tác tử chạy lần đầu)`, en: `${path} not yet created (made at first start)` }) };
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      refuseNewerSchema(db, path);
      const r = db.pragma('quick_check', { simple: true });
      return r === 'ok'
        ? { name: 'database', status: 'ok', detail: path }
        : { name: 'database', status: 'fail', detail: String(r), fix: L({ vi: 'khởi động lại tác tử: nó cất tệp hỏng và dựng lại', en: 'restart the agent: it keeps the bad file aside and rebuilds' }) };
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof DatabaseNewerError) {
      return { name: 'database', status: 'fail', detail: err.message, fix: L({ vi: `cài lại loa ${err.writtenBy ?? 'bản mới hơn'}; tác tử này không chạy và không đụng tới cơ sở dữ liệu`, en: `install loa ${err.writtenBy ?? 'the newer version'} again; this agent refuses to start and leaves the database alone` }) };
    }
    const fix = isCorruption(err)
      ? L({ vi: 'khởi động lại tác tử: nó cất tệp hỏng và dựng lại', en: 'restart the agent: it keeps the bad file aside and rebuilds' })
      : L({ vi: 'kiểm tra quyền, chỗ trống và ổ đĩa của thư mục trạng thái', en: 'check the state folder: permissions, free space, the disk' });
    return { name: 'database', status: 'fail', detail: (err as Error).message, fix };
  }
}

/** Quarantined or missing content (cache/unplayable.ts), one failure per file, until it is fetched again. */
function contentChecks(config: Config, locale: Locale, L: (m: { vi: string; en: string }) => string): Check[] {
  const path = databasePath(config.paths.state);
  if (!existsSync(path)) return [];
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return unplayableContent(db).map((u) => ({
      name: 'content',
      status: 'fail',
      detail: describeUnplayable(u, locale),
      fix: L({ vi: 'chờ tỉnh gửi lại (loa status), hoặc nhập lại tệp: loa cache import FILE', en: 'wait for the province to send it again (loa status), or import the file again: loa cache import FILE' }),
    }));
  } catch {
    return []; // databaseCheck reports a database that cannot be read
  } finally {
    db?.close();
  }
}

/** The HDMI board: its fonts, the kiosk's programs, the screen's CEC adapter. */
function boardChecks(config: Config, L: (m: { vi: string; en: string }) => string): Check[] {
  const b = config.board;
  if (!b) return [];
  const checks: Check[] = [];
  const missingFonts = Object.values(DEFAULT_BOARD_FONTS).filter((f) => !existsSync(f));
  checks.push(
    missingFonts.length > 0
      ? { name: 'board', status: 'fail', detail: L({ vi: `thiếu phông chữ ${missingFonts.join(', ')}: tiếng Việt sẽ hiển thị sai`, en: `fonts missing ${missingFonts.join(', ')}: Vietnamese would render wrongly` }), fix: 'sudo apt-get install fonts-noto-core' }
      : { name: 'board', status: 'ok', detail: `http://127.0.0.1:${b.port}/` },
  );
  if (b.kiosk) {
    const missing = ['chromium', 'cage'].filter((cmd) => !onPath(cmd));
    if (missing.length > 0) {
      checks.push({ name: 'board', status: 'fail', detail: L({ vi: `thiếu ${missing.join(', ')}: màn hình không có trình duyệt kiosk`, en: `${missing.join(', ')} missing: the screen has no kiosk browser` }), fix: `sudo apt-get install ${missing.join(' ')}` });
    }
  }
  const d = b.display;
  const tool = d.driver === 'cec-ctl' ? 'cec-ctl' : d.driver === 'cec-client' ? 'cec-client' : null;
  if (tool && !onPath(tool)) {
    checks.push({ name: 'display', status: 'fail', detail: L({ vi: `thiếu ${tool}: chỉ làm tối màn hình, không tắt được`, en: `${tool} missing: the screen is only blanked, not switched off` }), fix: `sudo apt-get install ${tool === 'cec-ctl' ? 'v4l-utils' : 'cec-utils'}` });
  } else if (d.driver === 'cec-ctl' && !existsSync(d.device)) {
    checks.push({
      name: 'display',
      status: 'warn',
      detail: L({ vi: `không có bộ CEC ${d.device}: màn hình chỉ được làm tối`, en: `no CEC adapter ${d.device}: the screen is only blanked` }),
      fix: L({ vi: 'bật CEC (Pi: dtoverlay=vc4-kms-v3d) hoặc đặt board.display.driver = "blank"', en: 'enable CEC (Pi: dtoverlay=vc4-kms-v3d) or set board.display.driver to "blank"' }),
    });
  } else checks.push({ name: 'display', status: 'ok', detail: d.driver === 'cec-ctl' ? `cec-ctl ${d.device}` : d.driver });
  return checks;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((dir) => dir && existsSync(`${dir}/${cmd}`));
}

/** A command's first line of output (or all of it), or null if it cannot run. */
function output(cmd: string, args: string[], whole = false): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout) => resolve(err ? null : whole ? stdout : (stdout.split('\n')[0] ?? '').trim()));
  });
}
