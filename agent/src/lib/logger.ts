import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The agent's structured logger. Secrets never reach it: the redact list
 * covers every field that carries a credential.
 */
export function createLogger(opts: { level?: LevelWithSilent; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'loa',
      level: opts.level ?? (process.env.LOA_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info',
      redact: { paths: ['password', '*.password', 'secret', '*.secret', 'privateKey', '*.privateKey', 'token', '*.token'], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that drops everything, for pure tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
