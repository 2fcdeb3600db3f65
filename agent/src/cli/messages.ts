/**
 * Operator-facing text in Vietnamese and English. Keys are stable; the
 * `satisfies` below makes a message missing in either language a type error.
 */
export type Locale = 'vi' | 'en';

export const MESSAGES = {
  // Errors, by the stable code the CLI or the agent gives (daemon/control-server.ts OperatorError); {vars} are its params.
  'err.bad-lang': { vi: '--lang phải là vi hoặc en, không phải "{value}". / --lang must be vi or en, not "{value}".', en: '--lang must be vi or en, not "{value}". / --lang phải là vi hoặc en, không phải "{value}".' },
  'err.unknown-option': { vi: 'Tuỳ chọn không rõ: {option}. Xem: loa help {cmd}', en: 'Unknown option: {option}. See: loa help {cmd}' },
  'err.missing-value': { vi: 'Tuỳ chọn {option} cần một giá trị, ví dụ {option} {example}.', en: 'Option {option} needs a value, e.g. {option} {example}.' },
  'err.unknown-command': { vi: 'Lệnh không rõ: {cmd}. Xem: loa help', en: 'Unknown command: {cmd}. See: loa help' },
  'err.usage': { vi: 'Thiếu hoặc thừa đối số. Cách dùng: {usage} (xem: loa help {cmd})', en: 'Missing or extra arguments. Usage: {usage} (see: loa help {cmd})' },
  'err.bad-number': { vi: '{option} phải là số nguyên từ {min} đến {max}, không phải "{value}".', en: '{option} must be a whole number from {min} to {max}, not "{value}".' },
  'err.bad-class': { vi: '--class phải là normal (thường), priority (ưu tiên) hoặc emergency (khẩn cấp), không phải "{value}".', en: '--class must be normal, priority or emergency, not "{value}".' },
  'err.bad-duration': { vi: '--duration phải là một khoảng thời gian như 90s, 5m hoặc 1h, không phải "{value}".', en: '--duration must be a length of time such as 90s, 5m or 1h, not "{value}".' },
  'err.bad-date': { vi: '{option} phải là một ngày dạng NĂM-THÁNG-NGÀY (ví dụ 2026-12-15), không phải "{value}".', en: '{option} must be a date YYYY-MM-DD (e.g. 2026-12-15), not "{value}".' },
  'err.no-zones': { vi: '--zones không nêu cụm loa nào. Các cụm loa của đài: {known}', en: '--zones names no zone. The station\'s zones: {known}' },
  'err.unknown-zone': { vi: 'Đài không có cụm loa {zones}. Các cụm loa của đài: {known}', en: 'The station has no zone {zones}. Its zones: {known}' },
  'err.file-missing': { vi: 'Không có tệp {file}.', en: 'No such file: {file}.' },
  'err.file-denied': { vi: 'Không có quyền đọc tệp {file}.', en: 'No permission to read {file}.' },
  'err.file-unwritable': { vi: 'Không ghi được tệp {file}: {reason}', en: 'Cannot write the file {file}: {reason}' },
  'err.file-unreadable': { vi: 'Không đọc được tệp {file}: {reason}', en: 'Cannot read the file {file}: {reason}' },
  'err.not-a-file': { vi: '{file} không phải là một tệp.', en: '{file} is not a file.' },
  'err.schedule-not-json': { vi: 'Tệp lịch {file} không phải JSON hợp lệ: {detail}', en: 'The schedule file {file} is not valid JSON: {detail}' },
  'err.config': { vi: 'Tệp cấu hình có lỗi: {detail}. Kiểm tra: loa doctor', en: 'The configuration has errors: {detail}. Check: loa doctor' },
  'err.daemon-down': { vi: 'Tác tử loa không chạy (không kết nối được {socket}). Khởi động: sudo systemctl start loa-agent; kiểm tra: loa doctor', en: 'The loa agent is not running (cannot reach {socket}). Start it: sudo systemctl start loa-agent; check: loa doctor' },
  'err.daemon-denied': { vi: 'Không có quyền nói chuyện với tác tử loa ({socket}). Chạy bằng sudo, hoặc thêm người dùng vào nhóm loa: sudo adduser $USER loa', en: 'No permission to talk to the loa agent ({socket}). Use sudo, or add the user to the loa group: sudo adduser $USER loa' },
  'err.timeout': { vi: 'Tác tử loa không trả lời trong {seconds} giây (lệnh có thể đã được thực hiện hoặc chưa). Kiểm tra: loa status; nhật ký: journalctl -u loa-agent', en: 'The loa agent did not answer within {seconds} s (the command may or may not have been carried out). Check: loa status; log: journalctl -u loa-agent' },
  'err.closed': { vi: 'Tác tử loa đóng kết nối mà không trả lời (có thể vừa khởi động lại). Kiểm tra: loa status; nhật ký: journalctl -u loa-agent', en: 'The loa agent closed the connection without answering (it may have just restarted). Check: loa status; log: journalctl -u loa-agent' },
  'err.bad-reply': { vi: 'Tác tử loa trả lời không đúng định dạng. Kiểm tra phiên bản: loa doctor', en: 'The loa agent answered something that is not JSON. Check the versions: loa doctor' },
  'err.bad-json': { vi: 'Tác tử nhận được yêu cầu không phải JSON.', en: 'The agent received a request that is not JSON.' },
  'err.too-large': { vi: 'Yêu cầu lớn hơn {mib} MiB: tác tử từ chối.', en: 'The request is larger than {mib} MiB: the agent refused it.' },
  'err.unknown-method': { vi: 'Tác tử không biết lệnh "{method}" (phiên bản loa và tác tử khác nhau?). Kiểm tra: loa doctor', en: 'The agent does not know "{method}" (loa and the agent of different versions?). Check: loa doctor' },
  'err.internal': { vi: 'Tác tử gặp lỗi nội bộ: {detail}. Đài vẫn phát; nhật ký: journalctl -u loa-agent', en: 'The agent met an internal error: {detail}. The station keeps playing; log: journalctl -u loa-agent' },
  'err.unknown-content': { vi: 'Không có nội dung nào trong kho khớp "{content}". Xem: loa cache ls', en: 'No cached content matches "{content}". See: loa cache ls' },
  'err.bad-request': { vi: 'Yêu cầu không hợp lệ, không phát gì: {detail}', en: 'The request is not valid, nothing plays: {detail}' },
  'err.not-played': { vi: 'Tin khẩn cấp không được phát: {reason}', en: 'The emergency was not played: {reason}' },
  'err.live-busy': { vi: 'Đang có một buổi phát trực tiếp từ đài: kết thúc nó trước (loa live --stop).', en: 'A live broadcast from the station is already on: end it first (loa live --stop).' },
  'err.unknown-relay': { vi: 'Không có rơ-le tên "{name}". Các rơ-le: {known}', en: 'No relay named "{name}". Relays: {known}' },
  'err.no-tone': { vi: 'Không tạo được âm thử: xem loa doctor (ffmpeg).', en: 'The test tone could not be made: see loa doctor (ffmpeg).' },
  'err.busy-on-air': { vi: 'Đang phát "{label}": không bật/tắt rơ-le được lúc này; dừng trước (loa stop).', en: '"{label}" is on air: relays cannot be switched now; stop it first (loa stop).' },
  'err.busy-relay-test': { vi: 'Đang thử rơ-le: chờ đến khi xong.', en: 'A relay test is running: wait until it ends.' },
  'err.bad-range': { vi: 'Khoảng ngày không hợp lệ: {detail}', en: 'The date range is not valid: {detail}' },
  'err.invalid-schedule': { vi: 'Lịch phát bị từ chối, không có gì thay đổi: {detail}', en: 'Schedule rejected, nothing changed: {detail}' },
  'err.schedule-unknown-zone': { vi: 'Lịch phát bị từ chối, không có gì thay đổi: đài không có cụm loa {zones} (các cụm loa: {known}).', en: 'Schedule rejected, nothing changed: the station has no zone {zones} (its zones: {known}).' },
  'err.import-failed': { vi: 'Không nhập được {file}: {reason}', en: 'Could not import {file}: {reason}' },
  // Reasons the agent gives with a code (lib/reason.ts), said in the operator's language.
  'reason.no-audio': { vi: 'tệp không có âm thanh', en: 'the file has no audio' },
  'reason.not-media': { vi: 'không phải âm thanh, ảnh hay video', en: 'neither audio, an image nor a video' },
  'reason.wrong-kind': { vi: 'đây là {is}, không phải {expected}', en: 'it is {is}, not {expected}' },
  'reason.video-codec': { vi: 'video phải là H.264 trong MP4 (tệp này là {codec} trong {container}): chuyển mã bằng ffmpeg -c:v libx264 -movflags +faststart', en: 'video must be H.264 in MP4 (this is {codec} in {container}): re-encode with ffmpeg -c:v libx264 -movflags +faststart' },
  'reason.no-duration': { vi: 'tệp trống hoặc không đọc được (không có độ dài)', en: 'the file is empty or unreadable (no duration)' },
  'reason.does-not-decode': { vi: 'tệp hỏng, không giải mã được', en: 'the file is damaged and does not decode' },
  'reason.hash-mismatch': { vi: 'nội dung khác với mã SHA-256 đã báo', en: 'the content differs from the SHA-256 given' },
  'reason.no-such-file': { vi: 'không có tệp', en: 'no such file' },
  'reason.unreadable': { vi: 'không đọc được tệp ({detail})', en: 'the file cannot be read ({detail})' },
  'reason.unusable': { vi: 'không dùng được ({detail})', en: 'not usable ({detail})' },
  'reason.alert-expired': { vi: 'đã hết hạn', en: 'it has expired' },
  'kind.audio': { vi: 'âm thanh', en: 'audio' },
  'kind.image': { vi: 'ảnh', en: 'an image' },
  'kind.video': { vi: 'video', en: 'a video' },
  'err.upload-empty': { vi: 'Tệp trống, không có gì để phát.', en: 'The file is empty: nothing to play.' },
  'err.upload-too-large': { vi: 'Tệp nặng {size} MiB; chỉ gửi được tối đa {max} MiB.', en: 'The file is {size} MiB; at most {max} MiB can be sent.' },
  'err.upload-busy': { vi: 'Đang gửi {n} tệp khác: thử lại khi xong.', en: '{n} files are being sent already: try again when they are done.' },
  'err.upload-broken': { vi: 'Tệp đến không trọn vẹn (byte {at} trên {size}): gửi lại.', en: 'The file did not arrive whole (byte {at} of {size}): send it again.' },
  'err.upload-unknown': { vi: 'Tác tử không còn giữ phần tệp đã gửi (quá một phút không gửi tiếp, hoặc tác tử vừa khởi động lại): gửi lại.', en: 'The agent no longer holds the upload (idle for a minute, or the agent restarted): send the file again.' },
  'err.no-board': { vi: 'Đài này không có bảng tin điện tử (cấu hình không có mục "board").', en: 'This station has no bulletin board (no "board" section in its configuration).' },
  'err.no-kiosk': { vi: 'Chưa cấu hình trình duyệt kiosk (board.kiosk): tác tử không nhìn thấy màn hình để chụp.', en: 'No kiosk browser is configured (board.kiosk): the agent cannot see the screen to capture it.' },
  'err.kiosk': { vi: 'Trình duyệt kiosk không chụp được màn hình: {detail}', en: 'The kiosk browser gave no screenshot: {detail}' },
  'err.emergency': { vi: 'Bảng tin đang hiện thông báo khẩn cấp: không hiện mục khác được cho đến khi hết khẩn cấp.', en: 'An emergency holds the board: nothing else can be shown until it ends.' },
  'err.unknown-playlist': { vi: 'Lịch bảng tin không có danh sách "{playlist}". Các danh sách: {known}', en: 'The board schedule has no playlist "{playlist}". Playlists: {known}' },
  'err.unknown-item': { vi: 'Không có mục "{item}". Các mục: {known}', en: 'No item "{item}". Items: {known}' },
  'err.not-playable': { vi: 'Mục "{item}" chưa hiện được: nội dung {content} chưa có trong kho (hoặc chưa có địa chỉ phản hồi).', en: 'Item "{item}" cannot show yet: its content {content} is not cached (or no feedback URL is set).' },
  'err.bridge': { vi: 'Vi điều khiển của đài ({path}) không trả lời đúng: {detail}', en: 'The station microcontroller ({path}) did not answer properly: {detail}' },
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
  timesIn: { vi: 'Giờ theo múi giờ {tz} (UTC{offset})', en: 'Times in {tz} (UTC{offset})' },
  logEmpty: { vi: 'Nhật ký phát trống.', en: 'The play log is empty.' },
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

/** A catalogue text with its {placeholders} filled (an unknown one stays as written, so a missing value shows). */
export function fillIn(text: string, vars: Record<string, string | number> = {}): string {
  return text.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? `{${k}}`));
}

