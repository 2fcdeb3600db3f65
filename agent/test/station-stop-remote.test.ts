/**
 * Stopping from outside the CLI, proved at the sink: the station's physical
 * stop button on the simulated microcontroller (over a socat pseudo-terminal)
 * does what `loa stop --all` does, and holds off the emergency button too;
 * the province withdraws a queued emergency with a signed `stop` naming its
 * command, and it never reaches a speaker.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../firmware-bridge/src/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { wallClockMs } from '../src/audio/clock.js';
import { listenedSink, startStation, type Station } from './station-fixture.js';
import { loa, sleep, tonesHeard, until } from './daemon-fixture.js';
import { startProvince } from './province-fixture.js';
import type { PlayLogRow } from '../src/store/station-store.js';

function rowsOf(s: Station, requestId: string): Promise<PlayLogRow[]> {
  return until(`play-log rows for ${requestId}`, () => {
    const rows = s.agent.store.recentPlays(500).filter((r) => r.requestId === requestId);
    return rows.length > 0 ? rows : undefined;
  }, 30_000);
}

function requestState(s: Station, id: string): string | undefined {
  return (s.agent.store.db.prepare('SELECT state FROM request WHERE id = ?').get(id) as { state: string } | undefined)?.state;
}

t.test('the stop button on the microcontroller: silence within a second, the queue dropped, the emergency button held off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-stop-button-'));
  const sim = await startSimulator({ log: silentLogger(), pty: { dir } });
  t.teardown(() => sim.stop());
  const sinkPath = join(dir, 'heard.raw');
  const heard = listenedSink(sinkPath);
  const s = await startStation(
    {
      relays: {
        driver: 'bridge',
        amplifiers: [{ name: 'amp', line: 0, activeLow: false, warmupMs: 200 }],
        zones: [{ name: 'north', line: 1, activeLow: false, amplifier: 'amp' }],
        zoneLeadMs: 50,
        tailMs: 100,
      },
      bridge: { path: sim.hostPath, inputs: { '0': 'emergency', '3': 'stop' } },
      alerts: { stopHoldOffS: 600 },
    },
    dir,
    { ownRelays: false, sink: heard.sink },
  );
  t.teardown(() => s.stop());
  const long = await s.tone('long', { seconds: 20, freq: 700 });
  const queued = await s.tone('queued', { seconds: 3, freq: 1100 });
  process.env.LOA_SOCKET = s.config.paths.socket;
  const play = async (sha: string): Promise<string> => {
    const r = await loa('--config', '/nonexistent', '--json', 'play', sha, '--class', 'emergency');
    t.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { id: string }).id;
  };
  const first = await play(long);
  await heardWhole(sinkPath, 700);
  const second = await play(queued);
  await sleep(300);
  t.equal(requestState(s, second), 'pending');

  // Pressed and let go, as a hand does.
  const pressedAt = wallClockMs();
  sim.mcu.setInput(3, 1);
  await sleep(100);
  sim.mcu.setInput(3, 0);
  await sleep(1500);
  const silentAfterMs = heard.lastAudibleMs()! - pressedAt;
  t.ok(silentAfterMs < 1500, `last non-zero sample ${Math.round(silentAfterMs)} ms after the press (goal 1 s)`);
  t.equal((await rowsOf(s, first))[0]!.result, 'interrupted');
  const dropped = await rowsOf(s, second);
  t.same(dropped.map((r) => r.result), ['skipped']);
  t.match(dropped[0]!.reason, /stop button pressed at the station/);
  t.ok(s.agent.conductor.heldOffUntil()! > Date.now() + 590_000, 'emergencies held off for the configured time');
  t.equal((Number((sim.mcu.snapshot() as { relays: number }).relays) & 0b11), 0, 'and the relays are off');

  // The emergency button during the hold-off: recorded, silent.
  const lastBefore = heard.lastAudibleMs();
  sim.mcu.setInput(0, 1);
  const held = await until('the held-off siren request', () =>
    s.agent.store.recentPlays(500).find((r) => r.reason?.startsWith('held off') && r.requestId?.startsWith('button-')), 20_000);
  sim.mcu.setInput(0, 0);
  t.equal(held.result, 'skipped');
  t.match(held.reason, /held off: emergencies stopped \(stop button pressed at the station\)/);
  await sleep(2000);
  t.equal(heard.lastAudibleMs(), lastBefore, 'nothing reached the sink after the stop');
  t.same(tonesHeard(sinkPath, [700, 1100]).map((x) => x.freq), [700], 'only the first emergency, cut');
});

t.test('the province withdraws a queued emergency by its command id: it never reaches the sink', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  const dir = mkdtempSync(join(tmpdir(), 'loa-withdraw-'));
  const sinkPath = join(dir, 'heard.raw');
  const heard = listenedSink(sinkPath);
  const s = await startStation(
    { sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } } },
    dir,
    { sink: heard.sink },
  );
  t.teardown(() => s.stop());
  await until('the station to connect', () => (s.agent.sync?.status().connected ? true : undefined), 20_000);
  const long = await s.tone('long', { seconds: 20, freq: 700 });
  const queued = await s.tone('queued', { seconds: 3, freq: 1100 });
  const to = { station: s.config.station.id };

  const onAir = await province.send(to, { action: 'play', content: long, priority: 9, repeat: 1, label: 'Lũ quét' });
  t.equal((await province.waitResponse(onAir.id)).status, 'done');
  await heardWhole(sinkPath, 700);
  const waiting = await province.send(to, { action: 'play', content: queued, priority: 9, repeat: 1, label: 'Sạt lở' });
  t.equal((await province.waitResponse(waiting.id)).status, 'done');
  t.equal(requestState(s, waiting.id), 'pending', 'the second waits behind the first');

  const cancel = await province.send(to, { action: 'stop', commandId: waiting.id });
  t.match(await province.waitResponse(cancel.id), { status: 'done', result: { withdrawn: waiting.id, was: 'queued' } });
  const rows = await rowsOf(s, waiting.id);
  t.same(rows.map((r) => r.result), ['skipped']);
  t.match(rows[0]!.reason, new RegExp(`withdrawn by the province \\(stop ${cancel.id}\\)`));
  t.equal(requestState(s, waiting.id), 'cancelled');

  // Then the one on air, by its id too: the station goes silent and the withdrawn one does not follow.
  const stopAt = wallClockMs();
  const stop = await province.send(to, { action: 'stop', commandId: onAir.id });
  t.match(await province.waitResponse(stop.id), { status: 'done', result: { withdrawn: onAir.id, was: 'on-air' } });
  t.equal(requestState(s, onAir.id), 'cancelled');
  await sleep(3000);
  t.ok(heard.lastAudibleMs()! - stopAt < 1500, 'silent soon after the province stop');
  t.same(tonesHeard(sinkPath, [700, 1100]).map((x) => x.freq), [700], 'the withdrawn emergency never reached the sink');
  t.equal(s.agent.conductor.heldOffUntil(), null, 'a province withdrawal holds nothing off');

  const unknown = await province.send(to, { action: 'stop', commandId: waiting.id });
  t.match(await province.waitResponse(unknown.id), { status: 'rejected', reason: /neither on air nor waiting/ }, 'one already withdrawn cannot be withdrawn again');
  await until('proof at the province', () => ([...province.received.values()].some((m) => m.kind === 'play' && (m.body as PlayLogRow).requestId === waiting.id && (m.body as PlayLogRow).result === 'skipped') ? true : undefined), 20_000);
});

/** A second of `freq` heard whole at the sink, so that the sink can later tell which emergency played and which never did. */
async function heardWhole(sinkPath: string, freq: number): Promise<void> {
  await until(`${freq} Hz at the sink`, () => (tonesHeard(sinkPath, [freq]).some((x) => x.freq === freq && x.durationS >= 1) ? true : undefined), 20_000);
}
