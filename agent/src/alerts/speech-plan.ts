import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { ContentIdSchema } from '../domain/schemas.js';
import type { AlertInfo, AlertResource, AlertSeverity, CapAlert } from './alert.js';
import { type AlertPolicy, DEFAULT_ALERT_POLICY, infoWindow, primaryLanguage, selectInfos } from './lifecycle.js';

/**
 * What an active alert says and shows, as data.
 *
 * `speechPlan(alert, station, available, opts)` → the ordered steps of one
 * play: an attention chime, then one slot per configured language (in the
 * station's order, Vietnamese first) that the alert has an info block for.
 * Each slot plays, in order of preference:
 *   1. the info block's audio `resource` (mimeType audio/*), when present;
 *   2. the pre-recorded message configured for one of its event codes
 *      (one missing from the cache, per `missingContent`, does not count);
 *   3. Vietnamese only: espeak-ng speech of headline, description and
 *      instruction (the text is returned; the adapter synthesises).
 * The alert never waits for a download: a resource still `pending` makes
 * the plan start with the chime and the spoken headline (the `lead`), play
 * whatever else is ready, and list the resource in `waitFor`. When it
 * arrives (or fails) the adapter plans again with `done` = the keys of the
 * steps already played, and gets only what is left. A resource that failed
 * (download, size, digest) falls back to 2 and 3.
 *
 * `boardView(alert, lang, opts)` → the texts the board shows, as given.
 */

const language = z.string().regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, 'use an RFC 3066 language tag: "vi", "hmn", "vi-VN"');

export const PrerecordedSchema = strict.object({
  /** The event code it stands for, as in CAP: valueName and value matched exactly. */
  valueName: z.string().min(1).max(64),
  value: z.string().min(1).max(128),
  language: language.default('vi'),
  content: ContentIdSchema,
});

export const AlertSpeechConfigSchema = strict.object({
  /** Languages to play, Vietnamese first, then the commune's minority languages ("hmn", "tay", ...). */
  languages: z
    .array(language)
    .min(1)
    .max(8)
    .default(['vi'])
    .refine((l) => primaryLanguage(l[0]!) === 'vi', { message: 'Vietnamese ("vi") comes first' }),
  prerecorded: z.array(PrerecordedSchema).max(500).default([]),
  /** An attention chime before every play of an alert. */
  chime: z.boolean().default(true),
});
export type AlertSpeechConfig = z.infer<typeof AlertSpeechConfigSchema>;

export type ResourceState = 'present' | 'pending' | 'failed';

/** "info.index" of a resource, the key of `Availability`. */
export const resourceKey = (info: number, index: number): string => `${info}.${index}`;

export interface Availability {
  /** State of each resource by resourceKey. Absent: pending, unless the resource has neither uri nor derefUri (failed: nothing to get). */
  resources: Readonly<Record<string, ResourceState>>;
  /** Pre-recorded content ids not in the cache: their slot falls back as if none were configured. Absent: all present. */
  missingContent?: readonly string[];
}

export interface ResourceRef {
  info: number;
  index: number;
  key: string;
  mimeType: string;
  uri?: string;
  digest?: string;
  size?: number;
}

export type PlayStep =
  | { key: 'chime'; kind: 'chime' }
  | { key: 'lead'; kind: 'speech'; language: 'vi'; text: string }
  | { key: string; kind: 'resource'; language: string; resource: ResourceRef }
  | { key: string; kind: 'prerecorded'; language: string; content: string; eventCode: string }
  | { key: string; kind: 'speech'; language: 'vi'; text: string };

export interface SpeechPlan {
  steps: PlayStep[];
  /** Resources the plan skipped because they are still coming; plan again when one arrives or fails. */
  waitFor: ResourceRef[];
  /** Languages configured but not played, and why. */
  skipped: Array<{ language: string; reason: string }>;
}

/** espeak-ng reads this much at most: the headline and the start of the rest, not a bulletin. */
export const MAX_SPEECH_CHARS = 1500;

export interface SpeechPlanOptions {
  /** Info blocks in force (Activity.infos); absent: all, in the station's language order. */
  infos?: readonly number[];
  /** Keys of steps already played in this round. */
  done?: readonly string[];
}

type Slot =
  | { language: string; key: string; state: 'ready'; step: PlayStep }
  | { language: string; key: string; state: 'waiting'; resource: ResourceRef }
  | { language: string; key: string; state: 'none'; reason: string };

export function speechPlan(alert: CapAlert, station: AlertSpeechConfig, available: Availability, opts: SpeechPlanOptions = {}): SpeechPlan {
  const infos = opts.infos ?? selectInfos(alert, station.languages);
  const done = new Set(opts.done ?? []);
  const wanted = [...new Set(station.languages.map(primaryLanguage))];
  const byLanguage = (lang: string): number | undefined => infos.find((i) => primaryLanguage(alert.info[i]?.language ?? '') === lang);
  const anyMatch = wanted.some((l) => byLanguage(l) !== undefined);

  const slots: Slot[] = wanted.map((lang) => {
    const key = `lang:${lang}`;
    // An alert in none of the station's languages still has event codes: the Vietnamese slot may play their pre-recorded message.
    const foreign = !anyMatch && lang === 'vi';
    const i = foreign ? infos[0] : byLanguage(lang);
    if (i === undefined || alert.info[i] === undefined) return { language: lang, key, state: 'none', reason: 'no info block in this language' };
    return slotFor(alert.info[i], i, lang, key, foreign, station, available);
  });

  const remaining = slots.filter((s) => !done.has(s.key));
  const steps: PlayStep[] = [];
  if (station.chime && !done.has('chime')) steps.push({ key: 'chime', kind: 'chime' });
  const first = remaining.find((s) => s.state !== 'none');
  if (first?.state === 'waiting' && !done.has('lead')) {
    const vi = byLanguage('vi');
    const text = vi !== undefined ? speechText([alert.info[vi]!.headline ?? alert.info[vi]!.event]) : '';
    if (text) steps.push({ key: 'lead', kind: 'speech', language: 'vi', text });
  }
  for (const s of remaining) if (s.state === 'ready') steps.push(s.step);
  return {
    steps,
    waitFor: remaining.flatMap((s) => (s.state === 'waiting' ? [s.resource] : [])),
    skipped: slots.flatMap((s) => (s.state === 'none' ? [{ language: s.language, reason: s.reason }] : [])),
  };
}

