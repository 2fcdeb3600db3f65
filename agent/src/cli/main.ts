import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { call, DaemonUnavailable, DaemonError } from './client.js';
import { chooseLocale, errorKey, parseLang, translatedReason, translator, type Locale } from './messages.js';
import { loadConfig, DEFAULT_CONFIG_PATH, ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { render, type Out } from './render.js';
import { doctorCommand } from './doctor.js';
import { identifyCommand } from './identify.js';
import { safeOff } from '../relays/safe-off.js';
import { createLogger } from '../lib/logger.js';
import { boardCommand } from './board.js';
import { liveCommand } from './live.js';
import { reportCsv, type YearlyReport } from '../report/yearly.js';
import { provisionCommand } from './provision.js';
import { commandHelp, overview, usageLine } from './help.js';
import { wrap } from './width.js';
import { CliError, bulletinClass, date, wholeNumber, zoneList } from './validate.js';
import { sendFile } from './upload.js';
import { SOFTWARE_VERSION } from '../version.js';

/**
 * `loa`: field staff's command. It talks to the running daemon over the
 * control socket (the daemon alone owns the hardware); `doctor` and
 * `safe-off` also work when the daemon is down. Whatever goes wrong is said
 * in the operator's language, on stderr in at most 80 columns, or with
 * `--json` as one document `{"error": {code, message, params}}` on stdout.
 */
export async function main(argv: string[], out: Out = { stdout: process.stdout, stderr: process.stderr }, env: Record<string, string | undefined> = process.env): Promise<number> {
  // --json and --lang shape even the errors of parsing the rest.
  const json = argv.includes('--json');
  const langArg = optionValue(argv, '--lang');
  const lang = langArg === undefined ? undefined : parseLang(langArg);
  let locale: Locale = chooseLocale(lang ?? undefined, env, undefined);
  let t = translator(locale);
  const fail = (code: string, params: Record<string, string | number>, exitCode: number, fallback?: string): number => {
    const key = errorKey(code);
    const message = key ? t(key, translatedReason(params, t)) : (fallback ?? code);
    if (json) out.stdout.write(JSON.stringify({ error: { code, message, params } }) + '\n');
    else out.stderr.write(wrap(key ? message : t('failed', { message })) + '\n');
    return exitCode;
  };
  if (lang === null) return fail('bad-lang', { value: langArg! }, 2);

  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        json: { type: 'boolean', default: false },
        lang: { type: 'string' },
        zones: { type: 'string' },
        class: { type: 'string' },
        priority: { type: 'string' },
        volume: { type: 'string' },
        next: { type: 'boolean', default: false },
        days: { type: 'string' },
        limit: { type: 'string' },
        label: { type: 'string' },
        playlist: { type: 'string' },
        text: { type: 'string' },
        instructions: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        csv: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        release: { type: 'boolean', default: false },
        duration: { type: 'string' },
        stop: { type: 'boolean', default: false },
        click: { type: 'boolean', default: false },
        province: { type: 'string' },
        ca: { type: 'string' },
        'ca-fingerprint': { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        state: { type: 'string' },
        'no-start': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
      },
    });
  } catch (err) {
    return parseFailure(err as NodeJS.ErrnoException, argv, fail);
  }
  const { values: v, positionals } = parsed;
  // What a technician reads out to the province: the same with or without a config or an agent.
  if (v.version || positionals[0] === 'version') {
    out.stdout.write(json ? JSON.stringify({ version: SOFTWARE_VERSION }) + '\n' : `loa ${SOFTWARE_VERSION}\n`);
    return 0;
  }
  const configPath = v.config ?? env.LOA_CONFIG ?? DEFAULT_CONFIG_PATH;
  let config: Config | null = null;
  let configError: ConfigError | null = null;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configError = err;
  }
  locale = chooseLocale(lang ?? undefined, env, config?.station.locale);
  t = translator(locale);
  const [cmd, ...rest] = positionals;
  if (!cmd || cmd === 'help') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    const text = topic === undefined ? overview(locale) : commandHelp(topic, locale);
    if (text === null) return fail('unknown-command', { cmd: topic! }, 2);
    out.stdout.write(text + '\n');
    return cmd || v.help ? 0 : 2;
  }
  if (v.help) {
    const text = commandHelp(cmd, locale);
    if (text === null) return fail('unknown-command', { cmd }, 2);
    out.stdout.write(text + '\n');
    return 0;
  }
  const socket = env.LOA_SOCKET ?? config?.paths.socket ?? '/run/loa/loa.sock';
  const timezoneOf = (result: unknown): string => {
    const r = result as { timezone?: unknown; station?: { timezone?: unknown } } | null;
    const tz = r?.timezone ?? r?.station?.timezone;
    return typeof tz === 'string' ? tz : (config?.station.timezone ?? 'Asia/Ho_Chi_Minh');
  };
  const emit = (result: unknown, kind: string): void => {
    if (v.json) out.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else out.stdout.write(wrap(render(kind, result, t, locale, timezoneOf(result))) + '\n');
  };
  const rpc = <T>(method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> => call<T>(socket, method, params, timeoutMs);
  const usage = (): never => {
    throw new CliError('usage', { usage: usageLine(cmd), cmd });
  };
  // The station's zones: from the config where it can be read (it is 0600), else from the agent.
  const zones = async (): Promise<string[] | undefined> =>
    v.zones === undefined ? undefined : zoneList(v.zones, config?.relays.zones.map((z) => z.name) ?? (await rpc<{ zones: string[] }>('station.zones')).zones);
  const limit = (): number | undefined => wholeNumber('--limit', v.limit, 1, 1000);

  try {
    switch (cmd) {
      case 'doctor':
        return await doctorCommand({ configPath, config, configError, socket, locale, json: v.json, click: v.click, out });
      case 'identify':
        return await identifyCommand({ rpc, emit, out, locale, json: v.json, ...(v.duration ? { duration: v.duration } : {}) });
      case 'provision':
        return await provisionCommand({
          configPath, locale, json: v.json, noStart: v['no-start'], ...(v.province ? { province: v.province } : {}), ...(v.ca ? { ca: v.ca } : {}),
          ...(v['ca-fingerprint'] ? { caFingerprint: v['ca-fingerprint'] } : {}), ...(v.token ? { token: v.token } : {}),
          ...(v['token-file'] ? { tokenFile: v['token-file'] } : {}), ...(v.state ? { stateDir: v.state } : {}),
        }, out);
      case 'safe-off': {
        const usable = config ?? configError?.withoutUnknownKeys; // a typo must not leave the amplifiers on
        if (!usable) throw configError!;
        emit(await safeOff(usable.relays, { stateDir: usable.paths.state, log: createLogger({ level: 'warn' }), ...(usable.bridge ? { bridgeConfig: usable.bridge } : {}) }), 'safe-off');
        return 0;
      }
      case 'status':
        emit(await rpc('status'), 'status');
        return 0;
      case 'schedule':
        if (rest[0] === 'import') {
          if (!rest[1] || rest.length > 2) return usage();
          emit(await rpc('schedule.import', { doc: readSchedule(rest[1]) }), 'schedule-import');
          return 0;
        }
        if (rest.length > 0) return usage();
        emit(await rpc('schedule.list', { days: wholeNumber('--days', v.days, 1, 31) ?? 8 }), 'schedule');
        return 0;
      case 'play': {
        const what = rest[0];
        if (!what || rest.length > 1) return usage();
        // Everything the operator typed is checked before a byte is sent.
        const cls = bulletinClass(v.class);
        const priority = wholeNumber('--priority', v.priority, 0, 9);
        const volume = wholeNumber('--volume', v.volume, 0, 100);
        const playZones = await zones();
        const isContent = /^[0-9a-f]{8,64}$/.test(what);
        const source = isContent ? { content: what } : { upload: await sendFile(rpc, resolve(what)) };
        const result = await rpc('play', {
          ...source,
          zones: playZones,
          class: cls,
          priority,
          volume,
          next: v.next,
          label: v.label,
          text: v.text,
          instructions: v.instructions,
          // Importing a file can take a while on an SD card; content already cached is answered at once.
        }, isContent ? 30_000 : 120_000);
        emit(result, 'play');
        return 0;
      }
      case 'stop':
        if (rest.length > 0) return usage();
        emit(await rpc('stop', { all: v.all, release: v.release }), 'stop');
        return 0;
      case 'live':
        return await liveCommand({ rpc, emit, out, t, json: v.json, stop: v.stop, ...(v.class ? { cls: bulletinClass(v.class)! } : {}), ...(v.zones ? { zones: (await zones())! } : {}), ...(v.duration ? { duration: v.duration } : {}), ...(v.label ? { label: v.label } : {}) });
      case 'relay':
        if (rest.length === 0) {
          emit(await rpc('relay.list'), 'relays');
          return 0;
        }
        if (rest.length !== 2 || !['on', 'off'].includes(rest[1]!)) return usage();
        emit(await rpc('relay.set', { name: rest[0], on: rest[1] === 'on' }), 'relays');
        return 0;
      case 'test-tone':
        if (rest.length > 0) return usage();
        emit(await rpc('testTone', { zones: await zones() }), 'play');
        return 0;
      case 'cache': {
        const sub = rest[0] ?? 'ls';
        if (sub === 'ls' && rest.length <= 1) emit(await rpc('cache.list'), 'cache');
        else if (sub === 'import' && rest[1] && rest.length === 2) emit(await rpc('cache.import', { upload: await sendFile(rpc, resolve(rest[1])), name: v.label }, 300_000), 'cache-import');
        else if (sub === 'verify' && rest.length <= 2) {
          const result = await rpc<{ bad: unknown[] }>('cache.verify', rest[1] ? { sha: rest[1] } : {}, 600_000);
          emit(result, 'cache-verify');
          return result.bad.length > 0 ? 1 : 0;
        } else return usage();
        return 0;
      }
      case 'bridge': {
        const sub = rest[0] ?? 'status';
        if (sub === 'status') emit(await rpc('bridge.status'), 'json');
        else if (sub === 'inputs') emit(await rpc('bridge.inputs'), 'json');
        else if (sub === 'clock') emit(await rpc('bridge.clock', { set: rest[1] === 'set' }), 'json');
        else if (sub === 'watchdog') emit(await rpc('bridge.watchdog', { action: rest[1] ?? 'status' }), 'json');
        else if (sub === 'relay') {
          if (rest.length === 1) emit(await rpc('bridge.relay'), 'json');
          else if (rest.length === 3 && ['on', 'off'].includes(rest[2]!)) emit(await rpc('bridge.relay', { channel: wholeNumber('CHANNEL', rest[1], 0, 63), level: rest[2] === 'on' ? 1 : 0 }), 'json');
          else return usage();
        } else return usage();
        return 0;
      }
      case 'board':
        return await boardCommand(rest, { rpc, emit, usage, timezone: config?.station.timezone ?? 'Asia/Ho_Chi_Minh', limit: limit(), playlist: v.playlist });
      case 'log':
        if (rest.length > 0) return usage();
        emit(await rpc('log', { limit: limit() ?? 30 }), 'log');
        return 0;
      case 'report': {
        if (rest.length > 0) return usage();
        const from = date('--from', v.from);
        const to = date('--to', v.to);
        const report = await rpc<YearlyReport>('report', { ...(from ? { from } : {}), ...(to ? { to } : {}) });
        if (v.csv) out.stdout.write(reportCsv(report));
        else emit(report, 'report');
        return 0;
      }
      default:
        return fail('unknown-command', { cmd }, 2);
    }
  } catch (err) {
    if (err instanceof CliError) return fail(err.code, err.params, err.exitCode);
    if (err instanceof DaemonUnavailable) return fail(err.message === 'EACCES' ? 'daemon-denied' : 'daemon-down', { socket }, 3);
    if (err instanceof DaemonError) return fail(err.code, err.params, 1, err.message);
    if (err instanceof ConfigError) return fail('config', { detail: err.message }, 1);
    throw err;
  }
}

