import { fillIn, type Locale } from './messages.js';
import type { Out } from './render.js';
import { parseDuration } from './live.js';
import { IDENTIFY_TEXT } from './identify-messages.js';
import { wrap } from './width.js';

interface IdentifyReply {
  station: string;
  name: string | null;
  addresses: string[];
  durationMs: number;
  board: { untilMs: number } | null;
  led: { blinking: boolean } | { error: string } | null;
  tone: { played: boolean; sink: string; error?: string };
}

/**
 * `loa identify [--duration 30s]`: the station says who it is (beeps on the
 * monitor output, its id and address on the board, the bridge's LED
 * blinking). The agent does it all; refused during an emergency.
 */
export async function identifyCommand(o: {
  rpc: <T>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;
  emit: (result: unknown, kind: string) => void;
  out: Out;
  locale: Locale;
  json: boolean;
  duration?: string;
}): Promise<number> {
  const L = (k: keyof typeof IDENTIFY_TEXT, vars: Record<string, string | number> = {}): string => fillIn(IDENTIFY_TEXT[k][o.locale], vars);
  const durationMs = o.duration === undefined ? undefined : parseDuration(o.duration);
  if (durationMs === null) {
    const message = L('badDuration', { value: o.duration ?? '' });
    if (o.json) o.out.stdout.write(JSON.stringify({ error: { code: 'bad-duration', message } }) + '\n');
    else o.out.stderr.write(message + '\n');
    return 2;
  }
  const r = await o.rpc<IdentifyReply>('identify', durationMs === undefined ? {} : { durationMs }, 30_000);
  if (o.json) {
    o.emit(r, 'json');
    return 0;
  }
  const led = r.led === null ? L('ledNone') : 'error' in r.led ? L('ledFailed', { error: r.led.error }) : L('ledBlinking');
  const tone = r.tone.played ? L('toneOk', { sink: r.tone.sink }) : r.tone.sink === 'none' ? L('toneNone') : L('toneFailed', { error: r.tone.error ?? '?' });
  const lines = [
    L('station', { id: r.station, name: r.name ?? '' }).trimEnd(),
    L('addresses', { list: r.addresses.join(', ') || '-' }),
    r.board ? L('boardShows', { s: Math.round(r.durationMs / 1000) }) : L('boardNone'),
    led,
    tone,
  ];
  // A controller with a modem, Wi-Fi and Ethernet has addresses enough to pass 80 columns.
  o.out.stdout.write(wrap(lines.join('\n')) + '\n');
  return 0;
}
