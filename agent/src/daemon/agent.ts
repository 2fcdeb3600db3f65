import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { openStore, databasePath, diskTakesWrites, writeBack, type Db } from '../store/database.js';
import { StationStore } from '../store/station-store.js';
import { recentBoardProof } from '../store/board-proof.js';
import { stationReport } from '../report/station-report.js';
import { Outbox, OUTBOX_DEFAULTS } from '../sync/outbox.js';
import type { SyncClient } from '../sync/client.js';
import type { BoardLink } from './board-link.js';
import { join } from 'node:path';
import { RelayBank } from '../relays/bank.js';
import { createRelayDriver } from '../relays/factory.js';
import type { RelayDriver } from '../relays/driver.js';
import type { AudioSink } from '../audio/sink.js';
import { ClockMonitor, systemNtpSynchronized } from '../clock/monitor.js';
import { Conductor, RelaysBusyError, type StationSettings as ConductorSettings } from '../playout/conductor.js';
import { readAppliedTarget } from '../sync/station-port.js';
import { settingsFromConfig, withTargetSettings } from '../sync/target-settings.js';
import { relayPort } from '../playout/relay-port.js';
import { StationMedia } from '../playout/media.js';
import { startControlServer, OperatorError } from './control-server.js';
import { noBoardHandlers } from './board-control.js';
import { UploadSpool } from './upload-spool.js';
import { CLASS_PRIORITY, classOf, itemContents, type BulletinClass } from '../domain/types.js';
import { RequestSchema } from '../domain/request.js';
import { ScheduleDocumentSchema, describeIssues } from '../domain/schemas.js';
import { SOFTWARE_VERSION } from '../version.js';
import { startOfLocalDay } from '../schedule/planner.js';
import { unplayableContent } from '../cache/unplayable.js';
import { cleanField } from '../lib/text.js';
import { AlertManager, type Submitted } from '../alerts/manager.js';
import { alertStation } from '../alerts/config.js';
import { timeBounds } from '../alerts/lifecycle.js';
import { Updater, prepareUpdateAtStart } from '../update/updater.js';
import { HealthWatch } from './health-link.js';
import { technicianHandlers } from './technician.js';
import { systemProbes } from '../doctor/probes.js';
import { reasonParams } from '../lib/reason.js';
import { isStorageFailure } from '../store/write-behind.js';

export interface Agent {
  config: Config;
  store: StationStore;
  conductor: Conductor;
  /** Public alerts: every emergency, whatever its source, as an alert through the conductor. */
  alerts: AlertManager;
  bank: RelayBank;
  media: StationMedia;
  clock: ClockMonitor;
  sync: SyncClient | null;
  board: BoardLink | null;
  updater: Updater;
  /** Problems an operator must see (`loa status`, `loa doctor`, the province). */
  problems(): string[];
  stop(): Promise<void>;
}

export interface AgentOptions {
  log: Logger;
  /** A relay driver supplied by the caller (the firmware bridge, or a test's). */
  relayDriver?: RelayDriver;
  /** An audio sink supplied by the caller (a benchmark's instrumented one). */
  sink?: AudioSink;
  /** The province asked for a restart (the daemon exits for systemd to restart it). */
  onRestartRequested?: () => void;
  /** Each turn of the main loop that proved progress (the daemon feeds systemd's watchdog here). */
  onHeartbeat?: () => void;
  /** Uncaught errors the daemon caught (daemon/fault-guard.ts), for `problems()`. */
  faults?: () => string[];
  now?: () => number;
}

const LAST_SEEN_KEY = 'clock.last_seen_ms';
/** The province's latest signed time (sync's ProvinceClock keeps it): evidence against a clock far off. */
const PROVINCE_TIME_KEY = 'sync.province_time';
const MAIN_LOOP_MS = 5000;
const JUMP_WATCH_MS = 1000;
/** On a database in memory, how often the state disk is tried, and the gap a restart needs to write it back. */
const DISK_WATCH_MS = 5000;
const DISK_BACK_GAP_MS = 60_000;

/**
 * Builds the station from its configuration, in dependency order, each part
 * handed what it needs. Everything that touches hardware is owned here and
 * nowhere else; field staff reach it through the control socket.
 */