/** The value of `--name X` or `--name=X` in raw arguments (before they are parsed). */
function optionValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1] ?? '';
    if (argv[i]!.startsWith(`${name}=`)) return argv[i]!.slice(name.length + 1);
  }
  return undefined;
}

/** node:util's parse errors as the operator's: which option is unknown or lacks its value. */
function parseFailure(err: NodeJS.ErrnoException, argv: string[], fail: (code: string, params: Record<string, string | number>, exitCode: number, fallback?: string) => number): number {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '?';
  const cmd = argv.find((a) => !a.startsWith('-')) ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return fail('unknown-option', { option, cmd }, 2);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return fail('missing-value', { option, example: EXAMPLES[option] ?? 'X' }, 2);
  return fail('usage', { usage: 'loa help', cmd }, 2, err.message);
}

const EXAMPLES: Record<string, string> = { '--volume': '60', '--zones': 'north,south', '--class': 'priority', '--limit': '20', '--days': '3', '--duration': '5m', '--lang': 'vi', '--from': '2025-12-15', '--to': '2026-12-14' };

/** A schedule file as JSON: a missing file or bad JSON is the operator's error, named. */
function readSchedule(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? 'file-missing' : code === 'EACCES' ? 'file-denied' : 'file-unreadable', { file: path, reason: (err as Error).message }, 1);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError('schedule-not-json', { file: path, detail: (err as Error).message }, 1);
  }
}
