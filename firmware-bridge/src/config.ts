import { z } from 'zod';
import { strict } from '../../agent/src/lib/strict.js';
import { FM_MAX_10KHZ, FM_MIN_10KHZ, WATCHDOG_MAX_MS, WATCHDOG_MIN_MS } from './protocol/messages.js';

/** The `bridge` section of the station configuration. */
export const BridgeConfigSchema = strict.object({
  /** Prefer /dev/serial/by-id/...: it survives replugs and plug order. */
  path: z.string().min(1),
  baudRate: z.number().int().min(1200).max(3_000_000).default(115200),
  requestTimeoutMs: z.number().int().min(20).max(10_000).default(100),
  retries: z.number().int().min(0).max(10).default(2),
  heartbeatMs: z.number().int().min(100).max(60_000).default(1000),
  deadAfterMs: z.number().int().min(300).max(300_000).default(3500),
  reconnect: strict
    .object({ initialMs: z.number().int().min(50).max(60_000).default(250), maxMs: z.number().int().min(100).max(600_000).default(10_000) })
    .default({ initialMs: 250, maxMs: 10_000 }),
  /** Names of the digital inputs by channel, e.g. {"0": "emergency", "1": "door"}. */
  inputs: z.record(z.string().regex(/^(1[0-5]|[0-9])$/, 'input channels are 0-15'), z.string().min(1).max(40)).default({}),
  watchdog: strict
    .object({
      enabled: z.boolean().default(false),
      timeoutMs: z.number().int().min(WATCHDOG_MIN_MS).max(WATCHDOG_MAX_MS).default(60_000),
      warnMs: z.number().int().min(0).default(15_000),
    })
    .refine((w) => w.warnMs < w.timeoutMs, { message: 'watchdog.warnMs must be below watchdog.timeoutMs', path: ['warnMs'] })
    .default({ enabled: false, timeoutMs: 60_000, warnMs: 15_000 }),
  /** The FM fallback source's frequency, MHz, on boards with a tuner. */
  fmFallbackMhz: z.number().min(FM_MIN_10KHZ / 100).max(FM_MAX_10KHZ / 100).optional(),
}).refine((b) => b.deadAfterMs > b.heartbeatMs, { message: 'deadAfterMs must exceed heartbeatMs', path: ['deadAfterMs'] });

export type BridgeConfig = z.infer<typeof BridgeConfigSchema>;
