/**
 * scripts/bench update [--commit-after-s 10] [--gap-s 10]
 *
 * A station installed as on a controller (agent/bench/update-rig.ts: the
 * real agent run from <root>/current, a supervisor doing what
 * loa-agent.service does, the reference province on loopback) plays a
 * schedule of programmes (3 s and 10 s items) while the province publishes
 * two releases of this checkout: a good one (measured: command sent ->
 * update.committed received) and a broken one whose agent throws at start
 * (measured: command sent -> update.rolled-back received, the boot check
 * switching back after three starts). Emergencies are sent by the province
 * while each update waits for its gap and while the good release is on
 * trial. Counted: programmes not played, emergencies later than 2 s.
 * Needs `npm run build` first (scripts/bench runs dist/).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import { startUpdateRig } from './update-rig.js';
import { makeTestTone } from '../src/audio/tones.js';
import type { Programme } from '../src/domain/types.js';
import type { EventBody } from '../src/sync/protocol.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { 'commit-after-s': { type: 'string', default: '10' }, 'gap-s': { type: 'string', default: '10' } } });
const commitAfterS = Number(values['commit-after-s']);
const rig = await startUpdateRig({ first: '1.0.0', commitAfterS, gapS: Number(values['gap-s']) });
const { province, stationId } = rig;
const say = (what: string, data: Record<string, unknown> = {}): void => void process.stdout.write(JSON.stringify({ at: new Date().toISOString(), what, ...data }) + '\n');

try {
  const short = rig.content.add(await makeTestTone(join(rig.dir, 'short.wav'), 'ffmpeg', { durationMs: 3000, frequencyHz: 440 }));
  const long = rig.content.add(await makeTestTone(join(rig.dir, 'long.wav'), 'ffmpeg', { durationMs: 10_000, frequencyHz: 660 }));
  const siren = rig.content.add(await makeTestTone(join(rig.dir, 'siren.wav'), 'ffmpeg', { durationMs: 2000, frequencyHz: 990 }));
  await province.waitFor(() => (province.stations.get(stationId)?.status?.state === 'online' ? true : undefined), 60_000, 'the station online');

  // A programme every 30 s for 4 minutes, short and long in turn.
  const t0 = Date.now();
  const programmes: Programme[] = Array.from({ length: 8 }, (_, i) => {
    const at = DateTime.fromMillis(t0 + 20_000 + i * 30_000).setZone('Asia/Ho_Chi_Minh').startOf('second');
    return { id: `p${i}`, name: `Programme ${i}`, priority: 0, volume: 80, zones: ['north'], items: [{ content: (i % 2 ? long : short).sha256, repeat: 1, gapMs: 0 }], recurrence: { kind: 'once', date: at.toISODate()!, time: at.toFormat('HH:mm:ss') } };
  });
  await province.publishTarget({ station: stationId, programmes, content: [short, long, siren] });
  await province.waitFor(() => ((province.stations.get(stationId)?.reported?.applied ?? 0) > 0 ? true : undefined), 60_000, 'the target applied');
  say('schedule', { programmes: programmes.length, firstInS: 20, everyS: 30 });

  const events = (): EventBody[] => [...province.received.values()].filter((m) => m.kind === 'event').map((m) => m.body as EventBody);
  const emergencies: Array<{ id: string; sentMs: number }> = [];
  const emergency = async (why: string): Promise<void> => {
    const cmd = await province.send({ station: stationId }, { action: 'play', content: siren.sha256, priority: 9, repeat: 1, label: `bench emergency (${why})` }, { ttlMs: 60_000 });
    emergencies.push({ id: cmd.id, sentMs: Date.now() });
  };
  const publish = async (version: string, crash: boolean, until: string): Promise<number> => {
    const built = await rig.release(version, { crash });
    const url = rig.content.add(built.bundle).url;
    const sentMs = Date.now();
    await province.send({ station: stationId }, { action: 'update', manifest: built.signed, url }, { ttlMs: 600_000 });
    await province.waitFor(() => events().find((e) => e.event === 'update.ready' && (e.data as { version?: string }).version === version), 120_000, `${version} ready`);
    await emergency(`while ${version} waits for a gap`);
    await province.waitFor(() => events().find((e) => e.event === until && (e.data as { version?: string }).version === version), 600_000, `${until} of ${version}`);
    const s = (Date.now() - sentMs) / 1000;
    say(until, { version, seconds: s, bundleBytes: built.manifest.bytes });
    return s;
  };

  const commitS = await publish('1.1.0', false, 'update.committed');
  const rollbackS = await publish('1.2.0', true, 'update.rolled-back');
  await emergency('after the rollback');

  // Every programme and emergency has had its time.
  const lastMs = t0 + 20_000 + 7 * 30_000 + 12_000;
  await new Promise((r) => setTimeout(r, Math.max(0, lastMs - Date.now())));
  await new Promise((r) => setTimeout(r, 5000));
  const plays = [...province.received.values()].filter((m) => m.kind === 'play').map((m) => m.body as { programmeId?: string; requestId?: string; result: string; startedMs?: number });
  const played = new Set(plays.filter((p) => p.programmeId && p.result === 'played').map((p) => p.programmeId));
  const missed = programmes.filter((p) => !played.has(p.id)).length;
  const emergencyDelays = emergencies.map((e) => {
    const row = plays.find((p) => p.requestId === e.id && p.result === 'played');
    return row?.startedMs ? row.startedMs - e.sentMs : null;
  });
  const delayed = emergencyDelays.filter((d) => d === null || d > 2000).length;
  say('starts', { starts: rig.starts.map((s) => ({ release: s.release, code: s.code })) });
  say('emergencies', { delaysMs: emergencyDelays });
  process.stdout.write(JSON.stringify({ bench: 'update', commit_s: Math.round(commitS * 10) / 10, rollback_s: Math.round(rollbackS * 10) / 10, missed, emergencies: emergencies.length, emergencies_delayed: delayed, emergency_max_ms: Math.max(...emergencyDelays.map((d) => d ?? Infinity)), commit_after_s: commitAfterS }) + '\n');
} finally {
  await rig.close();
}
