import { parseArgs } from 'node:util';
import { bootAction } from './trial.js';
import { bootSettings, linkedVersion, pointLink, readMarker, writeMarker } from './releases.js';

/**
 * The boot check: systemd runs it before every start of the agent
 * (`ExecStartPre=-... /opt/loa/previous/bin/loa-boot-check.js`), from the
 * release switched away from, so a new release that crashes before it can
 * judge itself is still rolled back: after `update.maxStarts` starts
 * without a commit, `current` points at the previous release again and the
 * agent that starts next (the previous one) restores its database.
 * It never stops a start: every error is reported and the start goes on.
 */
export async function bootCheck(configPath: string, say: (line: string) => void): Promise<string> {
  const { stateDir, root, maxStarts } = bootSettings(configPath);
  const marker = readMarker(stateDir);
  const action = bootAction(marker, linkedVersion(root, 'current'), maxStarts);
  if (action.kind === 'none') return 'none';
  if (action.kind === 'count') {
    await writeMarker(stateDir, action.marker);
    say(`loa-boot-check: ${action.marker.to} on trial, start ${action.marker.starts} of ${maxStarts} before a rollback`);
    return 'count';
  }
  // Marker first: if the power goes between the two, the next boot check finds current at `from` and finishes the same way.
  await writeMarker(stateDir, action.marker);
  await pointLink(root, 'current', action.to);
  say(`loa-boot-check: ${action.marker.reason}: switched back to ${action.to}`);
  return 'switch-back';
}

export async function runBootCheck(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  try {
    await bootCheck(values.config ?? process.env.LOA_CONFIG ?? '/etc/loa/config.json', (l) => process.stderr.write(l + '\n'));
  } catch (err) {
    process.stderr.write(`loa-boot-check: ${(err as Error).message} (the agent starts anyway)\n`);
  }
}
