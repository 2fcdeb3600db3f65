import type { Out } from './render.js';
import type { MessageKey } from './messages.js';
import { CliError } from './validate.js';

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

interface LiveStatusReply {
  live: { id: string; onAir: boolean; levelDb: number | null; airedMs: number; deadlineMs: number; ending: boolean } | null;
}

/** "5m", "90s", "1h", "300" (seconds) as ms; null if it is none of these. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 1000;
  return n > 0 ? Math.round(n * unit) : null;
}

/**
 * One line of the level meter, at most `width` columns: the time on air,
 * a bar from -60 to 0 dBFS and the peak, e.g.
 * "ON AIR 00:12 [##########################--------------]  -12.5 dBFS".
 */
export function meterLine(levelDb: number | null, airedMs: number, onAirText: string, width = 79): string {
  const s = Math.floor(airedMs / 1000);
  const time = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  const level = levelDb === null || !Number.isFinite(levelDb) ? '   - dBFS' : `${levelDb.toFixed(1).padStart(5)} dBFS`;
  const head = `${onAirText} ${time} [`;
  const tail = `] ${level}`;
  const bar = Math.max(10, width - head.length - tail.length);
  const filled = levelDb === null || !Number.isFinite(levelDb) ? 0 : Math.round((Math.max(0, Math.min(60, levelDb + 60)) / 60) * bar);
  return `${head}${'#'.repeat(filled)}${'-'.repeat(bar - filled)}${tail}`;
}

/**
 * `loa live`: starts the microphone on air and shows the meter until the
 * live ends; Ctrl-C ends it (the daemon plays out what it holds, the row
 * names the recording). `--stop` ends a live from another terminal.
 */
export async function liveCommand(o: {
  rpc: <R>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<R>;
  emit: (result: unknown, kind: string) => void;
  out: Out;
  t: T;
  json: boolean;
  stop: boolean;
  cls?: string;
  zones?: string[];
  duration?: string;
  label?: string;
}): Promise<number> {
  if (o.stop) {
    o.emit(await o.rpc('live.stop'), 'live-stop');
    return 0;
  }
  const durationMs = o.duration === undefined ? undefined : parseDuration(o.duration);
  if (durationMs === null) throw new CliError('bad-duration', { value: o.duration! });
  const started = await o.rpc<{ id: string }>('live.start', { class: o.cls, zones: o.zones, durationMs, label: o.label });
  o.emit(started, 'live');
  if (o.json) return 0;
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  try {
    let wasOn = false;
    for (;;) {
      if (interrupted) {
        await o.rpc('live.stop', { id: started.id });
        o.out.stdout.write(`\n${o.t('liveEnded')}\n`);
        return 0;
      }
      const { live } = await o.rpc<LiveStatusReply>('live.status');
      if (!live || live.id !== started.id) {
        if (wasOn || !live) o.out.stdout.write(`\n${o.t('liveEnded')}\n`);
        return 0;
      }
      wasOn ||= live.onAir;
      o.out.stdout.write(`\r${meterLine(live.onAir ? live.levelDb : null, live.airedMs, live.onAir ? o.t('liveOnAir') : o.t('liveWaiting'))}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