export function translator(locale: Locale): (key: MessageKey, vars?: Record<string, string | number>) => string {
  return (key, vars = {}) => fillIn(MESSAGES[key][locale], vars);
}

/**
 * The operator's language: `--lang` (already validated), then LOA_LANG, then
 * the locale environment as gettext reads it (LANGUAGE, LC_ALL, LC_MESSAGES,
 * LANG: the first set), vi* meaning Vietnamese and anything else English;
 * C and POSIX (a bare ssh or systemd session) choose nothing. Then the
 * station's configured language (readable to root and the loa group only),
 * and Vietnamese, the language of the stations.
 */
export function chooseLocale(flag: Locale | undefined, env: Record<string, string | undefined>, configured: Locale | undefined): Locale {
  if (flag) return flag;
  const loa = env.LOA_LANG?.toLowerCase();
  if (loa === 'vi' || loa === 'en') return loa;
  const system = [env.LANGUAGE, env.LC_ALL, env.LC_MESSAGES, env.LANG].map((v) => v?.split(':')[0]?.trim() ?? '').find((v) => v !== '');
  if (system && !/^(C|POSIX)([._@].*)?$/.test(system)) return system.toLowerCase().startsWith('vi') ? 'vi' : 'en';
  return configured ?? 'vi';
}

/** `--lang` as given: vi or en (any case), else null. */
export function parseLang(value: string): Locale | null {
  const v = value.toLowerCase();
  return v === 'vi' || v === 'en' ? v : null;
}

/** Whether the catalogue has a message for this error code. */
export function errorKey(code: string): MessageKey | null {
  return messageKey(`err.${code}`);
}

const messageKey = (key: string): MessageKey | null => (Object.hasOwn(MESSAGES, key) ? (key as MessageKey) : null);

/**
 * An error's params with its `reason` in the operator's language where the
 * agent gave a reason code (lib/reason.ts); otherwise as the agent said it.
 */
export function translatedReason(params: Record<string, string | number>, t: ReturnType<typeof translator>): Record<string, string | number> {
  const key = typeof params.reasonCode === 'string' ? messageKey(`reason.${params.reasonCode}`) : null;
  if (!key) return params;
  // Kinds of media ("image", "audio") are words of the operator's language too.
  const vars = { ...params };
  for (const field of ['is', 'expected'] as const) {
    const kind = messageKey(`kind.${String(params[field])}`);
    if (kind) vars[field] = t(kind);
  }
  return { ...params, reason: t(key, vars) };
}
