import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';
import { checkConfig, formatFinding } from './check.js';
import { describeIssues } from '../domain/schemas.js';
import { isValidTimezone } from '../schedule/planner.js';

export const DEFAULT_CONFIG_PATH = '/etc/loa/config.json';

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
    /**
     * The configuration with its unknown keys dropped, when they are its only
     * problem: enough for `loa safe-off` to switch the relays off (systemd's
     * ExecStopPost) while the agent itself refuses the file.
     */
    readonly withoutUnknownKeys: Config | null = null,
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
  if (!result.success) throw new ConfigError(path, describeIssues(result.error), onlyUnknownKeys(raw, result.error));
  const problems: string[] = [];
  if (!isValidTimezone(result.data.station.timezone)) {
    problems.push(`station.timezone: unknown time zone "${result.data.station.timezone}"; use an IANA name such as Asia/Ho_Chi_Minh`);
  }
  if (problems.length > 0) throw new ConfigError(path, problems);
  return result.data;
}

function onlyUnknownKeys(raw: unknown, error: z.ZodError): Config | null {
  if (!error.issues.every((i) => i.code === 'unrecognized_keys')) return null;
  const copy = structuredClone(raw);
  for (const issue of error.issues) {
    const owner = issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)[k], copy) as Record<string, unknown>;
    for (const key of (issue as z.core.$ZodIssueUnrecognizedKeys).keys) delete owner[key];
  }
  const again = ConfigSchema.safeParse(copy);
  return again.success && isValidTimezone(again.data.station.timezone) ? again.data : null;
}

/**
 * For the daemon: the configuration, refused as a whole when what it points
 * at is wrong (see `checkConfig`). The `loa` command uses `loadConfig`, so
 * `loa safe-off` and `loa doctor` still work with such a file.
 */
export function loadConfigForStart(path: string): Config {
  const config = loadConfig(path);
  const findings = checkConfig(config);
  if (findings.length > 0) throw new ConfigError(path, findings.map((f) => formatFinding(f)));
  return config;
}