function slotFor(info: AlertInfo, i: number, lang: string, key: string, foreign: boolean, station: AlertSpeechConfig, available: Availability): Slot {
  if (!foreign) {
    const audio = info.resources.map((r, index) => ({ r, index })).filter(({ r }) => r.mimeType.trim().toLowerCase().startsWith('audio/'));
    const refs = audio.map(({ r, index }) => ({ ref: toRef(r, i, index), state: stateOf(r, resourceKey(i, index), available) }));
    const present = refs.find((x) => x.state === 'present');
    if (present) return { language: lang, key, state: 'ready', step: { key, kind: 'resource', language: lang, resource: present.ref } };
    const pending = refs.find((x) => x.state === 'pending');
    if (pending) return { language: lang, key, state: 'waiting', resource: pending.ref };
  }
  const missing = new Set(available.missingContent ?? []);
  const pre = station.prerecorded.find(
    (p) => primaryLanguage(p.language) === lang && !missing.has(p.content) && info.eventCodes.some((c) => c.valueName === p.valueName && c.value.trim() === p.value),
  );
  if (pre) return { language: lang, key, state: 'ready', step: { key, kind: 'prerecorded', language: lang, content: pre.content, eventCode: `${pre.valueName}=${pre.value}` } };
  if (lang === 'vi' && !foreign) {
    const text = speechText([info.headline ?? info.event, info.description, info.instruction]);
    if (text) return { language: lang, key, state: 'ready', step: { key, kind: 'speech', language: 'vi', text } };
  }
  return { language: lang, key, state: 'none', reason: foreign ? 'no info block in a configured language and no pre-recorded message for its event code' : 'no audio, no pre-recorded message for its event code' };
}

function toRef(r: AlertResource, info: number, index: number): ResourceRef {
  return {
    info, index, key: resourceKey(info, index), mimeType: r.mimeType,
    ...(r.uri !== undefined ? { uri: r.uri } : {}),
    ...(r.digest !== undefined ? { digest: r.digest } : {}),
    ...(r.size !== undefined ? { size: r.size } : {}),
  };
}

function stateOf(r: AlertResource, key: string, available: Availability): ResourceState {
  const s = available.resources[key];
  if (s !== undefined) return s;
  return r.uri === undefined && r.derefUri === undefined ? 'failed' : 'pending';
}

/** Parts joined as sentences, whitespace collapsed, cut at a word boundary within MAX_SPEECH_CHARS. */
export function speechText(parts: ReadonlyArray<string | undefined>): string {
  const sentences = parts
    .map((p) => (p ?? '').replace(/\s+/g, ' ').trim())
    .filter((p) => p.length > 0)
    .map((p) => (/[.!?…]$/.test(p) ? p : `${p}.`));
  const text = sentences.join(' ');
  if (text.length <= MAX_SPEECH_CHARS) return text;
  const cut = text.slice(0, MAX_SPEECH_CHARS);
  const space = cut.lastIndexOf(' ');
  return (space > MAX_SPEECH_CHARS / 2 ? cut.slice(0, space) : cut).trimEnd();
}

// ---------------------------------------------------------------- board

export interface BoardAlertView {
  identifier: string;
  language: string;
  event: string;
  severity: AlertSeverity;
  headline?: string;
  description?: string;
  instruction?: string;
  /** senderName when given, else the CAP sender. */
  sender: string;
  /** When the alert ends here (expires, or the station's default lifetime). */
  expiresMs: number;
  /** True when the alert gave no expires and the default lifetime applies. */
  expiresDefaulted: boolean;
}

/**
 * The info block to show for `lang` (else Vietnamese, else the first in
 * force), texts as given: the board module cleans them.
 */
export function boardView(
  alert: CapAlert,
  lang: string,
  opts: { infos?: readonly number[]; policy?: AlertPolicy } = {},
): BoardAlertView | null {
  const infos = opts.infos ?? alert.info.map((_, i) => i);
  const pick = (l: string): number | undefined => infos.find((i) => primaryLanguage(alert.info[i]?.language ?? '') === l);
  const i = pick(primaryLanguage(lang)) ?? pick('vi') ?? infos[0];
  const info = i === undefined ? undefined : alert.info[i];
  if (!info) return null;
  const w = infoWindow(alert, info, opts.policy ?? DEFAULT_ALERT_POLICY);
  return {
    identifier: alert.identifier,
    language: info.language,
    event: info.event,
    severity: info.severity,
    ...(info.headline !== undefined ? { headline: info.headline } : {}),
    ...(info.description !== undefined ? { description: info.description } : {}),
    ...(info.instruction !== undefined ? { instruction: info.instruction } : {}),
    sender: info.senderName ?? alert.sender,
    expiresMs: w.endMs,
    expiresDefaulted: w.defaulted,
  };
}
