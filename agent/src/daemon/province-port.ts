import { statfsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { RelaysBusyError, type Conductor } from '../playout/conductor.js';
import type { StationMedia } from '../playout/media.js';
import type { ClockMonitor } from '../clock/monitor.js';
import type { StationPort, StationCommand, CommandOutcome, StationSnapshot } from '../sync/station-port.js';
import type { ValidatedTarget } from '../sync/target.js';
import { settingsFromConfig, withTargetSettings } from '../sync/target-settings.js';
import type { BoardSchedule } from '../board/playlist.js';
import { RequestSchema } from '../domain/request.js';
import type { AlertManager } from '../alerts/manager.js';
import { MAX_LIVE_MS } from '../domain/schemas.js';
import { SOFTWARE_VERSION } from '../version.js';

/**
 * The station as the province's commands see it: every command goes
 * through the same arbiter as a local request, so a province "play now"
 * cannot cut an emergency and an emergency from the province preempts like
 * one from the station.
 */
export function provincePort(deps: {
  config: Config;
  conductor: Conductor;
  /** Public alerts: CAP commands, and province emergencies made alerts. */
  alerts: AlertManager;
  media: StationMedia;
  clock: ClockMonitor;
  problems: () => string[];
  log: Logger;
  /** The agent exits so systemd restarts it (it may not reboot the machine). */
  onRestartRequested: () => void;
  /** A new target's board playlists (null: the target has none). */
  onBoardSchedule: (schedule: BoardSchedule | null) => void;
  /** The yearly report's figures for days from..to (absent: the current reporting year); throws RangeError on a bad range. */
  report: (range: { from?: string; to?: string }) => unknown;
  /** A release announced by the province (update/updater.ts). */
  update?: (offer: { manifest: string; url: string }) => Promise<CommandOutcome>;
  /** What the board's screen shows (null: no kiosk to ask). */
  boardScreenshot: ((quality: number) => Promise<{ jpeg: Buffer; showing: string | null }>) | null;
}): StationPort {
  const { config, conductor, media, log } = deps;
  const zoneNames = config.relays.zones.map((z) => z.name);
  return {
    describe: () => ({
      zones: zoneNames,
      capabilities: ['play', 'live', 'stop', 'volume', 'relay-test', 'reboot', 'report', 'alert', ...(config.update.releaseKey ? ['update'] : []), ...(config.bridge ? ['bridge'] : []), ...(config.board ? ['board'] : []), ...(config.board?.kiosk ? ['board-screenshot'] : [])],
      software: `loa ${SOFTWARE_VERSION}`,
    }),
    contentCache: {
      has: (sha) => media.has(sha),
      import: (path, name, sha, kind) => media.importFile(path, name, sha, kind, { move: true }),
    },
    onTargetActivated: (target: ValidatedTarget) => {
      conductor.updateSettings(withTargetSettings(settingsFromConfig(config), target));
      conductor.reloadSchedule();
      conductor.kick(`target ${target.version} activated`);
      deps.onBoardSchedule(target.board);
    },
    runCommand: async (cmd: StationCommand): Promise<CommandOutcome> => {
      const a = cmd.action;
      const unknown = ('zones' in a && a.zones ? a.zones : []).filter((z) => !zoneNames.includes(z));
      if (unknown.length > 0) return { status: 'rejected', reason: `no zone named ${unknown.join(', ')} on this station` };
      switch (a.action) {
        case 'play': {
          if (!media.has(a.content)) return { status: 'rejected', reason: `content ${a.content} is not in the cache` };
          const parsed = RequestSchema.safeParse({
            id: cmd.id,
            mode: 'now',
            priority: a.priority,
            label: a.label,
            items: [{ content: a.content, repeat: a.repeat, gapMs: 1000 }],
            zones: a.zones ?? [],
            ...(a.volume !== undefined ? { volume: a.volume } : {}),
            origin: 'province',
            expiresMs: cmd.expiresMs,
            ...(a.text !== undefined || a.instructions !== undefined ? { display: { text: a.text ?? '', instructions: a.instructions ?? '' } } : {}),
          });
          if (!parsed.success) return { status: 'rejected', reason: parsed.error.message };
          // An emergency from the province is an alert like any other: one registry, one arbiter, its id in the proof.
          deps.alerts.submit(parsed.data);
          return { status: 'done', result: { queued: true, playing: conductor.nowPlaying()?.key ?? null } };
        }
        case 'live': {
          // Submitted at once: the conductor starts it on its main source within the lead of its relays.
          const parsed = RequestSchema.safeParse({
            id: cmd.id,
            mode: 'now',
            priority: a.priority,
            label: a.label,
            items: [{ live: { sources: a.sources, durationMs: a.durationMs ?? MAX_LIVE_MS, label: a.label, ...(a.display ? { display: a.display } : {}) } }],
            zones: a.zones ?? [],
            ...(a.volume !== undefined ? { volume: a.volume } : {}),
            origin: 'province',
            expiresMs: cmd.expiresMs,
            ...(a.display ? { display: { text: a.display, instructions: '' } } : {}),
          });
          if (!parsed.success) return { status: 'rejected', reason: parsed.error.message };
          const outcome = deps.alerts.submit(parsed.data);
          if (!outcome.accepted) return { status: 'rejected', reason: `emergency not played: ${outcome.reason}` };
          // A fallback file not (yet) cached is left out by the chain; the streams still play.
          const missing = a.sources.flatMap((src) => (src.kind === 'file' ? src.contents : [])).filter((sha) => !media.has(sha));
          return { status: 'done', result: { queued: true, playing: conductor.nowPlaying()?.key ?? null, ...(missing.length ? { fallbackNotCached: missing } : {}) } };
        }
        case 'stop': {
          // One command taken back, on air or still waiting: it never reaches a speaker after this.
          if (a.commandId) {
            const withdrawn = await conductor.withdraw(a.commandId, `withdrawn by the province (stop ${cmd.id})`);
            if (!withdrawn) return { status: 'rejected', reason: `${a.commandId} is neither on air nor waiting to play` };
            await withdrawn.done;
            return { status: 'done', result: { withdrawn: a.commandId, was: withdrawn.was } };
          }
          const now = conductor.nowPlaying();
          if (now?.origin !== 'province') return { status: 'rejected', reason: 'nothing the province started is on air' };
          await conductor.stopCurrent('stopped by the province');
          return { status: 'done', result: { stopped: now.key } };
        }
        case 'volume':
          if (a.zones) {
            conductor.updateSettings({ zones: conductor.settings.zones.map((z) => (a.zones!.includes(z.name) ? { ...z, volume: a.volume } : z)) });
          } else conductor.updateSettings({ masterVolume: a.volume });
          return { status: 'done' };
        case 'relay-test': {
          // Through the conductor's queue: refused while on air, and any broadcast (an emergency first) cuts it short.
          const zones = a.zones ?? zoneNames;
          let test;
          try {
            test = await conductor.relayTest(zones, a.durationMs);
          } catch (err) {
            if (err instanceof RelaysBusyError) return { status: 'rejected', reason: err.message };
            throw err;
          }
          const outcome = await test.done;
          return { status: 'done', result: { zones, durationMs: a.durationMs, completed: outcome.completed, ...(outcome.cutBy ? { cutBy: outcome.cutBy } : {}) } };
        }
        case 'reboot':
          if (conductor.nowPlaying()) return { status: 'rejected', reason: 'a broadcast is on air: restart refused' };
          log.warn({ reason: a.reason }, 'restart requested by the province');
          setTimeout(deps.onRestartRequested, 1000);
          return { status: 'done', result: { restartingAgent: true } };
        case 'report':
          try {
            return { status: 'done', result: deps.report({ ...(a.from ? { from: a.from } : {}), ...(a.to ? { to: a.to } : {}) }) };
          } catch (err) {
            if (err instanceof RangeError) return { status: 'rejected', reason: err.message };
            throw err;
          }
        case 'update':
          return deps.update ? deps.update({ manifest: a.manifest, url: a.url }) : { status: 'rejected', reason: 'this agent has no updater' };
        case 'alert':
          return deps.alerts.receiveCap(a.cap, { origin: 'cap-command', via: cmd.id });
        case 'board-screenshot': {
          if (!deps.boardScreenshot) return { status: 'rejected', reason: config.board ? 'the board has no kiosk browser configured (board.kiosk)' : 'this station has no board' };
          try {
            const shot = await deps.boardScreenshot(a.quality);
            return { status: 'done', result: { format: 'jpeg', takenMs: Date.now(), showing: shot.showing, base64: shot.jpeg.toString('base64') } };
          } catch (err) {
            return { status: 'rejected', reason: `screenshot failed: ${(err as Error).message.split('\n')[0]}` };
          }
        }
      }
    },
    snapshot: (): StationSnapshot => {
      const now = conductor.nowPlaying();
      const stats = media.cacheStats();
      let diskFreeMb: number | undefined;
      try {
        const fs = statfsSync(config.paths.state);
        diskFreeMb = Math.round((fs.bavail * fs.bsize) / 1_048_576);
      } catch {
        diskFreeMb = undefined;
      }
      return {
        playing: now ? [{ source: now.origin, id: now.key, priority: now.priority, zones: now.zones, startedMs: now.startedMs }] : [],
        faults: deps.problems(),
        clock: { trusted: deps.clock.trusted, reason: deps.clock.state.reason },
        cache: { items: stats.items, mb: Math.round(stats.bytes / 1_048_576) },
        ...(diskFreeMb !== undefined ? { diskFreeMb } : {}),
      };
    },
  };
}
