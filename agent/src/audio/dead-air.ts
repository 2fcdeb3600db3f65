/**
 * Dead air: what goes out is quieter than `thresholdDb` for longer than
 * `holdMs` while a programme should be sounding. Pure: the adapter
 * (dead-air-monitor.ts) feeds it the level of every period the sink plays
 * and whether an item is on air; it answers with the transitions.
 */
export interface DeadAirSettings {
  /** dBFS (RMS of a period) at or below which a period counts as silent. */
  thresholdDb: number;
  /** Silence this long while an item is on air raises the alarm. */
  holdMs: number;
}

export interface DeadAirState {
  /** An item is on air: its audio should be heard (gaps between items and an idle station are not). */
  sounding: boolean;
  /** Since when what goes out has been silent while sounding; null: it is not. */
  quietSinceMs: number | null;
  alarm: { raisedAtMs: number; quietSinceMs: number } | null;
}

export type DeadAirInput =
  /** A period left the sink at `atMs` with this level. */
  | { kind: 'level'; atMs: number; db: number }
  /** An item went on air (true) or ended (false). */
  | { kind: 'sounding'; atMs: number; on: boolean }
  /** Time passes without periods (a sink that only sees writes, an underrun). */
  | { kind: 'tick'; atMs: number };

export type DeadAirTransition =
  | { kind: 'raised'; atMs: number; quietSinceMs: number }
  | { kind: 'cleared'; atMs: number; quietMs: number; why: 'sound' | 'item-ended' };

export const DEAD_AIR_IDLE: DeadAirState = { sounding: false, quietSinceMs: null, alarm: null };

export function stepDeadAir(state: DeadAirState, input: DeadAirInput, s: DeadAirSettings): { state: DeadAirState; transition?: DeadAirTransition } {
  switch (input.kind) {
    case 'sounding': {
      if (input.on) return { state: { ...state, sounding: true, quietSinceMs: state.sounding ? state.quietSinceMs : null } };
      const next: DeadAirState = { sounding: false, quietSinceMs: null, alarm: null };
      return state.alarm ? { state: next, transition: { kind: 'cleared', atMs: input.atMs, quietMs: input.atMs - state.alarm.quietSinceMs, why: 'item-ended' } } : { state: next };
    }
    case 'level': {
      if (!state.sounding) return { state };
      if (input.db > s.thresholdDb) {
        const next: DeadAirState = { sounding: true, quietSinceMs: null, alarm: null };
        return state.alarm ? { state: next, transition: { kind: 'cleared', atMs: input.atMs, quietMs: input.atMs - state.alarm.quietSinceMs, why: 'sound' } } : { state: next };
      }
      return raiseIfLong({ ...state, quietSinceMs: state.quietSinceMs ?? input.atMs }, input.atMs, s);
    }
    case 'tick':
      if (!state.sounding) return { state };
      return raiseIfLong(state, input.atMs, s);
  }
}

function raiseIfLong(state: DeadAirState, atMs: number, s: DeadAirSettings): { state: DeadAirState; transition?: DeadAirTransition } {
  if (state.alarm || state.quietSinceMs === null || atMs - state.quietSinceMs < s.holdMs) return { state };
  const alarm = { raisedAtMs: atMs, quietSinceMs: state.quietSinceMs };
  return { state: { ...state, alarm }, transition: { kind: 'raised', atMs, quietSinceMs: state.quietSinceMs } };
}


/** Peak level of s16le PCM, dBFS (what a level meter shows). */
export function pcmPeakDb(pcm: Buffer): number {
  let peak = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return peak === 0 ? -Infinity : 20 * Math.log10(peak / 32768);
}
