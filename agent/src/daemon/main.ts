import { parseArgs } from 'node:util';
import { loadConfigForStart, ConfigError, DEFAULT_CONFIG_PATH } from '../config/load.js';
import { createLogger } from '../lib/logger.js';
import { startAgent, type Agent } from './agent.js';
import { createNotifier, createWatchdog } from './systemd-notify.js';
import { FaultGuard } from './fault-guard.js';
import { DatabaseNewerError } from '../store/database.js';

/**
 * loa-agent: the station daemon. Exits non-zero with the reason on stderr
 * when it cannot start (systemd shows it in `systemctl status loa-agent`).
 */
export async function runDaemon(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const configPath = values.config ?? process.env.LOA_CONFIG ?? DEFAULT_CONFIG_PATH;
  let config;
  try {
    config = loadConfigForStart(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`loa-agent: configuration error in ${err.message}\n`);
      process.exit(78); // EX_CONFIG: systemd does not hammer restarts on a bad file
    }
    throw err;
  }
  const log = createLogger({ level: config.log.level });
  // From here on an error nobody caught is reported, not the end of the station.
  const faults = new FaultGuard({ log, exit: (code) => process.exit(code) });
  faults.install();
  const notify = createNotifier({ log });
  const watchdog = createWatchdog({ notifier: notify, log });
  let agent: Agent;
  try {
    agent = await startAgent(config, {
      log,
      onHeartbeat: () => watchdog.progress(),
      faults: () => faults.problems(),
      // EX_TEMPFAIL: systemd (Restart=on-failure) starts the agent again; relays go off in between.
      onRestartRequested: () => void agent.stop().finally(() => process.exit(75)),
    });
  } catch (err) {
    if (err instanceof DatabaseNewerError) {
      // A downgrade: restarting cannot help, and the database must not be touched.
      log.fatal({ path: err.path, schema: err.schema, writtenBy: err.writtenBy }, 'database written by a newer loa: refusing to start');
      process.stderr.write(`loa-agent: ${err.message}\n`);
      process.exit(78);
    }
    log.fatal({ err }, 'agent could not start');
    process.exit(1);
  }
  faults.recordTo((f, stack) => agent.store.recordEvent('agent.fault', 'error', `internal error caught (${f.origin}): ${f.message}`, { origin: f.origin, stack: stack?.slice(0, 2000) ?? null }, f.atMs));
  await notify.ready(`station ${config.station.id} on air`);
  watchdog.start();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: relays to the safe state');
    await notify.stopping();
    watchdog.stop();
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
