import type { Locale } from './messages.js';
import { columns, padTo, wrap } from './width.js';

/**
 * `loa help`, `loa help COMMAND`, `loa COMMAND --help`: what each command
 * does and takes, in Vietnamese and English, laid out for 80 columns.
 */
type Text = Record<Locale, string>;

export interface CommandHelp {
  /** Forms of the command, each one line (options in brackets). */
  usage: string[];
  summary: Text;
  details?: Text;
  options?: Array<[flag: string, text: Text]>;
}

const ZONES: [string, Text] = ['--zones a,b', { vi: 'chỉ các cụm loa này (mặc định: mọi cụm loa đang bật)', en: 'only these zones (default: every enabled zone)' }];
const CLASS: [string, Text] = [
  '--class C',
  { vi: 'normal (thường, mặc định), priority (ưu tiên) hoặc emergency (khẩn cấp: phát ngay trên mọi cụm loa, mức âm lượng khẩn cấp)', en: 'normal (default), priority, or emergency (plays at once on every zone at the emergency volume)' },
];
const LIMIT: [string, Text] = ['--limit N', { vi: 'số dòng, 1-1000 (mặc định 30)', en: 'how many rows, 1-1000 (default 30)' }];

export const COMMANDS: Record<string, CommandHelp> = {
  status: {
    usage: ['loa status'],
    summary: { vi: 'tình trạng đài: đồng hồ, đang phát, rơ-le, kết nối tỉnh', en: 'station status: clock, on air, relays, province link' },
  },
  schedule: {
    usage: ['loa schedule [--days N]', 'loa schedule import FILE.json'],
    summary: { vi: 'lịch phát hôm nay và những ngày tới; nạp lịch phát', en: 'the schedule for today and the days ahead; load one' },
    details: {
      vi: 'import thay toàn bộ lịch phát bằng tệp JSON (docs/protocol.md); tệp có lỗi thì không có gì thay đổi.',
      en: 'import replaces the whole schedule with a JSON file (docs/protocol.md); a file with errors changes nothing.',
    },
    options: [['--days N', { vi: 'số ngày, 1-31 (mặc định 8)', en: 'how many days, 1-31 (default 8)' }]],
  },
  play: {
    usage: ['loa play FILE|CONTENT [--zones a,b] [--class C] [--next] [--volume N]'],
    summary: { vi: 'phát một tệp âm thanh hoặc một nội dung đã có trong kho', en: 'play an audio file, or content already in the cache' },
    details: {
      vi: 'FILE là một tệp trên máy này (mp3, wav, ogg...): loa gửi nội dung tệp cho tác tử, nên tệp ở thư mục nhà hay /tmp cũng được. CONTENT là mã SHA-256 (hoặc 8 ký tự đầu) trong loa cache ls.',
      en: 'FILE is a file on this machine (mp3, wav, ogg...): loa sends its bytes to the agent, so a file in a home folder or /tmp works. CONTENT is a SHA-256 (or its first 8 characters or more) from loa cache ls.',
    },
    options: [
      ZONES,
      CLASS,
      ['--next', { vi: 'phát ở đầu chương trình tới, sau tiếng chuông (bản tin ưu tiên)', en: 'play at the head of the next programme, after the chime (priority bulletin)' }],
      ['--volume N', { vi: 'âm lượng 0-100 (mặc định 80)', en: 'volume 0-100 (default 80)' }],
      ['--priority N', { vi: 'mức ưu tiên 0-9 (thay cho --class)', en: 'priority 0-9 (instead of --class)' }],
      ['--label TITLE', { vi: 'tên bản tin trong nhật ký và trên bảng tin', en: 'the bulletin\'s name in the log and on the board' }],
      ['--text TEXT', { vi: 'chữ hiện trên bảng tin khi phát', en: 'text the board shows while it plays' }],
      ['--instructions TEXT', { vi: 'hướng dẫn cho người dân (tin khẩn cấp)', en: 'what people should do (emergencies)' }],
    ],
  },
  stop: {
    usage: ['loa stop', 'loa stop --all', 'loa stop --release'],
    summary: { vi: 'dừng bản tin đang phát', en: 'stop what is playing' },
    details: {
      vi: '--all: dừng khẩn: tắt mọi thứ đang phát, bỏ hàng chờ và tạm chặn tin khẩn cấp mới trong một lúc. --release: bỏ tạm chặn đó.',
      en: '--all: emergency stop: everything off air, the queue dropped, new emergencies held off for a while. --release: end that hold-off.',
    },
  },
  live: {
    usage: ['loa live [--class C] [--zones a,b] [--duration 5m] [--label TITLE]', 'loa live --stop'],
    summary: { vi: 'nói trực tiếp qua micro của đài', en: 'speak live through the station microphone' },
    details: { vi: 'Ctrl-C hoặc loa live --stop (từ cửa sổ khác) để kết thúc.', en: 'Ctrl-C, or loa live --stop from another terminal, ends it.' },
    options: [ZONES, CLASS, ['--duration D', { vi: 'tối đa bao lâu: 90s, 5m, 1h', en: 'at most how long: 90s, 5m, 1h' }]],
  },
  relay: {
    usage: ['loa relay', 'loa relay NAME on|off'],
    summary: { vi: 'trạng thái rơ-le; bật/tắt một rơ-le (ampli hoặc cụm loa)', en: 'relay states; switch one relay (amplifier or zone)' },
    details: { vi: 'Bị từ chối khi đang phát.', en: 'Refused while something is on air.' },
  },
  'test-tone': {
    usage: ['loa test-tone [--zones a,b]'],
    summary: { vi: 'phát âm thử (440 Hz) để nghe loa', en: 'play a test tone (440 Hz) to hear the speakers' },
    options: [ZONES],
  },
  cache: {
    usage: ['loa cache ls', 'loa cache import FILE [--label NAME]', 'loa cache verify [SHA]'],
    summary: { vi: 'kho nội dung: liệt kê, nhập tệp, kiểm tra nguyên vẹn', en: 'the content cache: list, import a file, check integrity' },
  },
  log: {
    usage: ['loa log [--limit N]'],
    summary: { vi: 'nhật ký phát: đã phát gì, lúc nào, trên cụm loa nào', en: 'the play log: what played, when, on which zones' },
    details: { vi: '--json cho thêm mã yêu cầu, mã nội dung và bằng chứng rơ-le.', en: '--json adds request ids, content hashes and relay evidence.' },
    options: [LIMIT],
  },
  report: {
    usage: ['loa report [--from YYYY-MM-DD --to YYYY-MM-DD] [--csv]'],
    summary: { vi: 'báo cáo năm (mặc định: 15/12 năm trước đến 14/12)', en: 'the yearly report (default: 15 Dec last year to 14 Dec)' },
  },
  doctor: {
    usage: ['loa doctor [--click]'],
    summary: { vi: 'kiểm tra cấu hình, tác tử và thiết bị; nói cách sửa', en: 'check configuration, agent and hardware; says how to fix' },
    options: [['--click', { vi: 'bật rồi tắt từng rơ-le để nghe tiếng tách (qua tác tử khi tác tử chạy)', en: 'switch each relay on and off to hear it click (through the agent when it runs)' }]],
  },
  identify: {
    usage: ['loa identify [--duration 30s]'],
    summary: {
      vi: 'đài tự nhận diện: tiếng bíp ở loa kiểm tra, mã đài và địa chỉ trên bảng tin, đèn vi điều khiển nhấp nháy',
      en: 'the station shows who it is: beeps on the monitor output, its id and address on the board, the bridge LED blinking',
    },
  },
  provision: {
    usage: ['loa provision --province URL --ca FILE|--ca-fingerprint SHA256', 'loa provision --token T|--token-file FILE', 'loa provision'],
    summary: {
      vi: 'đăng ký đài với tỉnh: một lệnh, đọc mã hiện trên màn hình cho tỉnh duyệt',
      en: 'enrol the station with the province: one command, read out the code shown for the province to approve',
    },
    options: [
      ['--province URL', { vi: 'địa chỉ HTTPS của dịch vụ đăng ký của tỉnh', en: "the province's enrolment address (HTTPS)" }],
      ['--ca FILE', { vi: 'chứng chỉ CA của tỉnh (ghim)', en: "the province's CA certificate (pinned)" }],
      ['--ca-fingerprint SHA256', { vi: 'hoặc dấu vân tay SHA-256 của CA', en: "or the CA's SHA-256 fingerprint" }],
      ['--token T', { vi: 'mã cấp trước do tỉnh đưa (không cần duyệt)', en: 'a one-time token from the province (no approval wait)' }],
      ['--token-file FILE', { vi: 'tệp mã trên USB', en: 'a token file, e.g. on a USB stick' }],
      ['--no-start', { vi: 'không khởi động lại tác tử sau khi ghi cấu hình', en: 'do not restart the agent after writing the config' }],
    ],
  },
  'safe-off': {
    usage: ['loa safe-off'],
    summary: { vi: 'tắt mọi rơ-le (không cần tác tử)', en: 'switch every relay off (works without the agent)' },
  },
  bridge: {
    usage: ['loa bridge status|inputs', 'loa bridge relay [CHANNEL on|off]', 'loa bridge clock [set]', 'loa bridge watchdog [enable|feed|disable]'],
    summary: { vi: 'vi điều khiển của đài: trạng thái, rơ-le, đầu vào, đồng hồ', en: 'the station microcontroller: status, relays, inputs, clock' },
  },
  board: {
    usage: ['loa board [status]', 'loa board next|log [--limit N]', 'loa board show ITEM [--playlist ID]', 'loa board screenshot [FILE]'],
    summary: { vi: 'bảng tin điện tử: đang hiện gì, sắp hiện, nhật ký, chụp màn hình', en: 'the bulletin board: what shows, what is next, log, screenshot' },
    details: {
      vi: 'show hiện ngay một mục rồi quay lại lịch; screenshot lưu ảnh PNG màn hình bảng tin.',
      en: 'show puts one item on screen now, then back to the rotation; screenshot saves a PNG of the screen.',
    },
    options: [LIMIT],
  },
};

