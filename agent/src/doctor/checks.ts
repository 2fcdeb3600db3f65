import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Config } from '../config/schema.js';
import type { ConfigError } from '../config/load.js';
import { checkConfig } from '../config/check.js';
import { insecureLinkWarnings } from '../sync/transport-policy.js';
import { loadPublicKey } from '../sync/signing.js';
import { describeUnplayable, unplayableContent } from '../cache/unplayable.js';
import { databasePath, refuseNewerSchema, DatabaseNewerError, isCorruption } from '../store/database.js';
import { DEFAULT_BOARD_FONTS } from '../board/server.js';
import { call, DaemonError, DaemonUnavailable } from '../cli/client.js';
import type { Locale } from '../cli/messages.js';
import { evaluateHealth, type HealthAlarm } from '../health/thresholds.js';
import { systemProbes, type Probes } from './probes.js';
import { both, finding, localize, same, type Check, type Finding, type Status } from './finding.js';
import { ext4Findings, freeSpaceFinding, mobileFindings, networkFindings, powerFindings, writeReadProbe } from './host.js';
import { brokerFinding, probeBroker } from './broker.js';
import { relayFindings, type RelayRpc } from './relays.js';

export type { Check } from './finding.js';

export interface DoctorInput {
  configPath: string;
  config: Config | null;
  configError: ConfigError | null;
  socket: string;
  locale?: Locale;
  probes?: Probes;
  /** Click each relay once (on, then off). */
  click?: boolean;
}

export interface DoctorReport {
  checks: Check[];
  summary: Record<Status, number>;
}

/** The agent's own account of itself (`loa status`), as far as the doctor reads it. */
interface AgentStatus {
  version: string;
  uptimeS: number;
  clock: { trusted: boolean; reason: string; ntpSynchronized?: boolean };
  playing: { key: string; label?: string; priority?: number } | null;
  problems: string[];
  relays: Array<{ name: string; on: boolean }>;
  sync: { connected: boolean; broker?: string } | null;
}

/** Where the agent keeps its state when no configuration says. */
const DEFAULT_STATE_DIR = '/var/lib/loa';
const AGENT_TIMEOUT_MS = 5000;

/**
 * `loa doctor`: every part of the station looked at on its own, with no
 * configuration, no agent or no network as well: each finding says what
 * was found and what to do, in Vietnamese and English. Never throws: a
 * check that breaks is itself a finding.
 */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const probes = input.probes ?? systemProbes();
  const locale = input.locale ?? 'vi';
  const { config } = input;
  const out: Finding[] = [];
  const guarded = async (name: string, f: () => Promise<Finding[]> | Finding[]): Promise<void> => {
    try {
      out.push(...(await f()));
    } catch (err) {
      out.push(finding(name, `${name}.check-failed`, 'fail', both('checkFailed', { error: (err as Error).message }), both('checkFailedFix')));
    }
  };
  const rpc: RelayRpc = (method, params = {}, timeoutMs = AGENT_TIMEOUT_MS) => call(input.socket, method, params, timeoutMs);

  await guarded('config', () => configFindings(input));
  let agent: AgentStatus | null = null;
  await guarded('agent', async () => {
    const r = await agentFindings(input.socket);
    agent = r.status;
    return r.findings;
  });
  const running = agent as AgentStatus | null;

  if (config) {
    await guarded('ffmpeg', async () => [await ffmpegFinding(config)]);
    await guarded('audio', async () => [await audioFinding(config.audio.sink, 'audio', probes), ...(config.audio.monitor ? [await audioFinding(config.audio.monitor, 'monitor', probes)] : [])]);
    await guarded('database', () => [databaseFinding(config)]);
    await guarded('content', () => contentFindings(config));
  } else {
    out.push(...['audio', 'database'].map((n) => skipNoConfig(n)));
  }
  await guarded('broker', () => brokerFindings(config, running));
  await guarded('province-key', () => provinceKeyFindings(config));
  await guarded('clock', () => clockFindings(running, probes));
  const stateDir = config?.paths.state ?? DEFAULT_STATE_DIR;
  await guarded('storage', () => [...ext4Findings(probes), writeReadProbe(stateDir), freeSpaceFinding(stateDir)]);
  await guarded('power', () => powerFindings(probes));
  await guarded('network', () => networkFindings(probes));
  await guarded('mobile', () => mobileFindings(probes));
  if (config) {
    await guarded('relays', () => relayFindings(config, { running: running !== null, relays: running?.relays ?? null, click: input.click === true, rpc, probes }));
    await guarded('bridge', () => bridgeFindings(config, running !== null, rpc));
    await guarded('board', () => boardFindings(config, running !== null, rpc, probes));
  } else {
    out.push(...['relays', 'bridge', 'board'].map((n) => skipNoConfig(n)));
  }
  const checks = out.map((f) => localize(f, locale));
  const summary: Record<Status, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return { checks, summary };
}

