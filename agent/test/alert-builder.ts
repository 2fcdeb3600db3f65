import type { AlertInfo, CapAlert } from '../src/alerts/alert.js';

/** CAP alerts as data for the pure lifecycle tests: Actual, Public, one Vietnamese info block, valid for an hour. */

export const T0 = Date.UTC(2026, 11, 2, 5, 0, 0);
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const YEAR = 365 * DAY;

export function capInfo(over: Partial<AlertInfo> = {}): AlertInfo {
  return {
    language: 'vi-VN',
    categories: ['Met'],
    event: 'Lũ quét',
    responseTypes: ['Evacuate'],
    urgency: 'Immediate',
    severity: 'Severe',
    certainty: 'Observed',
    eventCodes: [],
    expiresMs: T0 + HOUR,
    headline: 'Cảnh báo lũ quét',
    description: 'Mưa lớn gây lũ quét trên suối Nậm.',
    instruction: 'Di chuyển lên vùng cao ngay.',
    parameters: [],
    resources: [],
    areas: [],
    ...over,
  };
}

export function capAlert(over: Partial<CapAlert> = {}): CapAlert {
  return {
    identifier: 'VN-01-2026-0001',
    sender: 'pcttkcn@laocai.gov.vn',
    sentMs: T0,
    status: 'Actual',
    msgType: 'Alert',
    scope: 'Public',
    codes: [],
    references: [],
    incidents: [],
    info: [capInfo()],
    ...over,
  };
}

/** The CAP reference to `a` (sender, identifier, sent). */
export const refTo = (a: CapAlert): CapAlert['references'][number] => ({ sender: a.sender, identifier: a.identifier, sentMs: a.sentMs });
