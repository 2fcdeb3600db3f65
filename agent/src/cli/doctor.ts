import type { Config } from '../config/schema.js';
import type { ConfigError } from '../config/load.js';
import type { Locale } from './messages.js';
import type { Out } from './render.js';
import { runDoctor, type DoctorReport } from '../doctor/checks.js';
import { both } from '../doctor/finding.js';
import type { Status } from '../doctor/finding.js';

/** A terminal line, as the technician's console shows it without wrapping. */
export const COLUMNS = 80;

/**
 * `loa doctor [--click] [--json]`: exit 0 when nothing failed, 1 when
 * something did. With `--json`, stdout carries exactly one JSON document,
 * whatever happens (a doctor that itself breaks says so in it).
 */
export async function doctorCommand(o: { configPath: string; config: Config | null; configError: ConfigError | null; socket: string; locale: Locale; json: boolean; click: boolean; out: Out }): Promise<number> {
  let report: DoctorReport & { error?: string };
  try {
    report = await runDoctor({ configPath: o.configPath, config: o.config, configError: o.configError, socket: o.socket, locale: o.locale, click: o.click });
  } catch (err) {
    report = { checks: [], summary: { ok: 0, warn: 0, fail: 1, skip: 0 }, error: (err as Error).message };
  }
  const failed = report.summary.fail > 0;
  if (o.json) o.out.stdout.write(JSON.stringify({ ...report, exitCode: failed ? 1 : 0 }, null, 2) + '\n');
  else o.out.stdout.write(renderDoctor(report, o.locale) + '\n');
  return failed ? 1 : 0;
}

const MARK: Record<Status, 'markOk' | 'markWarn' | 'markFail' | 'markSkip'> = { ok: 'markOk', warn: 'markWarn', fail: 'markFail', skip: 'markSkip' };

/** `[FAIL ] storage    what was found` and, below, `→ what to do`, every line within 80 columns. */
export function renderDoctor(report: DoctorReport & { error?: string }, locale: Locale): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    const head = `[${both(MARK[c.status])[locale].padEnd(5)}] ${c.name.padEnd(10)} `;
    lines.push(...wrap(c.detail, head, ' '.repeat(Math.min(head.length, 19))));
    if (c.fix) lines.push(...wrap(c.fix, '         → ', '           '));
  }
  if (report.error) lines.push(...wrap(report.error, '[FAIL ] doctor     ', ' '.repeat(19)));
  lines.push(both('doctorSummary', report.summary)[locale]);
  return lines.join('\n');
}

/** Words into lines of at most COLUMNS, the first after `first`, the others after `rest`; a word longer than a line is cut. */
export function wrap(text: string, first: string, rest: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let w = word;
    if (!empty && line.length + 1 + w.length > COLUMNS) {
      out.push(line);
      line = rest;
      empty = true;
    }
    while (line.length + (empty ? 0 : 1) + w.length > COLUMNS) {
      const room = COLUMNS - line.length - (empty ? 0 : 1);
      out.push(line + (empty ? '' : ' ') + w.slice(0, room));
      w = w.slice(room);
      line = rest;
      empty = true;
    }
    line += (empty ? '' : ' ') + w;
    empty = false;
  }
  out.push(line);
  return out;
}