const skipNoConfig = (name: string): Finding => finding(name, `${name}.no-config`, 'skip', both('skipNoConfig'), both('skipNoConfigFix'));

/** The config as the daemon would take it: parse errors naming the field, then what it points at (the daemon's exit 78). */
function configFindings(input: DoctorInput): Finding[] {
  const { config, configPath } = input;
  if (!config) {
    const problems = input.configError?.problems ?? [];
    if (problems.some((p) => p.startsWith('file not found'))) return [finding('config', 'config.missing', 'fail', both('configMissing', { path: configPath }), both('configMissingFix', { path: configPath }))];
    return problems.map((p) => {
      const field = /^([\w.[\]-]+): /.exec(p)?.[1] ?? '';
      return finding('config', field ? 'config.invalid-field' : 'config.invalid', 'fail', same(p), both(field ? 'configFieldFix' : 'configFix', { path: configPath, field }));
    });
  }
  const findings = checkConfig(config);
  const out: Finding[] =
    findings.length === 0
      ? [finding('config', 'config.ok', 'ok', same(`${configPath}: ${config.station.id}`))]
      : [
          finding('config', 'config.refused', 'fail', both('configRefused', { path: configPath, n: findings.length, problems: findings.length === 1 ? 'problem' : 'problems' }), both('configRefusedFix')),
          ...findings.map((f) => finding('config', 'config.points-at', 'fail', { vi: `${f.field}: ${f.problem.vi}`, en: `${f.field}: ${f.problem.en}` }, f.fix)),
        ];
  if (config.sync) for (const w of insecureLinkWarnings(config.sync.brokers, config.sync.allowInsecure)) out.push(finding('sync', 'sync.insecure', 'warn', w, both('insecureFix')));
  return out;
}

async function agentFindings(socket: string): Promise<{ status: AgentStatus | null; findings: Finding[] }> {
  try {
    const s = await call<AgentStatus>(socket, 'status', {}, AGENT_TIMEOUT_MS);
    const playing = s.playing ? both('agentPlaying', { what: s.playing.label || s.playing.key }) : both('agentIdle');
    return {
      status: s,
      findings: [
        finding('agent', 'agent.running', 'ok', both('agentRunning', { version: s.version, uptime: formatUptime(s.uptimeS), playing: playing.en, playingVi: playing.vi })),
        ...s.problems.map((p) => finding('agent', 'agent.problem', 'warn', same(p), both('agentProblemFix'))),
      ],
    };
  } catch (err) {
    if (err instanceof DaemonUnavailable) return { status: null, findings: [finding('agent', 'agent.not-running', 'warn', both('agentDown', { socket, why: err.message }), both('agentDownFix'))] };
    const why = err instanceof DaemonError ? err.code : (err as Error).message;
    return { status: null, findings: [finding('agent', 'agent.not-answering', 'fail', both('agentNotAnswering', { socket, why }), both('agentNotAnsweringFix'))] };
  }
}

function formatUptime(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

async function brokerFindings(config: Config | null, agent: AgentStatus | null): Promise<Finding[]> {
  if (!config) return [skipNoConfig('broker')];
  const sync = config.sync;
  if (!sync) return [finding('broker', 'broker.no-sync', 'skip', both('noSync'))];
  // The broker names the client after its user: a probe beside a running agent would throw it off.
  if (agent) {
    if (agent.sync?.connected) return [finding('broker', 'broker.ok', 'ok', both('brokerAgentConnected', { url: agent.sync.broker ?? sync.brokers[0]! }))];
    return [finding('broker', 'broker.agent-offline', 'warn', both('brokerAgentOffline', { list: sync.brokers.join(', ') }), both('brokerAgentOfflineFix'))];
  }
  const results = await Promise.all(sync.brokers.map(async (url) => brokerFinding(url, await probeBroker(url, sync, config.station.id))));
  return results;
}

function provinceKeyFindings(config: Config | null): Finding[] {
  if (!config) return [skipNoConfig('province-key')];
  if (!config.sync) return [finding('province-key', 'province-key.no-sync', 'skip', both('noSync'))];
  return config.sync.provinceKeys.map((k, i) => {
    try {
      const der = loadPublicKey(k).export({ format: 'der', type: 'spki' });
      const fp = createHash('sha256').update(der).digest('hex').slice(0, 16);
      return finding('province-key', 'province-key.pinned', 'ok', both('keyPinned', { i, fp }));
    } catch (err) {
      return finding('province-key', 'province-key.invalid', 'fail', both('keyInvalid', { i, error: (err as Error).message }), both('keyInvalidFix', { i }));
    }
  });
}

async function clockFindings(agent: AgentStatus | null, probes: Probes): Promise<Finding[]> {
  const ntp = probes.read('/run/systemd/timesync/synchronized') !== null ? 'yes' : ((await probes.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], 2000))?.trim() ?? null);
  if (agent) {
    return agent.clock.trusted
      ? [finding('clock', 'clock.trusted', 'ok', both('clockTrusted', { reason: agent.clock.reason }))]
      : [finding('clock', 'clock.untrusted', 'warn', both('clockUntrusted', { reason: agent.clock.reason }), both('clockUntrustedFix'))];
  }
  if (ntp === 'yes') return [finding('clock', 'clock.ntp', 'ok', both('clockNtp'))];
  if (ntp === 'no') return [finding('clock', 'clock.no-ntp', 'warn', both('clockNoNtpDetail'), both('clockUntrustedFix'))];
  return [finding('clock', 'clock.unknown', 'skip', both('clockUnknown'))];
}

