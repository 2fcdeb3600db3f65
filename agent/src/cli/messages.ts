/**
 * Operator-facing text in Vietnamese and English. Keys are stable; the
 * `satisfies` below makes a message missing in either language a type error.
 */
export type Locale = 'vi' | 'en';

export const MESSAGES = {
  usage: {
    vi: `loa: điều khiển đài truyền thanh tại chỗ

  loa status                         tình trạng đài
  loa schedule [--days N]            lịch phát hôm nay và 7 ngày tới
  loa schedule import FILE.json      nạp lịch phát (thay toàn bộ)
  loa play FILE|NỘI-DUNG [--zones a,b] [--class normal|priority|emergency] [--next] [--volume N]
  loa stop                           dừng bản tin đang phát
  loa relay                          trạng thái rơ-le
  loa relay TÊN on|off               bật/tắt một rơ-le (ampli hoặc cụm loa)
  loa test-tone [--zones a,b]        phát âm thử
  loa cache ls|import FILE|verify [SHA]
  loa log [--limit N]                nhật ký phát
  loa doctor                         kiểm tra cấu hình và thiết bị
  loa safe-off                       tắt mọi rơ-le (không cần tác tử)
  loa bridge status|relay|inputs|clock|watchdog   vi điều khiển của đài

Tuỳ chọn chung: --config PATH, --json, --lang vi|en`,
    en: `loa: local control of a broadcasting station

  loa status                         station status
  loa schedule [--days N]            schedule for today and the next 7 days
  loa schedule import FILE.json      load a schedule (replaces it whole)
  loa play FILE|CONTENT [--zones a,b] [--class normal|priority|emergency] [--next] [--volume N]
  loa stop                           stop what is playing
  loa relay                          relay states
  loa relay NAME on|off              switch one relay (amplifier or zone)
  loa test-tone [--zones a,b]        play a test tone
  loa cache ls|import FILE|verify [SHA]
  loa log [--limit N]                play log
  loa doctor                         check configuration and hardware
  loa safe-off                       switch every relay off (works without the agent)
  loa bridge status|relay|inputs|clock|watchdog   the station microcontroller

Common options: --config PATH, --json, --lang vi|en`,
  },
  daemonDown: {
    vi: 'Tác tử loa không chạy (không kết nối được {socket}). Khởi động: sudo systemctl start loa-agent; kiểm tra: loa doctor',
    en: 'The loa agent is not running (cannot reach {socket}). Start it: sudo systemctl start loa-agent; check: loa doctor',
  },
  unknownCommand: { vi: 'Lệnh không rõ: {cmd}. Xem: loa --help', en: 'Unknown command: {cmd}. See: loa --help' },
  failed: { vi: 'Lỗi: {message}', en: 'Error: {message}' },
  station: { vi: 'Đài', en: 'Station' },
  clock: { vi: 'Đồng hồ', en: 'Clock' },
  clockTrusted: { vi: 'tin cậy ({reason})', en: 'trusted ({reason})' },
  clockUntrusted: { vi: 'CHƯA tin cậy ({reason}): lịch phát đang chờ', en: 'NOT trusted ({reason}): scheduled programmes wait' },
  playing: { vi: 'Đang phát', en: 'Playing' },
  idle: { vi: 'không phát', en: 'nothing' },
  next: { vi: 'Tiếp theo', en: 'Next' },
  none: { vi: 'không có', en: 'none' },
  relays: { vi: 'Rơ-le', en: 'Relays' },
  on: { vi: 'BẬT', en: 'ON' },
  off: { vi: 'tắt', en: 'off' },
  cache: { vi: 'Kho nội dung', en: 'Content cache' },
  outbox: { vi: 'Chờ gửi về tỉnh', en: 'Waiting to send to the province' },
  uptime: { vi: 'Thời gian chạy', en: 'Uptime' },
  province: { vi: 'Tỉnh', en: 'Province' },
  syncOff: { vi: 'không cấu hình đồng bộ (đài chạy độc lập)', en: 'no sync configured (the station runs alone)' },
  syncOnline: { vi: 'đã kết nối {broker}', en: 'connected to {broker}' },
  syncOffline: { vi: 'MẤT KẾT NỐI (đang thử lại; đài vẫn phát theo lịch đã lưu)', en: 'OFFLINE (retrying; the station plays its stored schedule)' },
  syncApplied: { vi: 'cấu hình đích v{version}', en: 'target v{version}' },
  syncNoTarget: { vi: 'chưa nhận cấu hình đích', en: 'no target received yet' },
  syncLast: { vi: 'đồng bộ lần cuối {at}', en: 'last sync {at}' },
  problems: { vi: 'Vấn đề', en: 'Problems' },
  queued: { vi: 'Bản tin ưu tiên chờ chương trình tới', en: 'Priority bulletins waiting for the next programme' },
  scheduleEmpty: { vi: 'Chưa có lịch phát.', en: 'No programmes scheduled.' },
  scheduleImported: { vi: 'Đã nạp {n} chương trình.', en: 'Loaded {n} programmes.' },
  requestAccepted: { vi: 'Đã nhận yêu cầu {id} ({cls}).', en: 'Request {id} accepted ({cls}).' },
  stopped: { vi: 'Đã dừng {key}.', en: 'Stopped {key}.' },
  nothingToStop: { vi: 'Không có gì đang phát.', en: 'Nothing is playing.' },
  relaySet: { vi: 'Rơ-le {name}: {state}.', en: 'Relay {name}: {state}.' },
  imported: { vi: 'Đã nhập {name} ({sha}), {duration} s, độ lớn {lufs} LUFS.', en: 'Imported {name} ({sha}), {duration} s, loudness {lufs} LUFS.' },
  verifyOk: { vi: 'Tất cả {n} tệp nguyên vẹn.', en: 'All {n} files intact.' },
  verifyBad: { vi: '{n} tệp hỏng hoặc thiếu (đã cách ly, sẽ tải lại).', en: '{n} files corrupt or missing (quarantined, will be fetched again).' },
  logEmpty: { vi: 'Nhật ký phát trống.', en: 'The play log is empty.' },
  doctorOk: { vi: 'ỔN', en: 'OK' },
  doctorFail: { vi: 'LỖI', en: 'FAIL' },
  doctorWarn: { vi: 'CHÚ Ý', en: 'WARN' },
  safeOff: { vi: 'Mọi rơ-le đã tắt.', en: 'All relays are off.' },
  result_played: { vi: 'đã phát', en: 'played' },
  result_interrupted: { vi: 'bị ngắt', en: 'interrupted' },
  result_failed: { vi: 'lỗi', en: 'failed' },
  result_missed: { vi: 'bỏ lỡ', en: 'missed' },
  result_skipped: { vi: 'bỏ qua', en: 'skipped' },
  state_scheduled: { vi: 'chờ phát', en: 'scheduled' },
  state_playing: { vi: 'đang phát', en: 'playing' },
  state_done: { vi: 'đã phát', en: 'done' },
  state_missed: { vi: 'bỏ lỡ', en: 'missed' },
  state_interrupted: { vi: 'bị ngắt, chờ phát tiếp', en: 'interrupted, to resume' },
} as const satisfies Record<string, Record<Locale, string>>;

export type MessageKey = keyof typeof MESSAGES;

export function translator(locale: Locale): (key: MessageKey, vars?: Record<string, string | number>) => string {
  return (key, vars = {}) => MESSAGES[key][locale].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? `{${k}}`));
}

/** --lang, then LOA_LANG, then the station's configured language. */
export function chooseLocale(flag: string | undefined, env: string | undefined, configured: Locale | undefined): Locale {
  for (const v of [flag, env]) {
    if (v?.toLowerCase().startsWith('vi')) return 'vi';
    if (v?.toLowerCase().startsWith('en')) return 'en';
  }
  return configured ?? 'vi';
}
