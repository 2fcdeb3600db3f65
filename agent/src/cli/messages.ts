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
        [--label TIÊU-ĐỀ] [--text NỘI-DUNG-BẢNG-TIN] [--instructions HƯỚNG-DẪN]
  loa stop                           dừng bản tin đang phát
  loa stop --all                     dừng khẩn: tắt mọi thứ đang phát, bỏ hàng chờ, tạm chặn tin khẩn cấp
  loa stop --release                 bỏ tạm chặn tin khẩn cấp
  loa live [--class normal|priority|emergency] [--zones a,b] [--duration 5m]
                                     nói trực tiếp qua micro của đài (Ctrl-C hoặc loa live --stop để kết thúc)
  loa relay                          trạng thái rơ-le
  loa relay TÊN on|off               bật/tắt một rơ-le (ampli hoặc cụm loa)
  loa test-tone [--zones a,b]        phát âm thử
  loa cache ls|import FILE|verify [SHA]
  loa log [--limit N]                nhật ký phát
  loa report [--from NGÀY --to NGÀY] [--csv]   báo cáo năm (mặc định: 15/12 năm trước đến 14/12)
  loa doctor                         kiểm tra cấu hình và thiết bị
  loa safe-off                       tắt mọi rơ-le (không cần tác tử)
  loa bridge status|relay|inputs|clock|watchdog   vi điều khiển của đài
  loa board [status]                 bảng tin điện tử: đang hiện gì, trang và kiosk
  loa board next [--limit N]         các mục sắp hiện
  loa board log [--limit N]          nhật ký hiển thị (bằng chứng đã hiện)
  loa board show MỤC [--playlist ID] hiện ngay một mục, xong quay lại lịch
  loa board screenshot [FILE]        chụp màn hình bảng tin (PNG)

Tuỳ chọn chung: --config PATH, --json, --lang vi|en`,
    en: `loa: local control of a broadcasting station

  loa status                         station status
  loa schedule [--days N]            schedule for today and the next 7 days
  loa schedule import FILE.json      load a schedule (replaces it whole)
  loa play FILE|CONTENT [--zones a,b] [--class normal|priority|emergency] [--next] [--volume N]
        [--label TITLE] [--text BOARD-TEXT] [--instructions WHAT-TO-DO]
  loa stop                           stop what is playing
  loa stop --all                     emergency stop: all off air, queue dropped, emergencies held off
  loa stop --release                 end the hold-off on emergencies
  loa live [--class normal|priority|emergency] [--zones a,b] [--duration 5m]
                                     speak live through the station microphone (Ctrl-C or loa live --stop ends it)
  loa relay                          relay states
  loa relay NAME on|off              switch one relay (amplifier or zone)
  loa test-tone [--zones a,b]        play a test tone
  loa cache ls|import FILE|verify [SHA]
  loa log [--limit N]                play log
  loa report [--from DATE --to DATE] [--csv]   yearly report (default: 15 Dec last year to 14 Dec)
  loa doctor                         check configuration and hardware
  loa safe-off                       switch every relay off (works without the agent)
  loa bridge status|relay|inputs|clock|watchdog   the station microcontroller
  loa board [status]                 the bulletin board: what shows, page and kiosk
  loa board next [--limit N]         what shows next
  loa board log [--limit N]          display log (proof of display)
  loa board show ITEM [--playlist ID] show one item now, then back to the rotation
  loa board screenshot [FILE]        capture the board's screen (PNG)