async function ffmpegFinding(config: Config): Promise<Finding> {
  const version = await firstLine(config.audio.ffmpegPath, ['-version']);
  return version ? finding('ffmpeg', 'ffmpeg.ok', 'ok', same(version)) : finding('ffmpeg', 'ffmpeg.missing', 'fail', both('ffmpegMissing'), same('sudo apt-get install ffmpeg'));
}

/** An audio output: the programme's (`audio`) or the technician's monitor (`monitor`, `loa identify`). */
async function audioFinding(sink: Config['audio']['sink'], name: 'audio' | 'monitor', probes: Probes): Promise<Finding> {
  if (sink.kind === 'null') return finding(name, `${name}.null`, 'warn', both('audioNull'), both('audioNullFix'));
  // Its folder is checked with the configuration (checkConfig).
  if (sink.kind === 'file') return finding(name, `${name}.file`, 'ok', same(`file ${sink.path}`));
  const devices = await probes.run('aplay', ['-L']);
  if (devices === null) return finding(name, `${name}.no-aplay`, 'fail', both('aplayMissing'), same('sudo apt-get install alsa-utils'));
  const names = devices.split('\n').filter((l) => l && !l.startsWith(' '));
  const wanted = sink.device.split(':')[0]!;
  if (sink.device === 'default' || names.some((n) => n === sink.device || n.startsWith(wanted))) return finding(name, `${name}.ok`, 'ok', same(`ALSA ${sink.device}`));
  return finding(name, `${name}.no-device`, 'fail', both('noAlsaDevice', { device: sink.device }), both('noAlsaDeviceFix', { list: names.slice(0, 6).join(', ') }));
}

function databaseFinding(config: Config): Finding {
  const path = databasePath(config.paths.state);
  if (!existsSync(path)) return finding('database', 'database.not-created', 'warn', both('dbNotCreated', { path }), both('dbNotCreatedFix'));
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      refuseNewerSchema(db, path);
      const r = db.pragma('quick_check', { simple: true });
      return r === 'ok' ? finding('database', 'database.ok', 'ok', same(path)) : finding('database', 'database.corrupt', 'fail', same(String(r)), both('dbRebuildFix'));
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof DatabaseNewerError) return finding('database', 'database.newer', 'fail', same(err.message), both('dbNewerFix', { version: err.writtenBy ?? '?' }));
    return finding('database', isCorruption(err) ? 'database.corrupt' : 'database.unreadable', 'fail', same((err as Error).message), both(isCorruption(err) ? 'dbRebuildFix' : 'dbUnreadableFix'));
  }
}

/** Quarantined or missing content (cache/unplayable.ts), one failure per file, until it is fetched again. */
function contentFindings(config: Config): Finding[] {
  const path = databasePath(config.paths.state);
  if (!existsSync(path)) return [];
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return unplayableContent(db).map((u) => finding('content', 'content.unplayable', 'fail', { vi: describeUnplayable(u, 'vi'), en: describeUnplayable(u, 'en') }, both('contentFix')));
  } catch {
    return []; // databaseFinding reports a database that cannot be read
  } finally {
    db?.close();
  }
}

/**
 * The microcontroller: with the agent running, what it reads (link, faults,
 * analogue readings against the health thresholds); without, whether its
 * serial device is there (the agent alone talks to it).
 */
