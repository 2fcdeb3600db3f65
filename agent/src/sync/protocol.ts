import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { BoardScheduleSchema } from '../board/playlist.js';
import { ContentIdSchema, LiveSourceSchema, MAX_LIVE_MS, ProgrammeSchema } from '../domain/schemas.js';
import { cleanString } from '../lib/text.js';

/**
 * Every payload of the provincial protocol (docs/protocol.md), as zod
 * schemas. docs/schemas/*.json are generated from these (sync-schemas test),
 * so the written protocol and the code cannot drift apart.
 *
 * Signed payloads (target heads, commands, time beacons) travel inside an
 * Envelope; everything else is plain JSON.
 */

export const PROTOCOL_VERSION = 1;

const ident = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" or "-" (at most 64)');
const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const epochMs = z.number().int().min(0).max(8_640_000_000_000_000);
const zoneName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'use 1-32 lowercase letters, digits, "-" or "_"');
const volume = z.number().int().min(0).max(100);

/** Largest accepted MQTT payload on a station topic; larger ones are dropped unread. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/**
 * Largest MQTT packet either end of the link accepts: the broker's
 * `max_packet_size`, the station's announced maximum (MQTT 5) and the cut-off
 * of its incoming byte meter. Above MAX_PAYLOAD_BYTES with room for the topic,
 * properties and a larger signed command.
 */
export const MAX_PACKET_BYTES = 512 * 1024;
/** A target has at most this many parts. */
export const MAX_TARGET_PARTS = 64;

// --- envelope ---------------------------------------------------------------

/**
 * A signed message. `p` is the payload as a JSON string, signed byte for byte
 * (no canonical JSON needed); `k` names the key (first 16 hex digits of the
 * SHA-256 of the raw 32-byte public key); `s` is the Ed25519 signature of the
 * UTF-8 bytes of `p`, in base64.
 */
export const EnvelopeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  k: z.string().regex(/^[0-9a-f]{16}$/, 'use the key id: 16 lowercase hex digits'),
  p: z.string().min(2).max(MAX_PAYLOAD_BYTES),
  s: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'use the 64-byte Ed25519 signature in base64'),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

// --- target state (province -> station, retained) -------------------------------

export const TargetPartRefSchema = strict.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'use 1-64 lowercase letters, digits, ".", "_" or "-"'),
  sha256: ContentIdSchema,
  bytes: z.number().int().min(2).max(MAX_PAYLOAD_BYTES),
});

/**
 * The signed head of a target: which version, for which station, made of
 * which parts. The parts are not signed themselves: the head pins each by
 * SHA-256, so a part is authentic exactly when its hash matches.
 */
export const TargetHeadSchema = strict.object({
  type: z.literal('target'),
  station: ident,
  /** Strictly increasing per station; also the replay guard for targets. */
  version: seq,
  issuedMs: epochMs,
  parts: z.array(TargetPartRefSchema).min(1).max(MAX_TARGET_PARTS),
});
export type TargetHead = z.infer<typeof TargetHeadSchema>;

export const ContentEntrySchema = strict.object({
  sha256: ContentIdSchema,
  /** audio for the speakers; image or video (H.264 MP4) for the bulletin board. */
  kind: z.enum(['audio', 'image', 'video']).default('audio'),
  name: z.string().min(1).max(200),
  bytes: z.number().int().min(1).max(2 ** 40),
  /** http:// or https:// URL the station downloads from (with Range resume). */
  url: z.string().regex(/^https?:\/\/\S+$/, 'use an http:// or https:// URL'),
});

export const ZoneSettingSchema = strict.object({
  name: zoneName,
  label: z.string().max(80).optional(),
  /** Trim 0-100 for this zone. */
  volume,
  /** A disabled zone is never switched on by the schedule (a broken horn line). */
  enabled: z.boolean().default(true),
});

export const StationSettingsSchema = strict.object({
  /** Master volume 0-100, applied on top of programme and zone volume. */
  volume: volume.optional(),
  emergencyVolume: volume.optional(),
  /** Missed-start grace for scheduled programmes. */
  graceMs: z.number().int().min(0).max(3_600_000).optional(),
  /** Health report period asked by the province (the station may publish less often, never more). */
  healthIntervalS: z.number().int().min(10).max(86_400).optional(),
});