export async function startAgent(config: Config, opts: AgentOptions): Promise<Agent> {
  const { log } = opts;
  const now = opts.now ?? Date.now;
  const startedMs = now();
  const stateDir = config.paths.state;
  mkdirSync(stateDir, { recursive: true, mode: 0o750 });
  const startupProblems: string[] = [];

  // A release rolled back to brings the database back to its own schema before opening it.
  await prepareUpdateAtStart(stateDir, log);
  const opened = openStore(databasePath(stateDir), log);
  const outbox = new Outbox(opened.db, config.sync?.outbox ?? OUTBOX_DEFAULTS, now);
  const store = new StationStore(opened.db, outbox, config.station.id);
  if (opened.inMemory) {
    startupProblems.push(`the state disk takes no writes (${opened.inMemory}): the station runs on a copy of its database in memory, lost at a power cut; once the disk takes writes it restarts between programmes and writes it there`);
  }
  if (opened.rebuiltFrom) {
    startupProblems.push(`database was corrupt: kept as ${opened.rebuiltFrom} and rebuilt; schedule must be re-sent or re-imported`);
    store.recordEvent('database.rebuilt', 'error', 'the station database was corrupt and has been rebuilt empty', { keptAs: opened.rebuiltFrom }, now());
  }

  const lastSeen = (): number | null => {
    const v = store.getMeta(LAST_SEEN_KEY);
    return v === null ? null : Number(v);
  };
  let conductorRef: Conductor | null = null;
  let alertsRef: AlertManager | null = null;
  let syncRef: SyncClient | null = null;
  // Sync and the bridge load only on stations that have them (mqtt and serialport cost memory).
  const bridge = config.bridge
    ? await (await import('./bridge-link.js')).BridgeLink.open(config.bridge, {
        log,
        lastSeenMs: lastSeen(),
        ntpSynchronized: systemNtpSynchronized,
        onInput: (name, level) => onButton(name, level),
        onLink: (up, detail) =>
          store.recordEvent('bridge.link', up ? 'info' : 'error', up ? `firmware bridge connected: ${detail}` : `firmware bridge not connected: ${detail}; relays cannot switch`, { path: config.bridge!.path, up, detail }, now()),
      })
    : null;
  const onButton = (name: string, level: 0 | 1): void => {
    log.info({ input: name, level }, 'station input changed');
    store.recordEvent('input', 'info', `station input ${name} is now ${level}`, { name, level }, now());
    if (name === config.audio.capture.ptt.input) return pushToTalk(level);
    if (level !== 1 || !conductorRef) return;
    // The station's emergency stop: everything off air, the queue dropped, emergencies held off.
    if (name === 'stop') void conductorRef.stopAll({ holdOffMs: config.alerts.stopHoldOffS * 1000, by: 'stop button pressed at the station' }).catch((err: unknown) => log.error({ err }, 'stop button: stop failed'));
    if (name === 'emergency' && media.siren && alertsRef) {
      alertsRef.emergency({ id: `button-${randomUUID()}`, mode: 'now', priority: 9, label: 'Báo động khẩn cấp', items: [{ content: media.siren, repeat: 3, gapMs: 500 }], zones: [], volume: 100, origin: 'button' });
    }
  };

  // Push-to-talk: pressed, the microphone goes on air at the configured class; released, it ends.
  let pttLive: string | null = null;
  const pushToTalk = (level: 0 | 1): void => {
    if (!alertsRef) return;
    if (level === 0) {
      if (pttLive) media.endLive(pttLive);
      pttLive = null;
      return;
    }
    const live = media.liveStatus(now());
    if (live) {
      if (live.id !== pttLive) log.warn({ live: live.id }, 'push-to-talk pressed while a live is on: it goes on');
      return;
    }
    const ptt = config.audio.capture.ptt;
    try {
      pttLive = startLive(alertsRef, media, { cls: ptt.class, zones: ptt.zones, durationMs: config.audio.capture.maxMinutes * 60_000, label: 'Nói trực tiếp (nút bấm)', origin: 'button' }, now()).id;
    } catch (err) {
      log.error({ err }, 'push-to-talk: the live could not go on air');
    }
  };

  // Health alarms reach the province as events, raised and cleared (transitions, not repeats).
  const health = new HealthWatch({
    config: config.health,
    bridge,
    inputNames: config.bridge?.inputs ?? {},
    probes: systemProbes(),
    log,
    onTransition: ({ alarm, state }) =>
      store.recordEvent('health.alarm', state === 'cleared' ? 'info' : alarm.severity, state === 'cleared' ? `cleared: ${alarm.text.en}` : alarm.text.en, { alarm: alarm.id, state, severity: alarm.severity, ...(alarm.value !== undefined ? { value: alarm.value } : {}), text: alarm.text, action: alarm.action }, now()),
  });

  // Relays first and all off: whatever state a crash left them in ends here.
  const driver = opts.relayDriver ?? createRelayDriver(config.relays, { stateDir, log, ...(bridge ? { bridge: bridge.relayDriver() } : {}) });
  const bank = new RelayBank(config.relays, driver, { log, now });
  await bank.open();

  const media = await StationMedia.open(config, store, log, opts.sink);
  // Dead air on what goes out reaches the province as an event, raised and cleared (transitions, not repeats).
  media.deadAir.onDeadAir((t) =>
    t.kind === 'raised'
      ? store.recordEvent('audio.dead-air', 'error', `dead air: the output has been below ${config.audio.deadAir.thresholdDb} dBFS for ${Math.round((t.atMs - t.quietSinceMs) / 1000)} s while a programme plays`, { state: 'raised', quietSinceMs: Math.round(t.quietSinceMs), session: conductorRef?.nowPlaying()?.key ?? null }, now())
      : store.recordEvent('audio.dead-air', 'info', `dead air cleared (${t.why === 'sound' ? 'sound is back' : 'the item ended'}) after ${Math.round(t.quietMs / 1000)} s`, { state: 'cleared', quietMs: Math.round(t.quietMs), why: t.why }, now()),
  );
  if (bridge) media.fmTuner = bridge.fmTuner();
  let board: BoardLink | null = null;
  media.needed = () => [
    // The target in force and one still downloading: a file fetched for it is not evicted by the next.
    ...(syncRef?.neededContent() ?? []),
    ...store.loadProgrammes().programmes.flatMap((p) => p.items.flatMap(itemContents)),
    ...store.pendingRequests('now').flatMap((r) => r.request.items.flatMap(itemContents)),
    ...store.pendingRequests('next-programme').flatMap((r) => r.request.items.flatMap(itemContents)),
    ...(board?.neededContent() ?? []),
    ...(alertsRef?.neededContent() ?? []),
  ];

  const clock = new ClockMonitor({
    log,
    trustWithoutSync: config.clock.trustWithoutSync,
    loadLastSeen: lastSeen,
    rtcValid: () => bridge?.rtcValid ?? false,
    saveLastSeen: (ms) => store.setMeta(LAST_SEEN_KEY, String(ms)),
    provinceMs: () => Number(store.getMeta(PROVINCE_TIME_KEY)) || null,
    now,
  });
  await clock.tick();
  if (clock.trusted) store.dateUndatedSchedule(now());

  // Behind the microcontroller, the play log's relay evidence is its own outputs and amplifier current.
  // What each record says of the clock it was made with.
  const clockLabel = () => (clock.trusted ? clock.state.reason : `untrusted:${clock.state.reason}`);
  const relays = relayPort(bank, config.relays, now, bridge && driver.kind === 'bridge' ? () => bridge.amplifierCurrentMa() : undefined);
  const conductor = new Conductor({
    store,
    ports: { relays, content: media.contentPort(), audio: media.audioPort(), log },
    log,
    timezone: config.station.timezone,
    interruption: config.schedule.interruption,
    settings: startupSettings(config, opened.db),
    chime: media.chime && config.audio.chime.enabled ? { content: media.chime, classes: config.audio.chime.classes } : null,
    prerollMs: 600,
    volumeGainDb: media.volumeGainDb,
    clock: { get trusted() { return clock.trusted; }, label: clockLabel },
    now,
  });
  clock.on('trust', () => {
    // A schedule imported while the clock was wrong counts from now, not from the wrong time.
    if (clock.trusted && store.dateUndatedSchedule(now()) > 0) conductor.reloadSchedule();
    conductor.kick('clock trust changed');
  });
  clock.on('jump', () => conductor.kick('clock jumped'));
  const station = alertStation(config);
  const alerts = new AlertManager({
    config: config.alerts,
    station,
    store,
    conductor,
    media,
    // The province's clock proves time has passed even when the station's cannot: an expired alert stays silent.
    bounds: () => timeBounds({ wallMs: now(), clockTrusted: clock.trusted, provinceLowerMs: syncRef?.provinceTime() ?? (Number(store.getMeta(PROVINCE_TIME_KEY)) || null) }),
    heldOffUntil: () => conductor.heldOffUntil(),
    stationChime: media.chime !== null && config.audio.chime.enabled && config.audio.chime.classes.includes('emergency'),
    workDir: join(stateDir, 'alerts'),
    timezone: config.station.timezone,
    log: log.child({ part: 'alerts' }),
    now,
  });
  conductor.start();
  // In the same tick: an alert that expired while the power was off is withdrawn before the conductor's first decision.
  alerts.recover();
  conductorRef = conductor;
  alertsRef = alerts;
  alerts.startFeeds().catch((err: unknown) => log.error({ err }, 'alert feeds could not start'));
  clock.on('trust', () => alerts.clockChanged());
  clock.on('jump', () => alerts.clockChanged());
  // A live whose session is over for good (played, stopped, failed) is ended; a preempted one waits to come back.
  conductor.on('session', (e: { key: string; state: string }) => {
    if (e.key.startsWith('request:live-') && e.state !== 'started' && e.state !== 'interrupted') media.endLive(e.key.slice('request:'.length));
  });

  const problems = (): string[] => [
    ...startupProblems,
    ...media.startupProblems,
    ...conductor.problems,
    ...(conductor.storageProblem ? [conductor.storageProblem] : []),
    ...heldOff(conductor),
    ...(clock.trusted ? [] : [`clock not trusted (${clock.state.reason}): scheduled programmes wait`]),
    ...(board?.problems() ?? []),
    ...(opts.faults?.() ?? []),
    ...(bridge?.problems() ?? []),
    ...health.problems(),
    ...(syncRef?.problems() ?? []),
    ...(media.deadAir.status().alarm ? [`dead air: the output is silent (below ${config.audio.deadAir.thresholdDb} dBFS) while a programme plays`] : []),
  ];

  const { SyncClient, provincePort } = config.sync
    ? { SyncClient: (await import('../sync/client.js')).SyncClient, provincePort: (await import('./province-port.js')).provincePort }
    : { SyncClient: null, provincePort: null };
  // The board shows what the one arbiter decided: an emergency on the speakers is one on the screen.
  // A board that cannot start (its port taken) is a problem to report, never a station off air.
  try {
    board = config.board
      ? await (await import('./board-link.js')).BoardLink.open(config.board, { log: log.child({ part: 'board' }), timezone: config.station.timezone, conductor, media, store, now, clockLabel })
      : null;
  } catch (err) {
    log.error({ err }, 'board could not start; the station plays without it');
    startupProblems.push(`board could not start: ${(err as Error).message.split('\n')[0]}`);
  }
  clock.on('jump', () => board?.clockJumped());
  if (board) alerts.attachBoard((alert) => board!.showAlert(alert));

  // The gate of a restart in a gap (an update, the database put back on the disk): no alert on air.
  const activeEmergency = (): string | null => alerts.status().find((a) => a.state === 'active')?.identifier ?? null;
  const restart = opts.onRestartRequested ?? (() => log.warn('restart requested, but this agent was not started by the daemon'));
  const updater = new Updater({
    config: config.update,
    stateDir,
    db: opened.db,
    log: log.child({ part: 'update' }),
    event: (event, level, message, data) => store.recordEvent(event, level, message, data, now()),
    lock: (gapMs, emergency) => conductor.updateLock(gapMs, emergency),
    emergency: activeEmergency,
    restart,
    linkUp: () => (syncRef ? syncRef.status().connected : null),
    conductorResponsive: () => conductor.ping(5000),
    faults: () => opts.faults?.().length ?? 0,
    now,
  });
  const sync = config.sync && SyncClient && provincePort
    ? new SyncClient({
        stationId: config.station.id,
        config: config.sync,
        port: provincePort({
          config, conductor, alerts, media, clock, problems, log,
          onBoardSchedule: (schedule) => board?.setSchedule(schedule),
          boardScreenshot: board?.kiosk ? (quality) => board!.screenshot(quality) : null,
          report: (range) => stationReport(store.db, { timezone: config.station.timezone, nowMs: now(), ...range }),
          onRestartRequested: restart,
          update: (offer) => updater.offer(offer),
        }),
        db: opened.db,
        log,
        downloadDir: join(stateDir, 'downloads'),
        outbox,
        now,
      })
    : null;
  // Time offline for the yearly report: every start begins offline, the link's transitions follow.
  // The yearly report's link journal: a disk that takes no writes loses a line of it, nothing more.
  const recordLink = (online: boolean): void => {
    try {
      store.recordLink(online, now());
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
    }
  };
  recordLink(false);
  sync?.on('connected', () => recordLink(true));
  sync?.on('disconnected', () => recordLink(false));
  // After a restart without NTP the saved bound may predate an alert's expiry: the first newer signed time ends it.
  sync?.on('time-bound', () => alerts.clockChanged());
  // A file found corrupt or missing at play (or by loa cache verify) is fetched again at once.
  media.cache.onProblem = (sha) => sync?.reconcile(`content ${sha} found missing or corrupt`);
  syncRef = sync;
  sync?.start();
  await updater.start();
  health.start();

  const agent: Agent = {
    config,
    store,
    conductor,
    alerts,
    bank,
    media,
    clock,
    problems,
    sync,
    board,
    updater,
    async stop() {
      clearInterval(loop);
      clearInterval(jumpWatch);
      updater.close();
      health.stop();
      await server?.close();
      await spool.close();
      await sync?.stop();
      await board?.close();
      alerts.close();
      clearInterval(diskWatch);
      await conductor.shutdown();
      clock.persist();
      await bank.close();
      await bridge?.close();
      await media.close();
      if (opened.inMemory) {
        try {
          writeBack(opened.db, databasePath(stateDir));
          log.warn('the database in memory is written to the state disk');
        } catch (err) {
          log.error({ err: (err as Error).message }, 'the database in memory could not be written to the state disk: what it recorded is lost');
        }
      }
      opened.db.close();
    },
  };

  // The main loop: the clock looked at, the conductor proven responsive. Only
  // then are the heartbeats sent (systemd's watchdog, the board's), so a
  // wedged agent gets restarted; being offline never stops them.
  // A clock step is looked for every second, not only at each turn (see ClockMonitor.lookForJump).
  const jumpWatch = setInterval(() => clock.lookForJump(), JUMP_WATCH_MS);
  // On a database in memory: once the disk takes a write again, a restart in a gap writes it there (stop, then writeBack).
  let restarting = false;
  const diskWatch = opened.inMemory
    ? setInterval(() => {
        if (restarting || !diskTakesWrites(stateDir)) return;
        void conductor.updateLock(DISK_BACK_GAP_MS, activeEmergency()).then((lock) => {
          if ('refused' in lock || restarting) return;
          restarting = true;
          log.warn('the state disk takes writes again: restarting between programmes to put the database back on it');
          restart();
        });
      }, DISK_WATCH_MS).unref()
    : undefined;
  const loop = setInterval(() => {
    void (async () => {
      await clock.tick();
      if (!(await conductor.ping())) return;
      await bridge?.tick(clock.state.ntpSynchronized);
      opts.onHeartbeat?.();
    })().catch((err: unknown) => log.error({ err }, 'main loop turn failed'));
  }, MAIN_LOOP_MS);

  const spool = new UploadSpool(join(stateDir, 'spool'));
  const handlers = {
    ...controlHandlers(agent, startedMs, now, spool),
    ...(bridge ? bridge.handlers(() => clock.state.ntpSynchronized, lastSeen, { bank, lane: (what, op) => operatorRelay(conductor, what, op) }) : {}),
    ...(board ? board.handlers() : noBoardHandlers()),
    ...technicianHandlers({ config, conductor, alerts, bank, board, bridge, log, now }),
  };
  const server: Server = await startControlServer(config.paths.socket, handlers, log);
  log.info({ station: config.station.id, version: SOFTWARE_VERSION, relays: driver.kind, sink: config.audio.sink.kind }, 'agent ready');
  return agent;
}

