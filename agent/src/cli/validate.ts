import { DateTime } from 'luxon';

/**
 * A mistake in what the operator typed, found before anything is sent to
 * the agent: its code and params name a message of cli/messages.ts
 * (`err.<code>`); exit status 2 as for any usage error.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    readonly params: Record<string, string | number> = {},
    readonly exitCode = 2,
  ) {
    super(code);
  }
}

/** A whole number within [min, max] from option `option`, or undefined when it was not given. */
export function wholeNumber(option: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliError('bad-number', { option, value, min, max });
  return n;
}

export const CLASSES = ['normal', 'priority', 'emergency'] as const;

export function bulletinClass(value: string | undefined): (typeof CLASSES)[number] | undefined {
  if (value === undefined) return undefined;
  if (!(CLASSES as readonly string[]).includes(value)) throw new CliError('bad-class', { value });
  return value as (typeof CLASSES)[number];
}

export function date(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || !DateTime.fromISO(value).isValid) throw new CliError('bad-date', { option, value });
  return value;
}

/**
 * `--zones a,b` as names the station has (`known`), before anything plays:
 * an unknown one is refused naming the station's zones.
 */
export function zoneList(value: string | undefined, known: readonly string[]): string[] | undefined {
  if (value === undefined) return undefined;
  const zones = value.split(',').map((x) => x.trim()).filter(Boolean);
  if (zones.length === 0) throw new CliError('no-zones', { known: known.join(', ') });
  const unknown = zones.filter((z) => !known.includes(z));
  if (unknown.length > 0) throw new CliError('unknown-zone', { zones: unknown.join(', '), known: known.join(', ') });
  return zones;
}
