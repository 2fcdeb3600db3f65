import type { Province } from './province.js';
import type { EventBody } from '../../agent/src/sync/protocol.js';

/**
 * Staged rollout of a release: 1 %, 5 %, 25 %, 100 % of the stations, each
 * stage judged by what its stations report (update.* events through their
 * outbox), stopping when a stage's failure rate is above the threshold.
 * The stage arithmetic and the verdict are pure (province/test and
 * agent/test/update-logic.test.ts test them as data).
 */

export const DEFAULT_STAGES = [1, 5, 25, 100] as const;

export type StationOutcome = 'committed' | 'rolled-back' | 'failed' | 'refused' | 'timeout';

/** Cumulative station counts per stage: at least one station in the first, every station in the last, never fewer than the stage before. */
export function stageSizes(stations: number, percents: readonly number[] = DEFAULT_STAGES): number[] {
  let before = 0;
  return percents.map((p) => {
    before = Math.min(stations, Math.max(before, Math.ceil((stations * p) / 100), 1));
    return before;
  });
}

export interface StageVerdict {
  failures: number;
  total: number;
  rate: number;
  goOn: boolean;
}

/** Everything but a commit counts as a failure (a station that never answered did not take the release either). */
export function stageVerdict(outcomes: readonly StationOutcome[], threshold: number): StageVerdict {
  const failures = outcomes.filter((o) => o !== 'committed').length;
  const rate = outcomes.length === 0 ? 0 : failures / outcomes.length;
  return { failures, total: outcomes.length, rate, goOn: rate <= threshold };
}

/** What a station's update.* event says of `version`, or undefined: still on its way. */
export function outcomeOf(body: EventBody, version: string): StationOutcome | undefined {
  if ((body.data as { version?: unknown } | undefined)?.version !== version) return undefined;
  if (body.event === 'update.committed') return 'committed';
  if (body.event === 'update.rolled-back') return 'rolled-back';
  if (body.event === 'update.failed') return 'failed';
  return undefined;
}

export interface RolloutReport {
  version: string;
  stages: Array<{ percent: number; stations: string[]; outcomes: Record<string, StationOutcome>; verdict: StageVerdict }>;
  /** Every stage passed: the whole fleet was offered the release. */
  completed: boolean;
  haltedAt?: number;
}

export async function rollout(o: {
  province: Province;
  stations: readonly string[];
  version: string;
  manifest: string;
  url: string;
  threshold: number;
  stages?: readonly number[];
  /** How long one station has to report its outcome (download, gap, trial). */
  stageTimeoutMs: number;
  onStage?: (stage: RolloutReport['stages'][number]) => void;
}): Promise<RolloutReport> {
  const percents = o.stages ?? DEFAULT_STAGES;
  const sizes = stageSizes(o.stations.length, percents);
  const report: RolloutReport = { version: o.version, stages: [], completed: false };
  let done = 0;
  for (const [i, size] of sizes.entries()) {
    const batch = o.stations.slice(done, size);
    done = size;
    const outcomes: Record<string, StationOutcome> = {};
    const commands = await Promise.all(batch.map((station) => o.province.send({ station }, { action: 'update', manifest: o.manifest, url: o.url }, { ttlMs: 3_600_000 })));
    const commandOf = new Map(commands.map((c, k) => [batch[k]!, c.id]));
    const settle = (): boolean => {
      for (const station of batch) {
        if (outcomes[station]) continue;
        const refused = o.province.responses.get(commandOf.get(station)!)?.find((r) => r.status === 'rejected');
        if (refused) outcomes[station] = 'refused';
      }
      for (const m of o.province.received.values()) {
        if (m.kind !== 'event' || !batch.includes(m.station) || outcomes[m.station]) continue;
        const outcome = outcomeOf(m.body as EventBody, o.version);
        if (outcome) outcomes[m.station] = outcome;
      }
      return batch.every((s) => outcomes[s]);
    };
    await o.province.waitFor(() => (settle() ? true : undefined), o.stageTimeoutMs, `stage ${percents[i]} %`).catch(() => undefined);
    for (const s of batch) outcomes[s] ??= 'timeout';
    const verdict = stageVerdict(batch.map((s) => outcomes[s]!), o.threshold);
    const stage = { percent: percents[i]!, stations: batch, outcomes, verdict };
    report.stages.push(stage);
    o.onStage?.(stage);
    if (!verdict.goOn) {
      report.haltedAt = percents[i]!;
      return report;
    }
  }
  report.completed = true;
  return report;
}
