import { z } from 'zod';
import { strict } from '../lib/strict.js';
import { BridgeConfigSchema } from '../../../firmware-bridge/src/config.js';
import { OUTBOX_DEFAULTS } from '../sync/outbox.js';
import { AlertsConfigSchema, checkAlertAreaNames } from '../alerts/config.js';
import { HealthConfigSchema } from '../health/config.js';

/**
 * The station's one configuration file (default /etc/loa/config.json).
 * Every field has a default except what only the installer can know, so a
 * minimal file is `{ "station": { "id": "..." } }`. The station profile
 * (amplifiers, zones, outputs) says which parts of a station are present: the
 * same agent runs a commune studio and a one-zone village cluster box.
 */

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'use 1-32 lowercase letters, digits, "-" or "_"');

const line = z.number().int().min(0).max(4095);

export const AmplifierSchema = strict.object({
  name,
  line,
  activeLow: z.boolean().default(true),
  /** Time the amplifier needs after power-on before audio may play. */
  warmupMs: z.number().int().min(0).max(5000).default(2000),
});

export const ZoneSchema = strict.object({
  name,
  /** Village or residential group the zone's horns serve, for people. */
  label: z.string().max(80).optional(),
  line,
  activeLow: z.boolean().default(true),
  amplifier: name,
  /** Trim 0-100 for this zone; when zones share an amplifier the lowest trim applies. */
  volume: z.number().int().min(0).max(100).default(100),
});

export const RelaysSchema = strict
  .object({
    driver: z.enum(['sim', 'sysfs', 'gpiod', 'bridge']).default('sim'),
    /** gpiod: the chip (`gpiochip0`); sysfs: the chip label whose base offsets line numbers. */
    chip: z.string().default('gpiochip0'),
    amplifiers: z.array(AmplifierSchema).min(1).default([{ name: 'amp', line: 17, activeLow: true, warmupMs: 2000 }]),
    zones: z.array(ZoneSchema).min(1).default([
      { name: 'zone-1', line: 22, activeLow: true, amplifier: 'amp', volume: 100 },
      { name: 'zone-2', line: 23, activeLow: true, amplifier: 'amp', volume: 100 },
    ]),
    /** Zones close this long before the audio starts (after the warm-up). */
    zoneLeadMs: z.number().int().min(0).max(2000).default(100),
    /** Zones stay closed this long after the audio ends, so no tail is cut. */
    tailMs: z.number().int().min(0).max(10000).default(800),
  })
  .superRefine((r, ctx) => {
    const amps = new Set(r.amplifiers.map((a) => a.name));
    r.zones.forEach((zone, i) => {
      if (!amps.has(zone.amplifier)) {
        ctx.addIssue({
          code: 'custom',
          path: ['zones', i, 'amplifier'],
          message: `no amplifier named "${zone.amplifier}"; define it in relays.amplifiers or use one of: ${[...amps].join(', ')}`,
        });
      }
    });
    const seen = new Map<number, string>();
    [...r.amplifiers.map((a) => ['amplifiers', a] as const), ...r.zones.map((z) => ['zones', z] as const)].forEach(([kind, o]) => {
      const other = seen.get(o.line);
      if (other) {
        ctx.addIssue({ code: 'custom', path: [kind], message: `line ${o.line} is used by both "${other}" and "${o.name}"` });
      }
      seen.set(o.line, o.name);
    });
    const names = new Set<string>();
    for (const z of r.zones) {
      if (names.has(z.name)) ctx.addIssue({ code: 'custom', path: ['zones'], message: `zone name "${z.name}" appears twice` });
      names.add(z.name);
    }
  });

export const SinkSchema = z.discriminatedUnion('kind', [
  strict.object({ kind: z.literal('alsa'), device: z.string().min(1).default('default') }),
  /** Raw PCM (s16le 48 kHz stereo) to a file, paced in real time like a sound card. */
  strict.object({ kind: z.literal('file'), path: z.string().min(1) }),
  /** Discards audio, paced in real time like a sound card. */
  strict.object({ kind: z.literal('null') }),
]);

