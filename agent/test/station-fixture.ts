/**
 * A whole station for integration tests: the real agent (store, conductor,
 * cache, ffmpeg, paced file sink, control socket) with the simulated relay
 * bank, in a temp folder. Content is real audio made by ffmpeg.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { startAgent, type Agent } from '../src/daemon/agent.js';
import { silentLogger } from '../src/lib/logger.js';
import { SimRelayDriver, simFaultsPath, simStatePath, type Transition } from '../src/relays/sim-driver.js';
import { outputsOf } from '../src/relays/bank.js';
import { makeTestTone } from '../src/audio/tones.js';
import type { PlayLogRow } from '../src/store/station-store.js';
import type { Programme } from '../src/domain/types.js';
import { PacedSink, type AudioSink } from '../src/audio/sink.js';
import { lastAudibleFrame } from '../src/audio/fade.js';
import { PCM } from '../src/audio/pcm.js';

export interface Station {
  agent: Agent;
  config: Config;
  dir: string;
  relays: SimRelayDriver;
  /** Relay transitions as (name, on) in order. */
  switches(): Array<{ name: string; on: boolean; atMs: number }>;
  /** Imports a generated tone and returns its SHA-256. */
  tone(name: string, opts?: { seconds?: number; freq?: number }): Promise<string>;
  /** Rows as they are logged. */
  played: PlayLogRow[];
  /** Resolves when `n` rows have been logged. */
  rows(n: number, timeoutMs?: number): Promise<PlayLogRow[]>;
  /** A one-off programme `inMs` from now. */
  once(p: Omit<Programme, 'recurrence' | 'priority' | 'volume'> & Partial<Pick<Programme, 'priority' | 'volume'>>, inMs: number): number;
  stop(): Promise<void>;
}

export async function startStation(
  over: Record<string, unknown> = {},
  dir = mkdtempSync(join(tmpdir(), 'loa-station-')),
  opts: { ownRelays?: boolean; sink?: AudioSink; onRestartRequested?: () => void } = {},
): Promise<Station> {
  const config = parseConfig({
    station: { id: 'test-station', locale: 'en' },
    paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
    relays: {
      driver: 'sim',
      amplifiers: [{ name: 'amp', line: 17, warmupMs: 300 }],
      zones: [
        { name: 'north', line: 22, amplifier: 'amp' },
        { name: 'south', line: 23, amplifier: 'amp', volume: 50 },
      ],
      zoneLeadMs: 50,
      tailMs: 200,
    },
    audio: { sink: { kind: 'file', path: join(dir, 'out.raw') }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    ...over,
  });
  const names = new Map(outputsOf(config.relays).map((o) => [o.line, o.name]));
  const relays = new SimRelayDriver({ statePath: simStatePath(config.paths.state), names, faultsPath: simFaultsPath(config.paths.state) });
  mkdirSync(config.paths.state, { recursive: true });
  const agent = await startAgent(config, { log: silentLogger(), ...(opts.ownRelays === false ? {} : { relayDriver: relays }), ...(opts.sink ? { sink: opts.sink } : {}), ...(opts.onRestartRequested ? { onRestartRequested: opts.onRestartRequested } : {}) });
  const played: PlayLogRow[] = [];
  const waiters: Array<() => void> = [];
  agent.conductor.on('played', (row: PlayLogRow) => {
    played.push(row);
    waiters.splice(0).forEach((w) => w());
  });
  const outputs = outputsOf(config.relays);
  return {
    agent,
    config,
    dir,
    relays,
    played,
    switches: () =>
      relays.transitions
        .filter((t: Transition) => outputs.some((o) => o.line === t.line))
        .map((t) => {
          const o = outputs.find((x) => x.line === t.line)!;
          return { name: o.name, on: (t.level === 1) !== o.activeLow, atMs: t.atMs };
        }),
    async tone(name, opts = {}) {
      const file = await makeTestTone(join(dir, `${name}.wav`), 'ffmpeg', { durationMs: (opts.seconds ?? 1) * 1000, frequencyHz: opts.freq ?? 440 });
      return (await agent.media.importFile(file, name)).sha256;
    },
    rows(n, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${played.length} of ${n} play-log rows after ${timeoutMs} ms: ${played.map((r) => `${(r.content ?? '-').slice(0, 8)} ${r.result}`).join(', ')}`)), timeoutMs);
        const check = (): void => {
          if (played.length >= n) {
            clearTimeout(timer);
            resolve(played.slice(0, n));
          } else waiters.push(check);
        };
        check();
      });
    },
    once(p, inMs) {
      const at = DateTime.now().setZone(config.station.timezone).plus({ milliseconds: inMs }).startOf('second').plus({ seconds: 1 });
      const existing = agent.store.loadProgrammes().programmes.map(({ knownSinceMs: _k, ...rest }) => rest);
      agent.store.replaceSchedule(
        {
          programmes: [
            ...existing.filter((x) => x.id !== p.id),
            { priority: 0, volume: 80, ...p, recurrence: { kind: 'once', date: at.toISODate()!, time: at.toFormat('HH:mm:ss') } },
          ],
        },
        Date.now() - 60_000,
      );
      agent.conductor.reloadSchedule();
      agent.conductor.kick('test schedule');
      return at.toMillis();
    },
    stop: () => agent.stop(),
  };
}

/** A paced sink recording to `path` (pass it as `sink`), and the instant (wallClockMs) its last non-zero sample was heard. */
export function listenedSink(path: string): { sink: PacedSink; lastAudibleMs(): number | null } {
  const sink = new PacedSink({ path }, silentLogger());
  let last: number | null = null;
  sink.onPlayed((period, playedAtMs) => {
    const frame = lastAudibleFrame(period);
    if (frame >= 0) last = playedAtMs + ((frame + 1) * 1000) / PCM.sampleRate;
  });
  return { sink, lastAudibleMs: () => last };
}

/** Relays driven through the firmware bridge: the simulated microcontroller's outputs 0 (amplifier), 1 and 2 (zones). */
export const BRIDGE_RELAYS = {
  driver: 'bridge',
  amplifiers: [{ name: 'amp', line: 0, activeLow: false, warmupMs: 200 }],
  zones: [{ name: 'north', line: 1, activeLow: false, amplifier: 'amp' }, { name: 'south', line: 2, activeLow: false, amplifier: 'amp' }],
  zoneLeadMs: 50,
  tailMs: 100,
};
