import type { Locale } from './messages.js';

/** `loa identify` texts (the pattern of messages.ts), each line within 80 columns. */
export const IDENTIFY_TEXT = {
  badDuration: { vi: '--duration không hợp lệ: "{value}" (ví dụ 30s, 2m)', en: '--duration is not valid: "{value}" (e.g. 30s, 2m)' },
  station: { vi: 'Đài: {id} {name}', en: 'Station: {id} {name}' },
  addresses: { vi: 'Địa chỉ: {list}', en: 'Addresses: {list}' },
  boardShows: { vi: 'Bảng tin hiện mã đài trong {s} giây', en: 'The board shows the station id for {s} s' },
  boardNone: { vi: 'Đài không có bảng tin', en: 'No bulletin board on this station' },
  ledBlinking: { vi: 'Đèn của bo I/O đang nhấp nháy', en: 'The I/O board LED is blinking' },
  ledNone: { vi: 'Không có đèn nhận dạng (không có vi điều khiển có đèn)', en: 'No identify LED (no microcontroller with one)' },
  ledFailed: { vi: 'Đèn không nhấp nháy được: {error}', en: 'The LED could not blink: {error}' },
  toneOk: { vi: 'Đã phát tiếng bíp ở loa kiểm tra ({sink})', en: 'Beeped on the monitor output ({sink})' },
  toneNone: { vi: 'Không có loa kiểm tra (audio.monitor): không bíp', en: 'No monitor output (audio.monitor): no beep' },
  toneFailed: { vi: 'Không bíp được ở loa kiểm tra: {error}', en: 'Could not beep on the monitor output: {error}' },
} as const satisfies Record<string, Record<Locale, string>>;