export const AudioSchema = strict.object({
  sink: SinkSchema.default({ kind: 'alsa', device: 'default' }),
  /** The technician's monitor output (a small speaker or headphones in the cabinet, never the village horns): `loa identify` beeps here. */
  monitor: SinkSchema.optional(),
  loudness: strict
    .object({
      targetLufs: z.number().min(-40).max(-10).default(-23),
      truePeakDbtp: z.number().min(-10).max(0).default(-2),
    })
    .default({ targetLufs: -23, truePeakDbtp: -2 }),
  fadeMs: z.number().int().min(0).max(2000).default(30),
  /** A chime before bulletins of these classes. */
  chime: strict
    .object({ enabled: z.boolean().default(true), classes: z.array(z.enum(['normal', 'priority', 'emergency'])).default(['priority', 'emergency']) })
    .default({ enabled: true, classes: ['priority', 'emergency'] }),
  /** A decoder that yields no audio for this long is killed and the item failed. */
  stallTimeoutMs: z.number().int().min(500).max(60000).default(5000),
  ffmpegPath: z.string().default('ffmpeg'),
  ffprobePath: z.string().default('ffprobe'),
  /** What goes out quieter than thresholdDb (RMS) for longer than holdMs while an item plays is dead air: an alarm. */
  deadAir: strict
    .object({ thresholdDb: z.number().min(-90).max(-10).default(-50), holdMs: z.number().int().min(1000).max(600_000).default(10_000) })
    .default({ thresholdDb: -50, holdMs: 10_000 }),
  /** The station's microphone or line input (`loa live`, push-to-talk on the bridge). */
  capture: strict
    .object({
      /** ALSA capture PCM, e.g. "hw:1,0" or "dsnoop:1". */
      device: z.string().min(1).default('default'),
      arecordPath: z.string().default('arecord'),
      /** Limiter ceiling, dBFS. */
      ceilingDb: z.number().min(-20).max(0).default(-3),
      /** A live without --duration ends after this long. */
      maxMinutes: z.number().int().min(1).max(240).default(30),
      /** The bridge input that is the push-to-talk button, and the class it speaks at. */
      ptt: strict
        .object({ input: z.string().min(1).max(40).default('talk'), class: z.enum(['normal', 'priority', 'emergency']).default('priority'), zones: z.array(z.string()).default([]) })
        .default({ input: 'talk', class: 'priority', zones: [] }),
    })
    .default({ device: 'default', arecordPath: 'arecord', ceilingDb: -3, maxMinutes: 30, ptt: { input: 'talk', class: 'priority', zones: [] } }),
});

export const ScheduleSchema = strict.object({
  /** A programme whose start was missed (agent down, clock wrong) still plays this late; after that it is logged missed. */
  graceMs: z.number().int().min(0).max(3_600_000).default(300_000),
  interruption: strict
    .object({
      normal: z.enum(['resume', 'restart', 'drop']).default('resume'),
      priority: z.enum(['resume', 'restart', 'drop']).default('restart'),
      emergency: z.enum(['resume', 'restart', 'drop']).default('restart'),
    })
    .default({ normal: 'resume', priority: 'restart', emergency: 'restart' }),
  /** Forced volume for emergencies (Circular 39: plays at once, everywhere, loud). */
  emergencyVolume: z.number().int().min(0).max(100).default(100),
});

/**
 * Provincial sync over MQTT. Absent: the station runs alone (local
 * schedule, CLI requests). Credentials are per device; the province key is
 * pinned here and never learnt from the network.
 */
