import { accessSync, constants, readFileSync } from 'node:fs';
import { ConfigSchema, type Config } from './schema.js';
import { describeIssues } from '../domain/schemas.js';
import { isValidTimezone } from '../schedule/planner.js';

export const DEFAULT_CONFIG_PATH = '/etc/loa/config.json';

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`${path}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}

/**
 * Reads and validates the configuration file. Every problem is reported at
 * once, each naming the field and the fix, so an installer fixes the file in
 * one pass.
 */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [
      code === 'ENOENT' ? 'file not found: create it (minimal: {"station":{"id":"your-station-id"}}) or pass --config PATH' : `cannot read: ${code ?? String(err)}`,
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, path);
}

export function parseConfig(raw: unknown, path = '(config)'): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(path, describeIssues(result.error));
  const problems: string[] = [];
  if (!isValidTimezone(result.data.station.timezone)) {
    problems.push(`station.timezone: unknown time zone "${result.data.station.timezone}"; use an IANA name such as Asia/Ho_Chi_Minh`);
  }
  // Files the configuration points at must be readable now, not fail later inside the MQTT client.
  const sync = result.data.sync;
  const files: Array<[string, string | undefined]> = [
    ['sync.passwordFile', sync?.passwordFile],
    ['sync.tls.caFile', sync?.tls.caFile],
    ['sync.tls.certFile', sync?.tls.certFile],
    ['sync.tls.keyFile', sync?.tls.keyFile],
  ];
  for (const [field, file] of files) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      problems.push(`${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path and that user loa may read it`);
    }
  }
  if (problems.length > 0) throw new ConfigError(path, problems);
  return result.data;
}
