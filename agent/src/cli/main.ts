import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { call, DaemonUnavailable, DaemonError } from './client.js';
import { chooseLocale, translator, type Locale } from './messages.js';
import { loadConfig, DEFAULT_CONFIG_PATH, ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { render, type Out } from './render.js';
import { runDoctor } from '../doctor/checks.js';
import { safeOff } from '../relays/safe-off.js';
import { createLogger } from '../lib/logger.js';
import { boardCommand } from './board.js';
import { liveCommand } from './live.js';
import { reportCsv, type YearlyReport } from '../report/yearly.js';

/**
 * `loa`: field staff's command. It talks to the running daemon over the
 * control socket (the daemon alone owns the hardware); `doctor` and
 * `safe-off` also work when the daemon is down.
 */
export async function main(argv: string[], out: Out = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
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
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    out.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const configPath = v.config ?? process.env.LOA_CONFIG ?? DEFAULT_CONFIG_PATH;
  let config: Config | null = null;
  let configError: ConfigError | null = null;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configError = err;
  }
  const locale: Locale = chooseLocale(v.lang, process.env.LOA_LANG, config?.station.locale);
  const t = translator(locale);
  const [cmd, ...rest] = positionals;
  if (v.help || !cmd || cmd === 'help') {
    out.stdout.write(t('usage') + '\n');
    return cmd || v.help ? 0 : 2;
  }
  const socket = process.env.LOA_SOCKET ?? config?.paths.socket ?? '/run/loa/loa.sock';
  const emit = (result: unknown, kind: string): void => {
    if (v.json) out.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else out.stdout.write(render(kind, result, t, locale, config?.station.timezone ?? 'Asia/Ho_Chi_Minh') + '\n');
  };
  const rpc = <T>(method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> => call<T>(socket, method, params, timeoutMs);
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const list = (s: string | undefined): string[] | undefined => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));

  try {
    switch (cmd) {
      case 'doctor': {
        const result = await runDoctor({ configPath, config, configError, socket, locale });
        emit(result, 'doctor');
        return result.checks.some((c) => c.status === 'fail') ? 1 : 0;
      }
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
          if (!rest[1]) return usage(out, 'loa schedule import FILE.json');
          const doc = JSON.parse(readFileSync(rest[1], 'utf8')) as unknown;
          emit(await rpc('schedule.import', { doc }), 'schedule-import');
          return 0;
        }
        emit(await rpc('schedule.list', { days: num(v.days) ?? 8 }), 'schedule');
        return 0;
      case 'play': {
        const what = rest[0];
        if (!what) return usage(out, 'loa play FILE|CONTENT [--zones a,b] [--class emergency]');
        const isContent = /^[0-9a-f]{8,64}$/.test(what);
        const result = await rpc('play', {
          ...(isContent ? { content: what } : { file: resolve(what) }),
          zones: list(v.zones),
          class: v.class,
          priority: num(v.priority),
          volume: num(v.volume),
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
        emit(await rpc('stop', { all: v.all, release: v.release }), 'stop');
        return 0;
      case 'live':
        return await liveCommand({ rpc, emit, out, t, json: v.json, stop: v.stop, ...(v.class ? { cls: v.class } : {}), ...(v.zones ? { zones: list(v.zones)! } : {}), ...(v.duration ? { duration: v.duration } : {}), ...(v.label ? { label: v.label } : {}) });
      case 'relay':
        if (rest.length === 0) {
          emit(await rpc('relay.list'), 'relays');
          return 0;
        }
        if (rest.length !== 2 || !['on', 'off'].includes(rest[1]!)) return usage(out, 'loa relay NAME on|off');
        emit(await rpc('relay.set', { name: rest[0], on: rest[1] === 'on' }), 'relays');
        return 0;
      case 'test-tone':
        emit(await rpc('testTone', { zones: list(v.zones) }), 'play');
        return 0;
      case 'cache': {
        const sub = rest[0] ?? 'ls';
        if (sub === 'ls') emit(await rpc('cache.list'), 'cache');
        else if (sub === 'import' && rest[1]) emit(await rpc('cache.import', { path: resolve(rest[1]), name: v.label }, 300_000), 'cache-import');
        else if (sub === 'verify') {
          const result = await rpc<{ bad: unknown[] }>('cache.verify', rest[1] ? { sha: rest[1] } : {}, 600_000);
          emit(result, 'cache-verify');
          return result.bad.length > 0 ? 1 : 0;
        } else return usage(out, 'loa cache ls|import FILE|verify [SHA]');
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
          else if (rest.length === 3 && ['on', 'off'].includes(rest[2]!)) emit(await rpc('bridge.relay', { channel: Number(rest[1]), level: rest[2] === 'on' ? 1 : 0 }), 'json');
          else return usage(out, 'loa bridge relay [CHANNEL on|off]');
        } else return usage(out, 'loa bridge status|relay [CH on|off]|inputs|clock [set]|watchdog [enable|feed|disable]');
        return 0;
      }
      case 'board':
        return await boardCommand(rest, { rpc, emit, t, out, timezone: config?.station.timezone ?? 'Asia/Ho_Chi_Minh', limit: num(v.limit), playlist: v.playlist });
      case 'log':
        emit(await rpc('log', { limit: num(v.limit) ?? 30 }), 'log');
        return 0;
      case 'report': {
        const report = await rpc<YearlyReport>('report', { ...(v.from ? { from: v.from } : {}), ...(v.to ? { to: v.to } : {}) });
        if (v.csv) out.stdout.write(reportCsv(report));
        else emit(report, 'report');
        return 0;
      }
      default:
        out.stderr.write(t('unknownCommand', { cmd }) + '\n');
        return 2;
    }
  } catch (err) {
    if (err instanceof DaemonUnavailable) {
      out.stderr.write(t('daemonDown', { socket }) + '\n');
      return 3;
    }
    if (err instanceof DaemonError && (err.code === 'timeout' || err.code === 'closed') && !v.json) {
      out.stderr.write((err.code === 'timeout' ? t('daemonTimeout', { seconds: err.message.match(/\d+/)?.[0] ?? '?' }) : t('daemonClosed')) + '\n');
      return 1;
    }
    if (err instanceof DaemonError || err instanceof ConfigError || err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (v.json) out.stdout.write(JSON.stringify({ error: { code: (err as DaemonError).code ?? 'error', message: (err as Error).message } }) + '\n');
      else out.stderr.write(t('failed', { message: (err as Error).message }) + '\n');
      return 1;
    }
    throw err;
  }
}

function usage(out: Out, text: string): number {
  out.stderr.write(`usage: ${text}\n`);
  return 2;
}