Common options: --config PATH, --json, --lang vi|en`,
  },
  daemonDown: {
    vi: 'Tác tử loa không chạy (không kết nối được {socket}). Khởi động: sudo systemctl start loa-agent; kiểm tra: loa doctor',
    en: 'The loa agent is not running (cannot reach {socket}). Start it: sudo systemctl start loa-agent; check: loa doctor',
  },
  daemonTimeout: {
    vi: 'Tác tử loa không trả lời trong {seconds} giây (lệnh có thể đã được thực hiện hoặc chưa). Kiểm tra: loa status; nhật ký: journalctl -u loa-agent',
    en: 'The loa agent did not answer within {seconds} s (the command may or may not have been carried out). Check: loa status; log: journalctl -u loa-agent',
  },
  daemonClosed: {
    vi: 'Tác tử loa đóng kết nối mà không trả lời (có thể vừa khởi động lại). Kiểm tra: loa status; nhật ký: journalctl -u loa-agent',
    en: 'The loa agent closed the connection without answering (it may have just restarted). Check: loa status; log: journalctl -u loa-agent',
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
  alerts: { vi: 'Cảnh báo', en: 'Alerts' },
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
  output: { vi: 'Âm thanh ra', en: 'Output' },
  live: { vi: 'Trực tiếp', en: 'Live' },
  liveOnAir: { vi: 'ĐANG PHÁT', en: 'ON AIR' },
  liveWaiting: { vi: 'CHỜ LÊN SÓNG', en: 'WAITING' },
  liveEnded: { vi: 'Đã kết thúc phát trực tiếp.', en: 'The live broadcast has ended.' },
  liveStarted: { vi: 'Micro lên sóng ({cls}), yêu cầu {id}. Ctrl-C để kết thúc.', en: 'Microphone going on air ({cls}), request {id}. Ctrl-C ends it.' },
  liveStopped: { vi: 'Đã kết thúc: {ids}.', en: 'Ended: {ids}.' },
  liveNone: { vi: 'Không có phát trực tiếp nào.', en: 'No live broadcast is on.' },
  levelNone: { vi: 'chưa đo', en: 'not measured yet' },
  levelSilent: { vi: 'im lặng', en: 'silence' },
  deadAirAlarm: { vi: 'MẤT TIẾNG: im lặng {s} giây khi đang phát', en: 'DEAD AIR: silent for {s} s while on air' },
  unplayable: { vi: 'Nội dung không phát được (chờ tải lại)', en: 'Content that cannot play (waiting to be fetched again)' },
  queued: { vi: 'Bản tin ưu tiên chờ chương trình tới', en: 'Priority bulletins waiting for the next programme' },
  scheduleEmpty: { vi: 'Chưa có lịch phát.', en: 'No programmes scheduled.' },
  scheduleImported: { vi: 'Đã nạp {n} chương trình.', en: 'Loaded {n} programmes.' },
  requestAccepted: { vi: 'Đã nhận yêu cầu {id} ({cls}).', en: 'Request {id} accepted ({cls}).' },
  stopped: { vi: 'Đã dừng {key}.', en: 'Stopped {key}.' },
  nothingToStop: { vi: 'Không có gì đang phát.', en: 'Nothing is playing.' },
  droppedQueued: { vi: 'Đã bỏ {n} yêu cầu đang chờ.', en: 'Dropped {n} waiting requests.' },
  heldOffUntil: { vi: 'Tin khẩn cấp mới bị tạm chặn đến {at} (bỏ chặn: loa stop --release).', en: 'New emergencies are held off until {at} (to end it: loa stop --release).' },
  holdReleased: { vi: 'Đã bỏ tạm chặn: tin khẩn cấp được phát lại.', en: 'Hold-off ended: emergencies play again.' },
  noHold: { vi: 'Không có tạm chặn nào.', en: 'No hold-off was on.' },
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
  relay_confirmed: { vi: 'rơ-le bật suốt', en: 'relay on throughout' },
  relay_dropped: { vi: 'rơ-le mất giữa chừng', en: 'relay dropped' },
  relay_unconfirmed: { vi: 'chưa xác nhận', en: 'unconfirmed' },
  evidence_readback: { vi: 'đọc lại chân GPIO', en: 'read back from the lines' },
  evidence_mcu: { vi: 'theo vi điều khiển và dòng ampli', en: 'from the microcontroller and amplifier current' },
  evidence_none: { vi: 'không có bằng chứng rơ-le', en: 'no relay evidence' },
  state_scheduled: { vi: 'chờ phát', en: 'scheduled' },
  state_playing: { vi: 'đang phát', en: 'playing' },
  state_done: { vi: 'đã phát', en: 'done' },
  state_missed: { vi: 'bỏ lỡ', en: 'missed' },
  state_interrupted: { vi: 'bị ngắt, chờ phát tiếp', en: 'interrupted, to resume' },
  board: { vi: 'Bảng tin', en: 'Board' },
  boardSpan: { vi: 'từ {from} đến {until}', en: 'from {from} until {until}' },
  boardSpanOpen: { vi: 'từ {from}, đến khi hết khẩn cấp', en: 'since {from}, until the emergency ends' },
  boardEmergency: { vi: 'THÔNG BÁO KHẨN CẤP đang chiếm màn hình', en: 'an EMERGENCY holds the screen' },
  boardPage: { vi: 'Trang hiển thị', en: 'Player page' },
  boardPageConnected: { vi: '{n} đang kết nối, phản hồi lần cuối {at}', en: '{n} connected, last answered {at}' },
  boardPageNone: { vi: 'KHÔNG có trang nào kết nối: màn hình có thể không hiện bảng tin (xem loa-board.service)', en: 'NO page connected: the screen may not show the board (see loa-board.service)' },
  boardConfirmed: { vi: 'trang đã hiện mục này lúc {at}', en: 'the page has shown it since {at}' },
  boardUnconfirmed: { vi: 'trang chưa xác nhận mục này', en: 'the page has not confirmed it yet' },
  boardProblem: { vi: 'lỗi hiển thị: {problem}', en: 'display problem: {problem}' },
  boardKiosk: { vi: 'Trình duyệt kiosk', en: 'Kiosk browser' },
  boardKioskNone: { vi: 'không được giám sát (không có board.kiosk)', en: 'not supervised (no board.kiosk)' },
  boardKioskUnchecked: { vi: 'chưa kiểm tra lần nào', en: 'not checked yet' },
  kiosk_ok: { vi: 'ổn', en: 'ok' },
  kiosk_lagging: { vi: 'trang đang chậm so với tác tử', en: 'the page lags behind the agent' },
  kiosk_reloaded: { vi: 'trang vừa được tải lại', en: 'the page was just reloaded' },
  kiosk_restarted: { vi: 'trình duyệt vừa được khởi động lại', en: 'the browser was just restarted' },
  boardScreen: { vi: 'Màn hình', en: 'Screen' },
  boardBlanked: { vi: 'trang bảng tin đang để đen (ngoài giờ bật màn hình)', en: 'the board page is blanked (outside the screen\'s on hours)' },
  boardShownBlanked: { vi: 'Lưu ý: trang bảng tin đang để đen (ngoài giờ bật màn hình), chưa ai thấy mục này.', en: 'Note: the board page is blanked (outside the screen\'s on hours); nobody sees this item yet.' },
  boardAfterEmergency: { vi: 'Đang khẩn cấp; khi hết, bảng tin hiện:', en: 'Emergency on screen; when it ends the board shows:' },
  boardColStart: { vi: 'Bắt đầu', en: 'Start' },
  boardColEnd: { vi: 'Kết thúc', en: 'End' },
  boardColKind: { vi: 'Loại', en: 'Kind' },
  boardColSource: { vi: 'Danh sách', en: 'Playlist' },
  boardColItem: { vi: 'Mục', en: 'Item' },
  boardColLabel: { vi: 'Nội dung', en: 'Content' },
  boardShown: { vi: 'Đang hiện {kind} "{item}" đến {until}; sau đó bảng tin quay lại lịch.', en: 'Showing {kind} "{item}" until {until}; then the board returns to its rotation.' },
  reportTitle: { vi: 'Báo cáo năm của đài, từ {from} đến {to} (múi giờ {tz})', en: 'Station yearly report, {from} to {to} (time zone {tz})' },
  reportCountedUntil: { vi: 'Năm báo cáo chưa kết thúc: số liệu tính đến {at}.', en: 'The reporting year has not ended: figures up to {at}.' },
  reportColGroup: { vi: 'Loại / cụm loa', en: 'Class / zone' },
  reportColItems: { vi: 'Mục', en: 'Items' },
  reportColScheduled: { vi: 'Theo lịch', en: 'Scheduled' },
  reportColRequested: { vi: 'Yêu cầu', en: 'Requested' },
  reportColPlayed: { vi: 'Đã phát', en: 'Played' },
  reportColInterrupted: { vi: 'Bị ngắt', en: 'Interrupted' },
  reportColMissed: { vi: 'Bỏ lỡ', en: 'Missed' },
  reportColFailed: { vi: 'Lỗi', en: 'Failed' },
  reportColSkipped: { vi: 'Bỏ qua', en: 'Skipped' },
  reportColHours: { vi: 'Giờ phát', en: 'Hours on air' },
  reportTotal: { vi: 'Tổng', en: 'Total' },
  reportZone: { vi: 'cụm {zone}', en: 'zone {zone}' },
  class_normal: { vi: 'thường', en: 'normal' },
  class_priority: { vi: 'ưu tiên', en: 'priority' },
  class_emergency: { vi: 'khẩn cấp', en: 'emergency' },
  reportEmergencies: { vi: 'Thông báo khẩn cấp đã phát: {n}; thời gian từ yêu cầu đến âm thanh đầu tiên: trung vị {median} ms, p95 {p95} ms, lâu nhất {max} ms', en: 'Emergencies on air: {n}; request to first sample: median {median} ms, p95 {p95} ms, longest {max} ms' },
  reportEmergenciesNone: { vi: 'Thông báo khẩn cấp đã phát: 0', en: 'Emergencies on air: 0' },
  reportBoard: { vi: 'Bảng tin: {n} lượt hiện ({completed} đủ, {interrupted} bị cắt, {failed} lỗi, {unconfirmed} chưa xác nhận; {emergency} khẩn cấp)', en: 'Board: {n} showings ({completed} completed, {interrupted} interrupted, {failed} failed, {unconfirmed} unconfirmed; {emergency} emergency)' },
  reportOffline: { vi: 'Mất kết nối với tỉnh: {hours} giờ, {periods} lần', en: 'Province link down: {hours} hours, {periods} times' },
  reportOfflineUnknown: { vi: 'Mất kết nối với tỉnh: chưa có số liệu', en: 'Province link down: no records' },
  reportFaults: { vi: 'Sự cố (cảnh báo và lỗi): {n}', en: 'Faults (warnings and errors): {n}' },
  boardLogEmpty: { vi: 'Nhật ký hiển thị trống.', en: 'The display log is empty.' },
  boardResult_completed: { vi: 'đã hiện đủ', en: 'completed' },
  boardResult_interrupted: { vi: 'bị cắt', en: 'interrupted' },
  boardResult_failed: { vi: 'LỖI', en: 'FAILED' },
  boardResult_unconfirmed: { vi: 'chưa xác nhận', en: 'unconfirmed' },
  boardScreenshotSaved: { vi: 'Đã lưu ảnh màn hình bảng tin: {path}', en: 'Board screenshot saved: {path}' },
  boardNone: { vi: 'Đài này không có bảng tin điện tử (cấu hình không có mục "board").', en: 'This station has no bulletin board (no "board" section in its configuration).' },
  boardNoKiosk: { vi: 'Chưa cấu hình trình duyệt kiosk (board.kiosk): tác tử không nhìn thấy màn hình để chụp.', en: 'No kiosk browser is configured (board.kiosk): the agent cannot see the screen to capture it.' },
  boardEmergencyRefused: { vi: 'Bảng tin đang hiện thông báo khẩn cấp: không hiện mục khác được cho đến khi hết khẩn cấp.', en: 'An emergency holds the board: nothing else can be shown until it ends.' },
  source_operator: { vi: 'cán bộ chọn', en: 'operator' },
  source_fallback: { vi: 'dự phòng', en: 'fallback' },
  source_emergency: { vi: 'khẩn cấp', en: 'emergency' },
  kind_notice: { vi: 'thông báo', en: 'notice' },
  kind_text: { vi: 'chữ', en: 'text' },
  kind_image: { vi: 'ảnh', en: 'image' },
  kind_video: { vi: 'video', en: 'video' },
  kind_clock: { vi: 'đồng hồ', en: 'clock' },
  kind_emergency: { vi: 'khẩn cấp', en: 'emergency' },
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