export const TargetPartSchema = z.discriminatedUnion('kind', [
  strict.object({ kind: z.literal('programmes'), version: seq, programmes: z.array(ProgrammeSchema).max(500) }),
  strict.object({ kind: z.literal('content'), version: seq, content: z.array(ContentEntrySchema).max(2000) }),
  strict.object({ kind: z.literal('zones'), version: seq, zones: z.array(ZoneSettingSchema).max(64) }),
  strict.object({ kind: z.literal('settings'), version: seq, settings: StationSettingsSchema }),
  /** The bulletin board's playlists (agent/src/board/playlist.ts); its images and videos are in the content manifest. */
  strict.object({ kind: z.literal('board'), version: seq, board: BoardScheduleSchema }),
]);
export type TargetPart = z.infer<typeof TargetPartSchema>;
/** A part as the province writes it (defaults not yet applied). */
export type TargetPartInput = z.input<typeof TargetPartSchema>;

// --- commands (province -> station, not retained) ---------------------------------

const zonesField = z.array(zoneName).max(64).optional();
const reportDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD');

export const CommandActionSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('play'),
    /** Content already in the station cache (or in its target's manifest). */
    content: ContentIdSchema,
    /** Absent: every zone. An emergency (priority 9) always uses every zone. */
    zones: zonesField,
    priority: z.number().int().min(0).max(9),
    volume: volume.optional(),
    repeat: z.number().int().min(1).max(20).default(1),
    /** Cut, not refused, when too long (lib/text.ts): an emergency airs whatever its wording. The payload bound limits the rest. */
    label: cleanString(200).default(''),
    /** Shown on the bulletin board while it plays (an emergency takes the whole screen). */
    text: cleanString(5000, { multiline: true }).optional(),
    /** What people must do, shown under the text. */
    instructions: cleanString(5000, { multiline: true }).optional(),
  }),
  /**
   * A live relay now, on every station it is addressed to (a group: every
   * commune of a district at once). It plays like a play-now request of its
   * priority, with the same failover as a scheduled relay, until
   * `durationMs` or a later `stop`; the command's expiry bounds when it may
   * still start.
   */
  z.strictObject({
    action: z.literal('live'),
    sources: z.array(LiveSourceSchema).min(1).max(8),
    /** Absent: until a `stop` naming this command (at most MAX_LIVE_MS). */
    durationMs: z.number().int().min(1000).max(MAX_LIVE_MS).optional(),
    zones: zonesField,
    priority: z.number().int().min(0).max(9),
    volume: volume.optional(),
    label: cleanString(100).default(''),
    /** Shown by the bulletin board while it plays ("Đang tiếp sóng Đài tỉnh"). */
    display: cleanString(300).optional(),
  }),
  z.strictObject({
    action: z.literal('stop'),
    /** Only this earlier play command, whether on air or still waiting to play (it then never plays); absent: whatever the province started that is on air. */
    commandId: z.string().min(1).max(100).optional(),
  }),
  z.strictObject({ action: z.literal('volume'), volume, zones: zonesField }),
  z.strictObject({
    action: z.literal('relay-test'),
    zones: zonesField,
    durationMs: z.number().int().min(100).max(60_000).default(2000),
  }),
  /** Forget partial state and fetch the target again; republish reported state. */
  z.strictObject({ action: z.literal('resync') }),
  /** Send play-log rows again (they are kept locally even when the outbox drops them). */
  z.strictObject({
    action: z.literal('upload-log'),
    sinceMs: epochMs,
    untilMs: epochMs.optional(),
    maxRows: z.number().int().min(1).max(50_000).default(5000),
  }),
  z.strictObject({ action: z.literal('reboot'), reason: z.string().max(200).default('') }),
  /**
   * The yearly report's figures in the answer's result (as `loa report --json`), for the days
   * from..to (YYYY-MM-DD, both counted, the station's time zone); absent: the current reporting
   * year, 15 December to 14 December.
   */
  z.strictObject({ action: z.literal('report'), from: reportDay.optional(), to: reportDay.optional() }),
  /**
   * A public alert: a CAP 1.2 document, validated against the CAP schema at the station and put
   * through its lifecycle there (docs/alerts.md). It rides in this signed command, so the payload
   * bound holds: audio too large to travel inline (derefUri) is referenced by resource URL.
   */
  z.strictObject({
    action: z.literal('alert'),
    /** The province marks an alert for the whole station with the info parameter LOA_STATION_WIDE=true (alerts/area.ts). */
    cap: z.string().min(1).max(MAX_PAYLOAD_BYTES),
  }),
  /** What the bulletin board shows right now, as a JPEG in the answer's result (proof of display). */
  z.strictObject({ action: z.literal('board-screenshot'), quality: z.number().int().min(10).max(95).default(60) }),
  /**
   * Lowers the station's bound on the province clock to `lowerBoundMs` (rejected if that is above it):
   * the one way to bring it down after a wrongly dated signed message raised it (docs/protocol.md,
   * "Time and expiry"). Judged for expiry by a proven station clock only, never by the bound it corrects.
   */
  z.strictObject({ action: z.literal('clock-reset'), lowerBoundMs: epochMs }),
  /**
   * A release to install (docs/operations.md "Updates"): `manifest` is the
   * release manifest signed by the release key (agent/src/update/manifest.ts:
   * version, SHA-256, size, schemas), `url` where the bundle is served (HTTP
   * Range). The station answers at once and reports its progress as
   * `update.*` events; it switches only in a gap and commits after a healthy
   * trial, or rolls back by itself.
   */
  z.strictObject({
    action: z.literal('update'),
    manifest: z.string().min(1).max(4096),
    url: z.string().max(2000).regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL'),
  }),
]);
export type CommandAction = z.infer<typeof CommandActionSchema>;