async function bridgeFindings(config: Config, running: boolean, rpc: RelayRpc): Promise<Finding[]> {
  const b = config.bridge;
  if (!b) return [finding('bridge', 'bridge.none', 'skip', both('noBridge'))];
  if (!running) {
    return existsSync(b.path)
      ? [finding('bridge', 'bridge.device-present', 'ok', both('bridgeDevicePresent', { path: b.path }))]
      : [finding('bridge', 'bridge.device-missing', 'fail', both('bridgeDeviceMissing', { path: b.path }), both('bridgeDeviceMissingFix'))];
  }
  const s = await rpc<{ state: string; error: string | null; firmware: string | null; faults?: string[]; analog?: Array<{ kind: string; milli: number }>; inputs?: unknown }>('bridge.status');
  if (s.state !== 'open') return [finding('bridge', 'bridge.not-connected', 'fail', both('bridgeNotConnected', { path: b.path, why: s.error ?? s.state }), both('bridgeDeviceMissingFix'))];
  const inputs = await rpc<{ inputs: Array<{ channel: number; name: string | null; level: 0 | 1 }> }>('bridge.inputs').catch(() => ({ inputs: [] }));
  const alarms = evaluateHealth({ faults: s.faults ?? [], analog: s.analog ?? [], inputs: Object.fromEntries(inputs.inputs.map((i) => [i.name ?? `input-${i.channel}`, i.level])) }, config.health);
  return [finding('bridge', 'bridge.connected', 'ok', both('bridgeConnected', { firmware: s.firmware ?? '?', path: b.path })), ...alarms.map(alarmFinding)];
}

/** A health alarm (health/thresholds.ts) as a doctor finding. */
export function alarmFinding(a: HealthAlarm): Finding {
  return finding('health', `health.${a.id}`, a.severity === 'error' ? 'fail' : 'warn', a.text, a.action);
}

/** The HDMI board: fonts, the kiosk's programs, the CEC adapter; with the agent, whether the page and kiosk are connected. */
async function boardFindings(config: Config, running: boolean, rpc: RelayRpc, probes: Probes): Promise<Finding[]> {
  const b = config.board;
  if (!b) return [finding('board', 'board.none', 'skip', both('noBoard'))];
  const out: Finding[] = [];
  const missingFonts = Object.values(DEFAULT_BOARD_FONTS).filter((f) => !existsSync(f));
  out.push(missingFonts.length > 0 ? finding('board', 'board.fonts-missing', 'fail', both('fontsMissing', { list: missingFonts.join(', ') }), same('sudo apt-get install fonts-noto-core')) : finding('board', 'board.fonts-ok', 'ok', same(`http://127.0.0.1:${b.port}/`)));
  if (b.kiosk) {
    const missing = ['chromium', 'cage'].filter((cmd) => !probes.has(cmd));
    if (missing.length > 0) out.push(finding('board', 'board.kiosk-programs-missing', 'fail', both('kioskProgramsMissing', { list: missing.join(', ') }), same(`sudo apt-get install ${missing.join(' ')}`)));
  }
  const d = b.display;
  const tool = d.driver === 'cec-ctl' ? 'cec-ctl' : d.driver === 'cec-client' ? 'cec-client' : null;
  if (tool && !probes.has(tool)) out.push(finding('display', 'display.tool-missing', 'fail', both('cecToolMissing', { tool }), same(`sudo apt-get install ${tool === 'cec-ctl' ? 'v4l-utils' : 'cec-utils'}`)));
  else if (d.driver === 'cec-ctl' && !existsSync(d.device)) out.push(finding('display', 'display.no-cec', 'warn', both('noCec', { device: d.device }), both('noCecFix')));
  else out.push(finding('display', 'display.ok', 'ok', same(d.driver === 'cec-ctl' ? `cec-ctl ${d.device}` : d.driver)));
  if (!running) {
    out.push(finding('board', 'board.page-unknown', 'skip', both('boardNeedsAgent')));
    return out;
  }
  const s = await rpc<{ pages: { connected: number }; kiosk: { health: string } | null }>('board.status');
  out.push(s.pages.connected > 0 ? finding('board', 'board.page-connected', 'ok', both('pageConnected', { n: s.pages.connected })) : finding('board', 'board.page-not-connected', 'fail', both('pageNotConnected'), both(b.kiosk ? 'pageNotConnectedKioskFix' : 'pageNotConnectedFix')));
  if (b.kiosk) out.push(s.kiosk?.health === 'ok' ? finding('kiosk', 'kiosk.running', 'ok', both('kioskRunning')) : finding('kiosk', 'kiosk.unhealthy', 'fail', both('kioskUnhealthy', { health: s.kiosk?.health ?? '?' }), both('kioskUnhealthyFix')));
  else out.push(finding('kiosk', 'kiosk.none', 'skip', both('noKiosk')));
  return out;
}

/** A command's first line of output, or null if it cannot run. */
function firstLine(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout) => resolve(err ? null : (stdout.split('\n')[0] ?? '').trim()));
  });
}