export const SyncSchema = strict.object({
  /** Tried in order, round robin on failure: mqtts://host:8883, mqtt://..., ws(s)://... */
  brokers: z.array(z.string().regex(/^(mqtts?|wss?):\/\/\S+$/, 'use mqtt://, mqtts://, ws:// or wss:// URLs').refine((u) => URL.canParse(u), 'not a valid URL (host:port?)')).min(1),
  /**
   * Development only: accept plaintext mqtt:// and ws:// brokers off this
   * machine (loopback ones are accepted anyway). Warned at every start, in
   * `loa status`, `loa doctor` and health.
   */
  allowInsecure: z.boolean().default(false),
  /** Broker user name; the station id when absent. */
  username: z.string().min(1).max(128).optional(),
  /** The password itself, or (better) a file holding it, readable by loa only. */
  password: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  tls: strict
    .object({
      /** The province CA that signed the broker's certificate (pinned, not the system store). */
      caFile: z.string().min(1).optional(),
      /** Client certificate and key, when the broker asks for them. */
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    })
    .default({}),
  /** Ed25519 public keys of the province (PEM, or 32 raw bytes in base64); more than one only during a key rotation. */
  provinceKeys: z.array(z.string().min(1)).min(1),
  /** Groups the station belongs to (province, commune, cluster...); group commands reach it through these. */
  groups: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" or "-" (at most 64)')).default([]),
  /** MQTT keep-alive. 60 s stays under the idle timeout of most 3G/4G carrier NATs. */
  keepaliveS: z.number().int().min(10).max(1200).default(60),
  /** 5 where the broker speaks it; 4 (3.1.1) for brokers that do not. Nothing depends on 5. */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  /** Broker-side session kept this long while offline, so commands sent during a short drop still arrive. */
  sessionExpiryS: z.number().int().min(0).max(604_800).default(3600),
  reconnect: strict
    .object({
      /** Backoff with full jitter; the very first connect after boot waits a random part of initialMs too. */
      initialMs: z.number().int().min(100).max(600_000).default(5000),
      maxMs: z.number().int().min(1000).max(3_600_000).default(120_000),
      connectTimeoutMs: z.number().int().min(1000).max(120_000).default(15_000),
    })
    .default({ initialMs: 5000, maxMs: 120_000, connectTimeoutMs: 15_000 }),
  download: strict
    .object({
      parallel: z.number().int().min(1).max(8).default(2),
      /** Attempts per file before the run is reported as failed (the whole run is then retried on the `retry` backoff). */
      attempts: z.number().int().min(1).max(100).default(8),
      /** Backoff between runs that could not complete a target (full jitter): the station keeps trying until it has everything. */
      retry: z
        .object({ initialMs: z.number().int().min(10).default(30_000), maxMs: z.number().int().min(10).default(3_600_000) })
        .default({ initialMs: 30_000, maxMs: 3_600_000 }),
    })
    .default({ parallel: 2, attempts: 8, retry: { initialMs: 30_000, maxMs: 3_600_000 } }),
  /** Health is coalesced: at most one pending report, published at most this often. */
  healthIntervalS: z.number().int().min(10).max(86_400).default(300),
  outbox: strict
    .object({
      maxRows: z.number().int().min(100).max(10_000_000).default(OUTBOX_DEFAULTS.maxRows),
      maxBytes: z.number().int().min(65_536).default(OUTBOX_DEFAULTS.maxBytes),
    })
    .default(OUTBOX_DEFAULTS),
}).refine((s) => !(s.password && s.passwordFile), { message: 'give password or passwordFile, not both', path: ['passwordFile'] });

export type SyncConfig = z.infer<typeof SyncSchema>;

const hhmm = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'expected HH:MM (00:00-24:00)');

export const BoardConfigSchema = strict.object({
  /** The player page's loopback port (127.0.0.1 only). */
  port: z.number().int().min(0).max(65535).default(8090),
  /**
   * The kiosk browser (systemd/loa-board.service) that the agent watches
   * over the DevTools Protocol and restarts when it crashes or hangs.
   * DevTools is a Unix socket (systemd/loa-board.socket, group loa), never a TCP port.
   * Absent: nobody supervises the browser.
   */
  kiosk: strict
    .object({
      devtoolsSocket: z.string().min(1).default('/run/loa-board-devtools.sock'),
      /** Argument vector run to restart the browser. */
      restartCommand: z.array(z.string().min(1)).min(1).default(['systemctl', 'restart', 'loa-board.service']),
      checkIntervalMs: z.number().int().min(1000).max(300_000).default(10_000),
    })
    .optional(),
  /** Screen power: on in these windows (station local time), off outside; an emergency always wakes it. */
  display: strict
    .object({
      /** cec-ctl (v4l-utils), cec-client (libcec), blank (a black page, for screens without CEC), sim (records, for tests and the demo). */
      driver: z.enum(['cec-ctl', 'cec-client', 'blank', 'sim']).default('cec-ctl'),
      /** The CEC adapter (cec-ctl only). */
      device: z.string().default('/dev/cec0'),
      /** Empty: always on. */
      on: z
        .array(
          strict
            .object({
              weekdays: z.array(z.number().int().min(1).max(7)).min(1).optional(),
              /** Later than `to`: the window crosses midnight (weekdays are the day it starts). */
              from: hhmm,
              to: hhmm,
            })
            // An empty window and one starting at the end of the day mean nothing; say so rather than guess.
            .refine((w) => w.from !== w.to, { message: 'from and to must differ (for all day use 00:00-24:00)', path: ['to'] })
            .refine((w) => w.from !== '24:00', { message: 'from cannot be 24:00 (use 00:00)', path: ['from'] }),
        )
        .max(20)
        .default([]),
    })
    .default({ driver: 'cec-ctl', device: '/dev/cec0', on: [] }),
  /** The province's feedback channel, offered to citizens as a QR code on the board. */
  feedbackUrl: z.string().url().max(500).optional(),
});
export type BoardConfig = z.infer<typeof BoardConfigSchema>;

