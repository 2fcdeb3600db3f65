import type { RelaysConfig } from '../config/schema.js';
import type { RelayBank } from '../relays/bank.js';
import { judgeEvidence, type RelaySample } from '../relays/evidence.js';
import { leadTimeMs, planPowerDown, planPowerUp, runSteps } from '../relays/sequence.js';
import type { RelayPort } from './ports.js';

/** How often the lines are read back while an item plays (a relay that drops for less may go unseen). */
export const EVIDENCE_SAMPLE_MS = 250;

/**
 * The relay bank seen from the playout. Sequences never overlap: a power-up
 * waits for an aborted power-down to settle, so it plans from the real
 * state of the contacts. `ampCurrentMa` (the microcontroller's amplifier
 * current) makes the play-log evidence `mcu` rather than `readback`.
 */
export function relayPort(bank: RelayBank, cfg: RelaysConfig, now: () => number = Date.now, ampCurrentMa?: () => Promise<number | null>): RelayPort {
  let last: Promise<unknown> = Promise.resolve();
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const run = last.catch(() => undefined).then(op);
    last = run;
    return run;
  };
  const sample = async (): Promise<RelaySample> => {
    try {
      const state = await bank.state();
      const ampMa = ampCurrentMa ? await ampCurrentMa() : null;
      return { state, ...(ampMa !== null ? { ampMa } : {}) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  return {
    leadMs: (zones) => leadTimeMs(zones, cfg),
    powerUp: (zones, audioStartMs, signal) =>
      serial(async () => {
        const plan = planPowerUp({ zones, cfg, audioStartMs, nowMs: now(), current: bank.current() });
        const { pushedMs } = await runSteps(bank, plan.steps, signal, now);
        return plan.audioStartMs + pushedMs;
      }),
    powerDown: (signal) =>
      serial(async () => {
        await runSteps(bank, planPowerDown({ audioEndMs: now(), cfg, current: bank.current() }), signal, now);
      }),
    allOff: () => serial(() => bank.allOff()),
    exclusive: (op) => serial(op),
    watch: (zones) => {
      const seen: RelaySample[] = [];
      // One look at a time: a slow line (the bridge under noise) gets fewer looks, not a pile of them.
      let busy = false;
      let stopped = false;
      const look = (): void => {
        if (busy || stopped) return;
        busy = true;
        void sample().then((s) => {
          busy = false;
          if (!stopped) seen.push(s);
        });
      };
      // A driver that cannot read its lines gives no evidence: no looks either.
      const timer = ampCurrentMa || bank.readsLine ? setInterval(look, EVIDENCE_SAMPLE_MS) : null;
      if (timer) look();
      return {
        // Judged on the looks already answered: waiting for one more would delay the next item.
        stop: () => {
          stopped = true;
          if (timer) clearInterval(timer);
          return judgeEvidence(zones, cfg, ampCurrentMa ? 'mcu' : bank.readsLine ? 'readback' : 'none', seen);
        },
      };
    },
  };
}