const COMMON: Array<[string, Text]> = [
  ['--lang vi|en', { vi: 'ngôn ngữ (mặc định theo LANG, rồi cấu hình đài)', en: 'language (default: from LANG, then the station config)' }],
  ['--json', { vi: 'kết quả (và lỗi) dạng JSON trên stdout', en: 'the result (and errors) as JSON on stdout' }],
  ['--config PATH', { vi: 'tệp cấu hình (mặc định /etc/loa/config.json)', en: 'configuration file (default /etc/loa/config.json)' }],
  ['--version', { vi: 'phiên bản loa', en: 'the loa version' }],
];

const WORDS = {
  title: { vi: 'loa: điều khiển đài truyền thanh tại chỗ', en: 'loa: local control of a broadcasting station' },
  more: { vi: 'Chi tiết một lệnh: loa help LỆNH (hoặc loa LỆNH --help)', en: 'One command in detail: loa help COMMAND (or loa COMMAND --help)' },
  usage: { vi: 'Cách dùng:', en: 'Usage:' },
  options: { vi: 'Tuỳ chọn:', en: 'Options:' },
  common: { vi: 'Tuỳ chọn chung:', en: 'Common options:' },
} satisfies Record<string, Text>;

/** Two columns: the term, then its text wrapped under itself (a long term on a line of its own). */
function defList(rows: Array<[string, string]>, termWidth: number): string[] {
  const indent = ' '.repeat(termWidth);
  return rows.map(([term, text]) => {
    const body = wrap(text, 80 - termWidth).split('\n');
    const first = columns(term) > termWidth - 3 ? [`  ${term}`, indent + body[0]!] : [`  ${padTo(term, termWidth - 2)}${body[0]!}`];
    return [...first, ...body.slice(1).map((l) => indent + l)].join('\n');
  });
}