/**
 * Self-update (docs/operations.md "Updates"): release bundles announced by
 * the province, verified against the pinned release key, switched by one
 * symlink and committed only after a healthy trial.
 */
export const UpdateConfigSchema = strict.object({
  /** Ed25519 public key of the province's release signer (PEM, or 32 raw bytes in base64); `loa provision` pins it. Absent: updates are refused. */
  releaseKey: z.string().min(1).optional(),
  /** The install root: releases/<version>, the current and previous symlinks. */
  root: z.string().min(1).default('/opt/loa'),
  /** A new release is committed after running healthy this long (playing on schedule, link up, no crash). */
  commitAfterS: z.number().int().min(1).max(86_400).default(300),
  /** Without the link up by this long after the switch, the release is rolled back. */
  trialMaxS: z.number().int().min(1).max(7 * 86_400).default(1800),
  /** Starts of a new release without a commit before the boot check switches back (systemd gives up after 5). */
  maxStarts: z.number().int().min(1).max(4).default(3),
  /** The switch waits for a gap: nothing on air, no emergency, no programme due within this long. */
  gapS: z.number().int().min(10).max(3600).default(120),
  /** How often the gap (while an update waits) and a trial's health are looked at. */
  checkEveryS: z.number().int().min(1).max(60).default(5),
  /** A bundle larger than this is refused before any byte is fetched. */
  maxBundleMb: z.number().int().min(1).max(4096).default(600),
});
export type UpdateConfig = z.infer<typeof UpdateConfigSchema>;

export const ConfigSchema = strict.object({
  station: strict.object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" or "-" (at most 64)'),
    name: z.string().max(120).default(''),
    timezone: z.string().default('Asia/Ho_Chi_Minh'),
    /** Operator-facing language: vi or en. */
    locale: z.enum(['vi', 'en']).default('vi'),
  }),
  paths: strict
    .object({
      state: z.string().default('/var/lib/loa'),
      socket: z.string().default('/run/loa/loa.sock'),
    })
    .default({ state: '/var/lib/loa', socket: '/run/loa/loa.sock' }),
  relays: RelaysSchema.default(() => RelaysSchema.parse({})),
  audio: AudioSchema.default(() => AudioSchema.parse({})),
  schedule: ScheduleSchema.default(() => ScheduleSchema.parse({})),
  cache: strict.object({ quotaMb: z.number().int().min(16).default(2048) }).default({ quotaMb: 2048 }),
  clock: strict
    .object({
      /** Trust the system clock without NTP or a battery RTC (bench rigs only). */
      trustWithoutSync: z.boolean().default(false),
    })
    .default({ trustWithoutSync: false }),
  sync: SyncSchema.optional(),
  log: strict.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).default({ level: 'info' }),
  /** The station microcontroller (firmware-bridge/PROTOCOL.md), when the I/O board has one. */
  bridge: BridgeConfigSchema.optional(),
  /** The HDMI bulletin board, when the station has one. */
  board: BoardConfigSchema.optional(),
  /** Public alerts (CAP 1.2): agent/src/alerts/config.ts. */
  alerts: AlertsConfigSchema.default(() => AlertsConfigSchema.parse({})),
  update: UpdateConfigSchema.default(() => UpdateConfigSchema.parse({})),
  /** Health thresholds (agent/src/health/config.ts): alarms to the province, findings in `loa doctor`. */
  health: HealthConfigSchema,
}).superRefine((c, ctx) => {
  if (c.relays.driver === 'bridge' && !c.bridge) {
    ctx.addIssue({ code: 'custom', path: ['relays', 'driver'], message: 'driver "bridge" needs a "bridge" section with the serial path (e.g. /dev/serial/by-id/...)' });
  }
  if (c.alerts.area) {
    for (const message of checkAlertAreaNames(c.alerts.area, c.relays.zones.map((z) => z.name))) ctx.addIssue({ code: 'custom', path: ['alerts', 'area'], message });
  }
});

export type Config = z.infer<typeof ConfigSchema>;
export type RelaysConfig = Config['relays'];
export type AudioConfig = Config['audio'];
export type SinkConfig = AudioConfig['sink'];