/** A hold-off after a stop is for the operator to see wherever problems show (`loa status`, the province's health). */
function heldOff(conductor: Conductor): string[] {
  const until = conductor.heldOffUntil();
  return until === null ? [] : [`emergencies held off after a stop until ${new Date(until).toISOString()} (loa stop --release ends it)`];
}

/**
 * The station's microphone on air: a request like any bulletin (relays,
 * chime, arbiter) whose one item is the live capture.
 */
function startLive(alerts: AlertManager, media: StationMedia, o: { cls: BulletinClass; zones: string[]; durationMs: number; label: string; origin: string }, nowMs: number): { id: string; class: BulletinClass; priority: number; durationMs: number; content: string } {
  const id = `live-${randomUUID()}`;
  const label = cleanField(o.label, 200) || 'Phát trực tiếp từ đài';
  const content = media.startLive(id, label, o.durationMs, nowMs);
  const priority = CLASS_PRIORITY[o.cls];
  const request = RequestSchema.parse({ id, mode: 'now', priority, label, items: [{ content, repeat: 1, gapMs: 0 }], zones: o.zones, origin: o.origin });
  // A live emergency is an alert like any other (alerts.submit): one registry, its id in the proof of play.
  const outcome = alerts.submit(request);
  if (!outcome.accepted) {
    media.endLive(id);
    throw new OperatorError('not-played', `live emergency not put on air: ${outcome.reason}`, notPlayed(outcome));
  }
  return { id, class: o.cls, priority, durationMs: o.durationMs, content };
}