export const CommandAddressSchema = z.union([
  z.strictObject({ station: ident }),
  z.strictObject({ group: ident }),
]);

export const CommandSchema = z.strictObject({
  type: z.literal('command'),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'use letters, digits, ".", "_", ":" or "-" (at most 100)'),
  /** Province-wide strictly increasing sequence (shared by all commands of one signer). */
  seq,
  /** Province clock when signed. */
  issuedMs: epochMs,
  /** The command never runs after issuedMs + ttlMs (province time; see docs/protocol.md). */
  ttlMs: z.number().int().min(1000).max(7 * 86_400_000),
  /** Must match the topic it arrived on: a signed command cannot be redirected. */
  to: CommandAddressSchema,
  command: CommandActionSchema,
});
export type Command = z.infer<typeof CommandSchema>;

/** Signed, retained on loa/v1/time: the province clock, a lower bound on "now" that needs no trusted station clock. */
export const TimeBeaconSchema = z.strictObject({
  type: z.literal('time'),
  seq,
  issuedMs: epochMs,
});
export type TimeBeacon = z.infer<typeof TimeBeaconSchema>;

export const SignedPayloadSchema = z.discriminatedUnion('type', [TargetHeadSchema, CommandSchema, TimeBeaconSchema]);
export type SignedPayload = z.infer<typeof SignedPayloadSchema>;

// --- station -> province -----------------------------------------------------------

export const CommandResponseSchema = z.strictObject({
  /** The command's id: the correlation id. */
  id: z.string().min(1).max(100),
  station: ident,
  status: z.enum(['accepted', 'done', 'rejected']),
  reason: z.string().max(500).optional(),
  result: z.unknown().optional(),
  atMs: epochMs,
});
export type CommandResponse = z.infer<typeof CommandResponseSchema>;

