import { fillIn, type Locale } from '../cli/messages.js';
import { DOCTOR_MESSAGES, type DoctorKey } from './messages.js';

/** Text in both languages: the CLI shows one, `--json` carries both. */
export interface Msg {
  vi: string;
  en: string;
}

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

/** One finding of `loa doctor`: what was looked at, what was found, what to do. */
export interface Finding {
  /** The part checked: config, agent, broker, storage... */
  name: string;
  /** Stable, for scripts and the technician's guide: `storage.ext4-errors`. */
  code: string;
  status: Status;
  text: Msg;
  /** What to do; for an OK finding, that nothing needs doing. */
  action: Msg;
}

/** A catalogue text in both languages, with its {placeholders} filled. */
export function both(key: DoctorKey, vars: Record<string, string | number> = {}): Msg {
  const m = DOCTOR_MESSAGES[key];
  return { vi: fillIn(m.vi, vars), en: fillIn(m.en, vars) };
}

/** The same text in both languages (a path, a version, a tool's own words). */
export const same = (s: string): Msg => ({ vi: s, en: s });

const NOTHING = (): Msg => both('nothingToDo');

export function finding(name: string, code: string, status: Status, text: Msg, action: Msg = NOTHING()): Finding {
  return { name, code, status, text, action };
}

/** As `--json` prints it: both languages, and the chosen one as `detail`/`fix` (what scripts read). */
export interface Check extends Finding {
  detail: string;
  fix?: string;
}

export function localize(f: Finding, locale: Locale): Check {
  return { ...f, detail: f.text[locale], ...(f.status === 'ok' || f.status === 'skip' ? {} : { fix: f.action[locale] }) };
}
