/**
 * CAP 1.2 documents for the alert tests, written as a sender would: the
 * OASIS namespace, dateTimes with their offset (Vietnam, +07:00), codes and
 * geocodes as strings, resources with their SHA-1 digest.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export interface CapSpec {
  identifier: string;
  sender?: string;
  sentMs?: number;
  status?: 'Actual' | 'Exercise' | 'System' | 'Test' | 'Draft';
  msgType?: 'Alert' | 'Update' | 'Cancel';
  /** Earlier messages: "sender,identifier,sent". */
  references?: Array<{ identifier: string; sentMs: number; sender?: string }>;
  headline?: string;
  description?: string;
  instruction?: string;
  expiresMs?: number;
  onsetMs?: number;
  /** Geocodes of the area (valueName VN-ADMIN); none: no area element. */
  geocodes?: string[];
  /** Audio resources by URL: the file read for its size and digest. */
  resources?: Array<{ uri: string; file: string; mimeType?: string }>;
  parameters?: Array<{ valueName: string; value: string }>;
  /** Leave out the info block (a Cancel). */
  noInfo?: boolean;
}

export const SENDER = 'canhbao@phongchongthientai.gov.vn';

/** CAP dateTime in Vietnam's offset, whole seconds. */
export function capTime(ms: number): string {
  const local = new Date(Math.floor(ms / 1000) * 1000 + 7 * 3_600_000);
  return `${local.toISOString().slice(0, 19)}+07:00`;
}

/** Whole-second epoch ms (what a CAP dateTime can say). */
export function wholeSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function capXml(c: CapSpec): string {
  const sender = c.sender ?? SENDER;
  const sent = c.sentMs ?? Date.now();
  const refs = (c.references ?? []).map((r) => `${r.sender ?? SENDER},${r.identifier},${capTime(r.sentMs)}`).join(' ');
  const resources = (c.resources ?? []).map((r) => {
    const bytes = readFileSync(r.file);
    return `<resource><resourceDesc>audio</resourceDesc><mimeType>${r.mimeType ?? 'audio/x-wav'}</mimeType><size>${statSync(r.file).size}</size><uri>${esc(r.uri)}</uri><digest>${createHash('sha1').update(bytes).digest('hex')}</digest></resource>`;
  }).join('');
  const area = c.geocodes ? `<area><areaDesc>Xã Mường Tè</areaDesc>${c.geocodes.map((g) => `<geocode><valueName>VN-ADMIN</valueName><value>${g}</value></geocode>`).join('')}</area>` : '';
  const params = (c.parameters ?? []).map((p) => `<parameter><valueName>${p.valueName}</valueName><value>${p.value}</value></parameter>`).join('');
  const info = c.noInfo ? '' : `
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Lũ quét</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    ${c.onsetMs !== undefined ? `<onset>${capTime(c.onsetMs)}</onset>` : ''}
    ${c.expiresMs !== undefined ? `<expires>${capTime(c.expiresMs)}</expires>` : ''}
    <senderName>Ban Chỉ huy Phòng chống thiên tai tỉnh Lai Châu</senderName>
    <headline>${esc(c.headline ?? 'Cảnh báo lũ quét')}</headline>
    <description>${esc(c.description ?? 'Mưa lớn gây lũ quét trên suối Nậm Na.')}</description>
    <instruction>${esc(c.instruction ?? 'Di chuyển ngay lên vùng cao.')}</instruction>
    ${params}
    ${resources}
    ${area}
  </info>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${esc(c.identifier)}</identifier>
  <sender>${esc(sender)}</sender>
  <sent>${capTime(sent)}</sent>
  <status>${c.status ?? 'Actual'}</status>
  <msgType>${c.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>
  ${refs ? `<references>${refs}</references>` : ''}${info}
</alert>`;
}
