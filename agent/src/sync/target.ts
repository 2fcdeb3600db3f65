import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ScheduleDocumentSchema, describeIssues } from '../domain/schemas.js';
import { itemContents, type Programme } from '../domain/types.js';
import type { BoardSchedule } from '../board/playlist.js';
import { ContentEntrySchema, StationSettingsSchema, TargetPartSchema, ZoneSettingSchema, type TargetHead } from './protocol.js';

/**
 * Pure assembly and validation of a target from its signed head and its
 * parts. The whole document is checked before anything is done with it; a
 * bad one is refused whole, with every problem listed.
 */

export type ContentEntry = z.infer<typeof ContentEntrySchema>;
export type ContentEntryInput = z.input<typeof ContentEntrySchema>;
export type ZoneSetting = z.infer<typeof ZoneSettingSchema>;
export type StationSettings = z.infer<typeof StationSettingsSchema>;

export interface ValidatedTarget {
  version: number;
  issuedMs: number;
  programmes: Programme[];
  /** Everything the programmes need, by SHA-256; the station downloads what its cache lacks. */
  content: ContentEntry[];
  zones: ZoneSetting[];
  settings: StationSettings;
  /** The bulletin board's playlists; null: the target says nothing about the board. */
  board: BoardSchedule | null;
}

export type AssembleResult =
  | { state: 'complete'; target: ValidatedTarget }
  | { state: 'incomplete'; missing: string[] }
  | { state: 'invalid'; errors: string[] };

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * @param parts received part payloads by part name (any version: a part is
 *   used only when its hash is the one the head pins).
 * @param stationZones zone names this station has (its relay profile).
 */
export function assembleTarget(head: TargetHead, parts: ReadonlyMap<string, Buffer>, stationZones: readonly string[]): AssembleResult {
  const errors: string[] = [];
  const names = new Set<string>();
  for (const ref of head.parts) {
    if (names.has(ref.name)) errors.push(`head: part "${ref.name}" is listed twice`);
    names.add(ref.name);
  }
  if (errors.length) return { state: 'invalid', errors };

  const missing = head.parts.filter((ref) => {
    const data = parts.get(ref.name);
    return !data || data.length !== ref.bytes || sha256Hex(data) !== ref.sha256;
  });
  if (missing.length) return { state: 'incomplete', missing: missing.map((m) => m.name) };

  const programmes: unknown[] = [];
  const content: ContentEntry[] = [];
  let zones: ZoneSetting[] | undefined;
  let settings: StationSettings | undefined;
  let board: BoardSchedule | undefined;
  for (const ref of head.parts) {
    const where = `part ${ref.name}`;
    let json: unknown;
    try {
      json = JSON.parse(parts.get(ref.name)!.toString('utf8'));
    } catch {
      errors.push(`${where}: not JSON`);
      continue;
    }
    const parsed = TargetPartSchema.safeParse(json);
    if (!parsed.success) {
      errors.push(...describeIssues(parsed.error).map((m) => `${where}: ${m}`));
      continue;
    }
    const part = parsed.data;
    if (part.version !== head.version) errors.push(`${where}: belongs to version ${part.version}, the head is version ${head.version}`);
    switch (part.kind) {
      case 'programmes':
        programmes.push(...part.programmes);
        break;
      case 'content':
        content.push(...part.content);
        break;
      case 'zones':
        if (zones) errors.push(`${where}: a second zones part; a target has at most one`);
        zones = part.zones;
        break;
      case 'settings':
        if (settings) errors.push(`${where}: a second settings part; a target has at most one`);
        settings = part.settings;
        break;
      case 'board':
        if (board) errors.push(`${where}: a second board part; a target has at most one`);
        board = part.board;
        break;
    }
  }
  if (errors.length) return { state: 'invalid', errors };

  const schedule = ScheduleDocumentSchema.safeParse({ programmes });
  if (!schedule.success) return { state: 'invalid', errors: describeIssues(schedule.error) };

  const bySha = new Map<string, ContentEntry>();
  for (const c of content) {
    if (bySha.has(c.sha256)) errors.push(`content ${c.sha256}: listed twice`);
    bySha.set(c.sha256, c);
  }
  const known = new Set(stationZones);
  for (const p of schedule.data.programmes) {
    // A live item's fallback files are content like any other: the reconciler fetches them.
    p.items.forEach((item, i) => {
      for (const sha of itemContents(item)) {
        const entry = bySha.get(sha);
        if (!entry) errors.push(`programme ${p.id}: item ${i}: content ${sha} is not in the content manifest`);
        else if (entry.kind !== 'audio') errors.push(`programme ${p.id}: item ${i}: content ${sha} is ${entry.kind}, not audio`);
      }
    });
    for (const z of p.zones) {
      if (!known.has(z)) errors.push(`programme ${p.id}: zone "${z}" does not exist on this station (it has: ${stationZones.join(', ')})`);
    }
  }
  for (const pl of board ? [...board.playlists, board.defaultPlaylist] : []) {
    for (const item of pl.items) {
      if (item.kind !== 'image' && item.kind !== 'video') continue;
      const entry = bySha.get(item.content);
      if (!entry) errors.push(`board playlist ${pl.id}: item ${item.id}: content ${item.content} is not in the content manifest`);
      else if (entry.kind !== item.kind) errors.push(`board playlist ${pl.id}: item ${item.id}: content ${item.content} is ${entry.kind}, not ${item.kind}`);
    }
  }
  const zoneNames = new Set<string>();
  for (const z of zones ?? []) {
    if (!known.has(z.name)) errors.push(`zones: zone "${z.name}" does not exist on this station (it has: ${stationZones.join(', ')})`);
    if (zoneNames.has(z.name)) errors.push(`zones: zone "${z.name}" is listed twice`);
    zoneNames.add(z.name);
  }
  if (errors.length) return { state: 'invalid', errors };

  return {
    state: 'complete',
    target: {
      version: head.version,
      issuedMs: head.issuedMs,
      programmes: schedule.data.programmes,
      content,
      zones: zones ?? [],
      settings: settings ?? {},
      board: board ?? null,
    },
  };
}