/** `loa help`: every command, one summary each. */
export function overview(locale: Locale): string {
  return [
    WORDS.title[locale],
    '',
    ...defList(Object.entries(COMMANDS).map(([name, h]) => [`loa ${name}`, h.summary[locale]]), 20),
    '',
    WORDS.more[locale],
    WORDS.common[locale],
    ...defList(COMMON.map(([f, x]) => [f, x[locale]]), 20),
  ].join('\n');
}

/** `loa help COMMAND`: its forms, what it does, its options; null for a command without help. */
export function commandHelp(name: string, locale: Locale): string | null {
  const h = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!h) return null;
  return [
    WORDS.usage[locale],
    ...h.usage.map((u) => wrap(`  ${u}`, 80)),
    '',
    wrap(h.summary[locale].replace(/^./, (c) => c.toUpperCase()) + '.', 80),
    ...(h.details ? [wrap(h.details[locale], 80)] : []),
    ...(h.options ? ['', WORDS.options[locale], ...defList(h.options.map(([f, x]) => [f, x[locale]]), 22)] : []),
    '',
    WORDS.common[locale],
    ...defList(COMMON.map(([f, x]) => [f, x[locale]]), 22),
  ].join('\n');
}

/** A command's forms on one line, for a usage error. */
export function usageLine(name: string): string {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name]!.usage.join(' | ') : `loa ${name}`;
}
