/**
 * End to end: the real agent run from <root>/current/bin/loa-agent.js
 * (agent/bench/update-rig.ts: releases built from this checkout's dist),
 * updated by the reference province over MQTT between two programmes. The
 * programme before the update and the one after it both reach the sink.
 * The schedule makes the gap: the release is ready before the first
 * programme, which is due sooner than the update's gap (gapS) and then on
 * air, so the switch can only come after it; the second programme is far
 * enough after it for the gap. (With the first programme further away than
 * gapS, a fast download switches before it, and 1.1.0 plays both.)
 * Needs `npm run build` (scripts/test builds first).
 */
import t from 'tap';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { startUpdateRig } from '../bench/update-rig.js';
import { makeTestTone } from '../src/audio/tones.js';
import { tonesHeard } from './daemon-fixture.js';
import type { Programme } from '../src/domain/types.js';
import type { EventBody } from '../src/sync/protocol.js';

export function onceAt(id: string, content: string, atMs: number): Programme {
  const at = DateTime.fromMillis(atMs).setZone('Asia/Ho_Chi_Minh').startOf('second');
  return { id, name: id, priority: 0, volume: 80, zones: ['north'], items: [{ content, repeat: 1, gapMs: 0 }], recurrence: { kind: 'once', date: at.toISODate()!, time: at.toFormat('HH:mm:ss') } };
}

t.test('the agent updates itself from its release folder between programmes; both programmes reach the sink', async (t) => {
  const gapS = 20;
  const rig = await startUpdateRig({ first: '1.0.0', commitAfterS: 5, gapS });
  t.teardown(() => rig.close());
  const { province } = rig;
  const short = rig.content.add(await makeTestTone(join(rig.dir, 'short.wav'), 'ffmpeg', { durationMs: 3000, frequencyHz: 440 }));
  const long = rig.content.add(await makeTestTone(join(rig.dir, 'long.wav'), 'ffmpeg', { durationMs: 10_000, frequencyHz: 660 }));
  await province.waitFor(() => (province.stations.get(rig.stationId)?.status?.state === 'online' ? true : undefined), 60_000, 'the station online');
  const t0 = Date.now();
  // 'before' is due in less than the gap, so 1.0.0 must play it; 'after' comes 30 s after it ends (more than the gap).
  await province.publishTarget({ station: rig.stationId, programmes: [onceAt('before', short.sha256, t0 + 12_000), onceAt('after', long.sha256, t0 + 45_000)], content: [short, long] });
  await province.waitFor(() => ((province.stations.get(rig.stationId)?.reported?.applied ?? 0) > 0 ? true : undefined), 30_000, 'the target applied');

  const built = await rig.release('1.1.0');
  const cmd = await province.send({ station: rig.stationId }, { action: 'update', manifest: built.signed, url: rig.content.add(built.bundle).url });
  t.match(await province.waitResponse(cmd.id), { status: 'done', result: { version: '1.1.0', from: '1.0.0' } });
  const events = (): Array<{ event: string; atMs: number }> => [...province.received.values()].filter((m) => m.kind === 'event').map((m) => ({ event: (m.body as EventBody).event, atMs: m.createdMs }));
  await province.waitFor(() => events().find((e) => e.event === 'update.committed'), 90_000, 'update.committed');
  t.same(events().filter((e) => e.event.startsWith('update.')).map((e) => e.event), ['update.downloading', 'update.ready', 'update.switching', 'update.committed']);
  t.same(rig.starts.map((s) => [s.release, s.code]), [['1.0.0', 75], ['1.1.0', null]], '1.0.0 exited 75 for the restart; 1.1.0 runs');

  const plays = (): Array<{ programmeId: string; result: string; startedMs: number; endedMs: number }> => [...province.received.values()].filter((m) => m.kind === 'play').map((m) => m.body as { programmeId: string; result: string; startedMs: number; endedMs: number });
  await province.waitFor(() => (plays().length >= 2 ? true : undefined), 60_000, 'both programmes logged');
  t.same(plays().map((p) => [p.programmeId, p.result]), [['before', 'played'], ['after', 'played']], 'nothing missed across the update');
  const at = (event: string): number => events().find((e) => e.event === event)!.atMs;
  const [before, after] = plays();
  t.ok(at('update.ready') < before!.startedMs, 'the release was ready before the first programme');
  t.ok(at('update.switching') >= before!.endedMs && at('update.switching') < after!.startedMs, 'it switched in the gap between the programmes');

  // The agent stopped: each run's sink file closed and moved aside (the sink follows the release that played).
  await rig.close();
  t.same(rig.starts.map((s) => s.release), ['1.0.0', '1.1.0']);
  t.same(tonesHeard(rig.starts[0]!.sink, [440, 660]).map((x) => x.freq), [440], '1.0.0 played the first programme at its sink');
  const heard = tonesHeard(rig.starts[1]!.sink, [440, 660]);
  t.same(heard.map((x) => x.freq), [660], '1.1.0 played the second');
  t.ok((heard[0]?.durationS ?? 0) > 9.5, `the 10 s item whole (${heard[0]?.durationS} s)`);
});
