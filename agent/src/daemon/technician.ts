import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Conductor } from '../playout/conductor.js';
import type { AlertManager } from '../alerts/manager.js';
import type { RelayBank } from '../relays/bank.js';
import { classOf } from '../domain/types.js';
import { createSink } from '../audio/sink.js';
import { PCM, bytesToMs } from '../audio/pcm.js';
import { OperatorError } from './control-server.js';
import type { BoardLink } from './board-link.js';
import type { BridgeLink } from './bridge-link.js';
import { CLICK_MS, type ClickResult } from '../doctor/relays.js';
import { operatorRelay } from './agent.js';

/** `loa identify` without --duration. */
export const IDENTIFY_DEFAULT_MS = 30_000;
export const IDENTIFY_MAX_MS = 600_000;
/** The identify tone: three short beeps at 1 kHz on the monitor output. */
export const IDENTIFY_TONE = { frequencyHz: 1000, beepMs: 200, gapMs: 150, beeps: 3, levelDb: -12 } as const;

export interface TechnicianDeps {
  config: Config;
  conductor: Conductor;
  alerts: AlertManager;
  bank: RelayBank;
  board: BoardLink | null;
  bridge: BridgeLink | null;
  log: Logger;
  now: () => number;
}

/** The identify beeps as PCM (s16le, 48 kHz, stereo): plain numbers, no ffmpeg needed. */
export function identifyTonePcm(t = IDENTIFY_TONE): Buffer {
  const rate = PCM.sampleRate;
  const beep = Math.round((t.beepMs * rate) / 1000);
  const gap = Math.round((t.gapMs * rate) / 1000);
  const frames = t.beeps * beep + (t.beeps - 1) * gap;
  const buf = Buffer.alloc(frames * 4);
  const amp = 32767 * 10 ** (t.levelDb / 20);
  const ramp = Math.round(rate * 0.005); // 5 ms fades: a beep, not a click
  for (let b = 0; b < t.beeps; b++) {
    const start = b * (beep + gap);
    for (let i = 0; i < beep; i++) {
      const env = Math.min(1, i / ramp, (beep - 1 - i) / ramp);
      const v = Math.round(amp * env * Math.sin((2 * Math.PI * t.frequencyHz * i) / rate));
      buf.writeInt16LE(v, (start + i) * 4);
      buf.writeInt16LE(v, (start + i) * 4 + 2);
    }
  }
  return buf;
}

/** The addresses a technician would reach the box at (no loopback). */
export function stationAddresses(): string[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addrs]) => (addrs ?? []).filter((a) => !a.internal && a.family === 'IPv4').map((a) => `${a.address} (${name})`));
}

/**
 * The technician's hands on a running station: `loa identify` (beeps on the
 * monitor output, never the horns; the id and address on the board; the
 * bridge's LED blinking) and the doctor's relay click, in the conductor's
 * queue like every other switch.
 */
export function technicianHandlers(d: TechnicianDeps): Record<string, (p: Record<string, unknown>) => Promise<unknown>> {
  const emergencyNow = (): string | null => {
    const np = d.conductor.nowPlaying();
    if (np && classOf(np.priority) === 'emergency') return np.label || np.key;
    const alert = d.alerts.status().find((a) => a.state === 'active');
    if (alert) return alert.identifier;
    return d.board?.server.showing()?.source === 'emergency' ? 'board emergency' : null;
  };
  return {
    identify: async (p) => {
      const emergency = emergencyNow();
      if (emergency) throw new OperatorError('emergency', `an emergency is on (${emergency}): identify waits until it ends`);
      const durationMs = typeof p.durationMs === 'number' && p.durationMs > 0 ? Math.min(Math.round(p.durationMs), IDENTIFY_MAX_MS) : IDENTIFY_DEFAULT_MS;
      const { id, name } = d.config.station;
      const addresses = stationAddresses();
      const result: Record<string, unknown> = { station: id, name: name ?? null, addresses, durationMs };

      if (d.board) {
        const body = [name, ...addresses].filter(Boolean).join('\n') || id;
        const shown = d.board.server.showIdentify(id, body, durationMs);
        result.board = { key: shown.key, untilMs: shown.untilMs };
      } else result.board = null;

      if (d.bridge && d.bridge.client.state === 'open' && d.bridge.client.has('led')) {
        result.led = await d.bridge.client.blinkLed(durationMs).then(
          (s) => ({ blinking: s.blinking, remainingMs: s.remainingMs }),
          (err: Error) => ({ error: err.message }),
        );
      } else result.led = null;

      result.tone = await monitorTone(d);
      d.log.info({ durationMs, tone: result.tone, led: result.led !== null, board: result.board !== null }, 'station identified');
      return result;
    },
    'relay.click': async (p) => {
      const name = String(p.name);
      const output = d.bank.outputs().find((o) => o.name === name);
      if (!output) throw new OperatorError('unknown-relay', `no relay named "${name}"; relays: ${d.bank.outputs().map((o) => o.name).join(', ')}`);
      const clicked = await operatorRelay(d.conductor, `loa doctor --click ${name}`, async (): Promise<ClickResult> => {
        const before = d.bank.current()[name]?.on === true;
        await d.bank.set(name, true);
        const onReadBack = (await d.bank.state())[name] === true;
        await new Promise((r) => setTimeout(r, CLICK_MS));
        await d.bank.set(name, before);
        const offReadBack = (await d.bank.state())[name] === true;
        // "Off again" means back as it was: a relay an operator had left on is left on.
        return { name, onReadBack, offReadBack: before ? !offReadBack : offReadBack };
      });
      return clicked.done;
    },
  };
}

/** Plays the identify beeps on the monitor output (its own sink, opened for them alone); what happened, for the reply. */
async function monitorTone(d: TechnicianDeps): Promise<{ played: boolean; sink: string; ms?: number; error?: string }> {
  const monitor = d.config.audio.monitor;
  if (!monitor) return { played: false, sink: 'none' };
  const pcm = identifyTonePcm();
  const sink = createSink(monitor, d.log, { aheadMs: bytesToMs(pcm.length) });
  try {
    await sink.open();
    await sink.write(pcm);
    await sink.drain();
    return { played: true, sink: monitor.kind, ms: Math.round(bytesToMs(pcm.length)) };
  } catch (err) {
    return { played: false, sink: monitor.kind, error: (err as Error).message };
  } finally {
    await sink.close().catch(() => undefined);
  }
}