/** An operator's zones must all exist on this station: refused before anything plays, naming the ones it has. */
function refuseUnknownZones(config: Config, zones: readonly string[]): void {
  const unknown = zones.filter((z) => !config.relays.zones.some((zone) => zone.name === z));
  const known = config.relays.zones.map((z) => z.name).join(', ');
  if (unknown.length > 0) throw new OperatorError('unknown-zone', `no zone named ${unknown.join(', ')}; zones: ${known}`, { zones: unknown.join(', '), known });
}

/** How many log rows a request asks for: 30 by default, at most 1000. */
function rowLimit(p: Record<string, unknown>): number {
  return typeof p.limit === 'number' && p.limit > 0 ? Math.min(p.limit, 1000) : 30;
}

/** The config, with the target in force on top: what the province set survives a restart. */
function startupSettings(config: Config, db: Db): ConductorSettings {
  const applied = readAppliedTarget(db);
  return applied ? withTargetSettings(settingsFromConfig(config), applied) : settingsFromConfig(config);
}

/** The conductor's relay lane for an operator, its refusal as the operator's error. */
export async function operatorRelay<T>(conductor: Conductor, what: string, op: () => Promise<T>): Promise<{ done: Promise<T> }> {
  try {
    return await conductor.operatorRelay(what, op);
  } catch (err) {
    if (err instanceof RelaysBusyError) throw new OperatorError(err.reason === 'on-air' ? 'busy-on-air' : 'busy-relay-test', err.message, { label: err.label });
    throw err;
  }
}