/** Retained on .../status: the birth on every connect, the last will (or a clean shutdown) when gone. */
export const StatusSchema = z.discriminatedUnion('state', [
  z.strictObject({
    state: z.literal('online'),
    station: ident,
    /** Increases on every connect, across reboots: orders births and deaths. */
    connectSeq: z.number().int().min(1),
    software: z.string().max(100),
    protocol: z.literal(PROTOCOL_VERSION),
    capabilities: z.array(z.string().max(40)).max(64),
    zones: z.array(zoneName).max(64),
    groups: z.array(ident).max(64),
    bootMs: epochMs,
    atMs: epochMs,
  }),
  z.strictObject({
    state: z.literal('offline'),
    station: ident,
    connectSeq: z.number().int().min(1),
    /** lost: the broker published the last will; shutdown: the station said goodbye. */
    reason: z.enum(['lost', 'shutdown']),
  }),
]);
export type StationStatus = z.infer<typeof StatusSchema>;

export const PlayingSchema = z.strictObject({
  source: z.string().max(40),
  id: z.string().max(200),
  content: ContentIdSchema.optional(),
  priority: z.number().int().min(0).max(9),
  zones: z.array(zoneName),
  startedMs: epochMs,
});

export const ReportedSchema = z.strictObject({
  station: ident,
  /** The target version in force (0: none yet). */
  applied: z.number().int().min(0),
  appliedAtMs: epochMs.optional(),
  /** The newest target seen that is not (yet) in force. */
  pending: z
    .strictObject({
      version: seq,
      state: z.enum(['waiting-parts', 'downloading', 'activating', 'rejected', 'failed']),
      errors: z.array(z.string().max(500)).max(50).default([]),
    })
    .optional(),
  downloading: z
    .array(z.strictObject({ sha256: ContentIdSchema, name: z.string().max(200), bytes: z.number().int(), done: z.number().int() }))
    .max(2000),
  playing: z.array(PlayingSchema).max(16),
  faults: z.array(z.string().max(300)).max(50),
  atMs: epochMs,
});
export type Reported = z.infer<typeof ReportedSchema>;

export const HealthSchema = z.strictObject({
  uptimeS: z.number().int().min(0),
  memoryRssMb: z.number().min(0),
  diskFreeMb: z.number().min(0).optional(),
  cache: z.strictObject({ items: z.number().int().min(0), mb: z.number().min(0) }).optional(),
  outboxDepth: z.number().int().min(0),
  outboxDropped: z.record(z.string(), z.number().int().min(0)),
  clock: z.strictObject({ trusted: z.boolean(), reason: z.string().max(40) }),
  lastSyncMs: epochMs.optional(),
  /** Messages refused, by reason (forged, malformed, replayed...): counted across restarts. */
  refused: z.record(z.string(), z.number().int().min(0)),
  faults: z.array(z.string().max(300)).max(50),
});
export type Health = z.infer<typeof HealthSchema>;

export const OUTBOX_KINDS = ['play', 'event', 'health', 'response'] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];

/** What goes out through the durable outbox, on .../out/{kind} (responses on .../response). */
export const OutboxMessageSchema = z.strictObject({
  /** Unique per message: the province drops duplicates by it (delivery is at least once). */
  id: z.string().min(1).max(100),
  station: ident,
  kind: z.enum(OUTBOX_KINDS),
  createdMs: epochMs,
  body: z.unknown(),
});
export type OutboxMessage = z.infer<typeof OutboxMessageSchema>;

/** The envelope every outbox row carries to the province. */
export function outboxMessage(station: string, kind: OutboxKind, body: unknown, id: string, createdMs: number): OutboxMessage {
  return { id, station, kind, createdMs, body };
}

export const EventBodySchema = z.strictObject({
  event: z.string().max(60),
  level: z.enum(['info', 'warn', 'error']),
  message: z.string().max(1000),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type EventBody = z.infer<typeof EventBodySchema>;

/** Every schema documented in docs/schemas/, by file name. */
export const DOCUMENTED_SCHEMAS: Record<string, z.ZodType> = {
  envelope: EnvelopeSchema,
  'target-head': TargetHeadSchema,
  'target-part': TargetPartSchema,
  command: CommandSchema,
  'time-beacon': TimeBeaconSchema,
  'command-response': CommandResponseSchema,
  status: StatusSchema,
  reported: ReportedSchema,
  'outbox-message': OutboxMessageSchema,
  health: HealthSchema,
  event: EventBodySchema,
};