/** A refused emergency's params: the English reason, and the alert state the CLI says in the operator's language. */
function notPlayed(outcome: Submitted): Record<string, string> {
  return { reason: outcome.reason, ...(outcome.state ? { reasonCode: `alert-${outcome.state}` } : {}) };
}

/**
 * A file a technician sent (upload-spool.ts) into the content cache, named
 * `name` or else as their file was; a file that does not import is the
 * operator's error.
 */
async function importUpload(media: StationMedia, spool: UploadSpool, upload: unknown, name: string, kind?: 'audio'): Promise<Awaited<ReturnType<StationMedia['importFile']>>> {
  return spool.take(upload, async (path, fileName) => {
    try {
      return await media.importFile(path, name || fileName, undefined, kind, { move: true });
    } catch (err) {
      const reason = (err as Error).message.replaceAll(path, fileName);
      throw new OperatorError('import-failed', `${fileName}: ${reason}`, { file: fileName, reason, ...reasonParams(err) });
    }
  });
}

function controlHandlers(agent: Agent, startedMs: number, now: () => number, spool: UploadSpool): Record<string, (p: Record<string, unknown>) => unknown> {
  const { store, conductor, bank, media, clock, config } = agent;
  const relayList = async (): Promise<{ relays: Array<{ name: string; kind: string; on: boolean }>; readError?: string }> => {
    // Read back from the hardware; if it cannot be read (the microcontroller is away), say so and show what was last switched.
    const read = await bank.state().then((state) => ({ state }), (err: Error) => ({ state: null, error: err.message }));
    const known = bank.current();
    return {
      relays: bank.outputs().map((o) => ({ name: o.name, kind: o.kind, on: read.state ? (read.state[o.name] ?? false) : known[o.name]?.on === true })),
      ...('error' in read ? { readError: read.error } : {}),
    };
  };
  return {
    status: async () => {
      const next = conductor.agenda(now(), 8).find((o) => o.state === 'scheduled' && o.startMs > now());
      return {
        station: { id: config.station.id, name: config.station.name, timezone: config.station.timezone },
        version: SOFTWARE_VERSION,
        uptimeS: Math.round((now() - startedMs) / 1000),
        clock: clock.state,
        playing: conductor.nowPlaying(),
        alerts: agent.alerts.status(),
        next: next ? { id: next.id, name: next.name, startMs: next.startMs, priority: next.priority } : null,
        relayDriver: bank.driverKind,
        relays: (await relayList()).relays,
        cache: media.cacheStats(),
        queuedBulletins: store.pendingRequests('next-programme').length,
        outbox: store.outboxDepth(),
        sync: agent.sync ? agent.sync.status() : null,
        update: agent.updater.status(),
        problems: agent.problems(),
        unplayable: unplayableContent(store.db),
        deadAir: media.deadAir.status(),
        live: media.liveStatus(now()),
      };
    },
    'schedule.list': (p) => {
      const days = typeof p.days === 'number' && p.days > 0 && p.days <= 31 ? p.days : 8;
      const from = startOfLocalDay(now(), config.station.timezone);
      return {
        timezone: config.station.timezone,
        occurrences: conductor.agenda(from, days),
        queued: store.pendingRequests('next-programme').map((r) => ({ id: r.request.id, label: r.request.label, priority: r.request.priority })),
      };
    },
    'schedule.import': (p) => {
      const parsed = ScheduleDocumentSchema.safeParse(p.doc);
      if (!parsed.success) {
        const issues = describeIssues(parsed.error);
        throw new OperatorError('invalid-schedule', `schedule rejected, nothing changed:\n  ${issues.join('\n  ')}`, { detail: issues.join('; ') });
      }
      const missing = parsed.data.programmes.flatMap((prog) => prog.items.flatMap(itemContents)).filter((sha) => !media.has(sha));
      const unknownZones = parsed.data.programmes.flatMap((prog) => prog.zones).filter((z) => !config.relays.zones.some((zone) => zone.name === z));
      if (unknownZones.length > 0) {
        const zones = [...new Set(unknownZones)].join(', ');
        throw new OperatorError('schedule-unknown-zone', `schedule rejected, unknown zones: ${zones}`, { zones, known: config.relays.zones.map((z) => z.name).join(', ') });
      }
      store.replaceSchedule(parsed.data, clock.trusted ? now() : null);
      conductor.reloadSchedule();
      conductor.kick('schedule imported');
      return { programmes: parsed.data.programmes.length, missingContent: [...new Set(missing)] };
    },
    play: async (p) => {
      const cls = (typeof p.class === 'string' ? p.class : 'normal') as BulletinClass;
      if (!(cls in CLASS_PRIORITY)) throw new OperatorError('bad-class', `class must be normal, priority or emergency, not "${cleanField(cls, 40)}"`, { value: cleanField(cls, 40) });
      if (Array.isArray(p.zones)) refuseUnknownZones(config, p.zones.map(String));
      const sha = p.upload !== undefined ? (await importUpload(media, spool, p.upload, '', 'audio')).sha256 : media.resolveId(String(p.content ?? ''));
      if (!sha) throw new OperatorError('unknown-content', `no cached content matches "${cleanField(p.content, 80)}": see loa cache ls`, { content: cleanField(p.content, 80) });
      const priority = typeof p.priority === 'number' ? p.priority : CLASS_PRIORITY[cls];
      const parsed = RequestSchema.safeParse({
        id: `cli-${randomUUID()}`,
        mode: p.next === true ? 'next-programme' : 'now',
        priority,
        label: typeof p.label === 'string' ? p.label : '',
        items: [{ content: sha, repeat: 1, gapMs: 0 }],
        zones: Array.isArray(p.zones) ? p.zones : [],
        ...(typeof p.volume === 'number' ? { volume: p.volume } : {}),
        origin: 'cli',
        ...(typeof p.text === 'string' || typeof p.instructions === 'string'
          ? { display: { text: typeof p.text === 'string' ? p.text : '', instructions: typeof p.instructions === 'string' ? p.instructions : '' } }
          : {}),
      });
      if (!parsed.success) {
        const detail = describeIssues(parsed.error).join('; ');
        throw new OperatorError('bad-request', detail, { detail });
      }
      // An emergency played now is an alert like any other source's: one registry, its id in the proof of play.
      const outcome = agent.alerts.submit(parsed.data);
      if (!outcome.accepted) throw new OperatorError('not-played', `emergency not played: ${outcome.reason}`, notPlayed(outcome));
      return { id: parsed.data.id, priority, class: classOf(priority), content: sha, mode: parsed.data.mode };
    },
    stop: async (p) => {
      if (p.release === true) return { released: await conductor.releaseHold('loa stop --release') };
      if (p.all !== true) return { stopped: await conductor.stopCurrent() };
      const r = await conductor.stopAll({ holdOffMs: config.alerts.stopHoldOffS * 1000, by: 'loa stop --all' });
      await r.done;
      return { stopped: r.stopped, dropped: r.dropped, heldOffUntilMs: r.heldOffUntilMs };
    },
    'live.start': (p) => {
      const cls = (typeof p.class === 'string' ? p.class : 'normal') as BulletinClass;
      if (!(cls in CLASS_PRIORITY)) throw new OperatorError('bad-class', `class must be normal, priority or emergency, not "${cleanField(cls, 40)}"`, { value: cleanField(cls, 40) });
      const zones = Array.isArray(p.zones) ? p.zones.map(String) : [];
      refuseUnknownZones(config, zones);
      const maxMs = config.audio.capture.maxMinutes * 60_000;
      const durationMs = typeof p.durationMs === 'number' && p.durationMs > 0 ? Math.min(p.durationMs, maxMs) : maxMs;
      if (media.liveStatus(now())) throw new OperatorError('live-busy', 'a live broadcast from the station is already on: end it first (loa live --stop)');
      return startLive(agent.alerts, media, { cls, zones, durationMs, label: typeof p.label === 'string' ? p.label : '', origin: 'cli' }, now());
    },
    'live.stop': (p) => ({ stopped: media.endLive(typeof p.id === 'string' ? p.id : undefined) }),
    'live.status': () => ({ live: media.liveStatus(now()), playing: conductor.nowPlaying() }),
    'relay.list': relayList,
    'relay.set': async (p) => {
      const name = String(p.name);
      if (!bank.outputs().some((o) => o.name === name)) {
        const known = bank.outputs().map((o) => o.name).join(', ');
        throw new OperatorError('unknown-relay', `no relay named "${name}"; relays: ${known}`, { name: cleanField(name, 80), known });
      }
      await (await operatorRelay(conductor, `loa relay ${name}`, () => bank.set(name, p.on === true))).done;
      return relayList();
    },
    testTone: async (p) => {
      const sha = media.testTone;
      if (!sha) throw new OperatorError('no-tone', 'the test tone could not be generated: see loa doctor (ffmpeg)');
      const request = RequestSchema.parse({
        id: `test-tone-${randomUUID()}`,
        mode: 'now',
        priority: 0,
        label: 'test tone',
        items: [{ content: sha, repeat: 1, gapMs: 0 }],
        zones: Array.isArray(p.zones) ? p.zones : [],
        volume: 50,
        origin: 'cli',
      });
      conductor.submit(request);
      return { id: request.id, priority: 0, class: 'normal', content: sha };
    },
    'cache.list': () => ({ items: media.list() }),
    'upload.begin': (p) => spool.begin(p),
    'upload.chunk': (p) => spool.chunk(p),
    'upload.abort': (p) => spool.abort(p.upload),
    'station.zones': () => ({ zones: config.relays.zones.map((z) => z.name) }),
    'cache.import': async (p) => importUpload(media, spool, p.upload, cleanField(p.name, 200)),
    'cache.verify': async (p) => media.verify(typeof p.sha === 'string' ? p.sha : undefined),
    log: (p) => ({ timezone: config.station.timezone, rows: store.recentPlays(rowLimit(p)) }),
    report: (p) => {
      try {
        return stationReport(store.db, { timezone: config.station.timezone, nowMs: now(), ...(typeof p.from === 'string' ? { from: p.from } : {}), ...(typeof p.to === 'string' ? { to: p.to } : {}) });
      } catch (err) {
        if (err instanceof RangeError) throw new OperatorError('bad-range', err.message, { detail: err.message });
        throw err;
      }
    },
    'board.log': (p) => ({ rows: recentBoardProof(store.db, rowLimit(p)) }),
  };
}
