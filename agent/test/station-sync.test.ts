import t from 'tap';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { makeTestTone } from '../src/audio/tones.js';
import { volumeGainDb } from '../src/audio/loudness.js';
import { BYTES_PER_FRAME, PCM, bytesToMs } from '../src/audio/pcm.js';
import type { Programme } from '../src/domain/types.js';
import { EventBodySchema, OutboxMessageSchema } from '../src/sync/protocol.js';
import { startStation, type Station } from './station-fixture.js';
import { until } from './sync-fixture.js';
import { startProvince } from './province-fixture.js';

// The real daemon against the province: the target's settings kept across
// restarts, content that heals itself, eviction that spares a target being
// downloaded. Proven at the sink, the relay journal and the province.

const keys = generateProvinceKeys();

const syncOver = (broker: EmbeddedBroker, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 }, ...extra },
});

/** Stretches of sound in the sink's recording (silence of 50 ms or more separates them). */
interface Burst {
  durationMs: number;
  /** Largest absolute sample, 0-1 of full scale. */
  peak: number;
  /** From zero crossings of the left channel. */
  frequencyHz: number;
}

function sinkBursts(path: string): Burst[] {
  const pcm = readFileSync(path);
  const frames = Math.floor(pcm.length / BYTES_PER_FRAME);
  const quietFrames = (PCM.sampleRate * 50) / 1000;
  const bursts: Burst[] = [];
  let start = -1;
  let lastLoud = -1;
  const close = (end: number): void => {
    let peak = 0;
    let crossings = 0;
    let prev = 0;
    for (let f = start; f <= end; f++) {
      const v = pcm.readInt16LE(f * BYTES_PER_FRAME);
      peak = Math.max(peak, Math.abs(v));
      if ((prev < 0 && v >= 0) || (prev >= 0 && v < 0)) crossings++;
      prev = v;
    }
    const durationMs = bytesToMs((end - start + 1) * BYTES_PER_FRAME);
    bursts.push({ durationMs, peak: peak / 32768, frequencyHz: crossings / 2 / (durationMs / 1000) });
  };
  for (let f = 0; f < frames; f++) {
    const loud = pcm.readInt16LE(f * BYTES_PER_FRAME) !== 0 || pcm.readInt16LE(f * BYTES_PER_FRAME + 2) !== 0;
    if (!loud) {
      if (start >= 0 && f - lastLoud > quietFrames) {
        close(lastLoud);
        start = -1;
      }
      continue;
    }
    if (start < 0) start = f;
    lastLoud = f;
  }
  if (start >= 0) close(lastLoud);
  return bursts;
}

/** The sound that reached the sink after the first `skip` bursts, as one (a loaded machine may leave underrun gaps in it). */
function heardSince(path: string, skip: number): Burst {
  const bursts = sinkBursts(path).slice(skip);
  const longest = bursts.reduce((a, b) => (b.durationMs > a.durationMs ? b : a), { durationMs: 0, peak: 0, frequencyHz: 0 });
  return { durationMs: bursts.reduce((n, b) => n + b.durationMs, 0), peak: Math.max(0, ...bursts.map((b) => b.peak)), frequencyHz: longest.frequencyHz };
}

const dB = (ratio: number): number => 20 * Math.log10(ratio);

/** A tone's expected peak at the sink: its level, the cache's loudness gain and the session volume. */
function expectedPeak(s: Station, sha: string, volumePercent: number, toneLevelDb = -20): number {
  const rec = s.agent.media.cache.get(sha)!;
  return 10 ** ((toneLevelDb + rec.gainDb + volumeGainDb(volumePercent)) / 20);
}

function onceAt(id: string, content: string, at: DateTime, zones: string[]): Programme {
  return { id, name: id, priority: 0, volume: 100, recurrence: { kind: 'once', date: at.toISODate()!, time: at.toFormat('HH:mm:ss') }, items: [{ content, repeat: 1, gapMs: 0 }], zones };
}

t.test('the province settings survive a restart: a zone it switched off stays off, its volumes stay', async (t) => {
  const { broker, content, province } = await startProvince(t, keys);
  let s = await startStation(syncOver(broker));
  const dir = s.dir;
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');

  const tone = content.add(await makeTestTone(join(dir, 'tone.wav'), 'ffmpeg', { durationMs: 3000, frequencyHz: 600 }), 'tone.wav');
  const v = await province.publishTarget({
    station: s.config.station.id,
    programmes: [],
    content: [tone],
    // North's horn line is broken: the province switches it off. South is trimmed.
    zones: [{ name: 'north', volume: 100, enabled: false }, { name: 'south', volume: 30, enabled: true }],
    settings: { volume: 80, emergencyVolume: 60, graceMs: 45_000 },
  });
  await until(() => s.agent.sync?.status().applied?.version === v, 30_000, 'the target applied');
  const expected = {
    zones: [{ name: 'north', volume: 100, enabled: false }, { name: 'south', volume: 30, enabled: true }],
    graceMs: 45_000,
    emergencyVolume: 60,
    masterVolume: 80,
  };
  t.same(s.agent.conductor.settings, expected, 'applied while running');

  // Power cut with the province unreachable afterwards: only what the station stored can set it up.
  await s.stop();
  await province.close();
  await broker.close();
  s = await startStation(syncOver(broker), dir);
  t.same(s.agent.conductor.settings, expected, 'after the restart: the config plus the applied target, not the config alone');

  const sinkPath = s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '';
  // A bulletin for every zone: only south switches on, at 100 % x trim 30 x master 80 = 24 %.
  s.agent.conductor.submit({ id: `cli-${randomUUID()}`, mode: 'now', priority: 0, label: 'bản tin', items: [{ content: tone.sha256, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'cli' });
  const [row] = await s.rows(1, 30_000);
  t.equal(row!.result, 'played');
  t.same(row!.zones, ['south'], 'the play log names south only');
  const on = s.switches().filter((x) => x.on).map((x) => x.name);
  t.notOk(on.includes('north'), `north stayed off (relay journal: ${on.join(', ')})`);
  t.ok(on.includes('south'), 'south was switched on');
  const normal = heardSince(sinkPath, 0);
  t.ok(Math.abs(normal.frequencyHz - 600) < 25, `the tone at the sink (${normal.frequencyHz.toFixed(0)} Hz)`);
  // Its exact length is the playout tests' business (issue 8, point 1); here: this is the bulletin, not a click.
  t.ok(normal.durationMs > 250, `the bulletin reached the sink (${normal.durationMs.toFixed(0)} ms)`);
  const normalOff = dB(normal.peak / expectedPeak(s, tone.sha256, 24));
  t.ok(Math.abs(normalOff) < 1, `at the province's volume: ${normalOff.toFixed(2)} dB from 24 %`);

  // An emergency: every zone at the province's emergency volume (60 %), not the config's 100 %.
  const heardBefore = sinkBursts(sinkPath).length;
  s.agent.conductor.submit({ id: `cli-${randomUUID()}`, mode: 'now', priority: 9, label: 'khẩn cấp', items: [{ content: tone.sha256, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'cli' });
  const rows = await s.rows(2, 30_000);
  t.equal(rows[1]!.result, 'played');
  const emergency = heardSince(sinkPath, heardBefore);
  t.ok(Math.abs(emergency.frequencyHz - 600) < 25, `the tone at the sink (${emergency.frequencyHz.toFixed(0)} Hz)`);
  const emergencyOff = dB(emergency.peak / expectedPeak(s, tone.sha256, 60));
  t.ok(Math.abs(emergencyOff) < 1, `at the province's emergency volume: ${emergencyOff.toFixed(2)} dB from 60 %`);
});

t.test('a corrupt cached file is fetched again and plays at its next slot; the province hears of it', async (t) => {
  const { broker, content, province } = await startProvince(t, keys);
  let s = await startStation(syncOver(broker));
  const dir = s.dir;
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');

  const tone = content.add(await makeTestTone(join(dir, 'news.wav'), 'ffmpeg', { durationMs: 3000, frequencyHz: 700 }), 'news.wav');
  const base = DateTime.now().setZone(s.config.station.timezone).startOf('second');
  const first = base.plus({ seconds: 10 });
  const second = base.plus({ seconds: 22 });
  const v = await province.publishTarget({
    station: s.config.station.id,
    programmes: [onceAt('morning', tone.sha256, first, ['north']), onceAt('noon', tone.sha256, second, ['north'])],
    content: [tone],
  });
  await until(() => s.agent.sync?.status().applied?.version === v, 30_000, 'the target applied');
  const path = s.agent.media.cache.pathFor(tone.sha256);
  const requests = (): number => content.requests.filter((r) => r.sha256 === tone.sha256).length;
  const before = requests();

  // The SD card flips a byte.
  const bytes = readFileSync(path);
  const mid = bytes.length >> 1;
  bytes[mid] = bytes[mid]! ^ 0xff;
  writeFileSync(path, bytes);

  const sinkPath = s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '';
  const [bad] = await s.rows(1, 30_000);
  t.equal(bad!.content, tone.sha256);
  t.equal(bad!.result, 'failed', 'never played corrupt');
  await until(() => s.agent.media.has(tone.sha256), 20_000, 'the file fetched again');
  t.ok(requests() > before, 'downloaded again from the province, with no new target and no command');

  const heardBefore = sinkBursts(sinkPath).length;
  const rows = await s.rows(2, 40_000);
  t.equal(rows[1]!.result, 'played', 'the next slot plays');
  t.ok(Math.abs(rows[1]!.startedMs! - second.toMillis()) < 1000, 'on time (loose: scripts/bench playout-accuracy measures)');
  const burst = heardSince(sinkPath, heardBefore);
  t.ok(Math.abs(burst.frequencyHz - 700) < 25, `the healed file at the sink (${burst.frequencyHz.toFixed(0)} Hz)`);
  t.ok(burst.durationMs > 250, `the bulletin reached the sink (${burst.durationMs.toFixed(0)} ms)`);

  // What the province received: valid outbox messages (none dropped as invalid), the problem and the healing.
  const events = (): Array<{ event: string; data?: Record<string, unknown> }> =>
    [...province.received.values()].filter((m) => m.kind === 'event').map((m) => m.body as { event: string; data?: Record<string, unknown> });
  await until(() => events().some((e) => e.event === 'content.healed'), 20_000, 'content.healed at the province');
  t.match(events().find((e) => e.event === 'content.problem'), { data: { sha256: tone.sha256, state: 'quarantined' } }, 'content.problem accepted by the province');
  t.equal(province.invalid, 0, 'no station message refused as invalid');

  // A file gone while the station was off is fetched again at start, with the broker down: the stored target says what is needed.
  await s.stop();
  await province.close();
  await broker.close();
  unlinkSync(path);
  s = await startStation(syncOver(broker), dir);
  await until(() => s.agent.media.has(tone.sha256) && existsSync(path), 20_000, 'the missing file fetched again at start');
  const queued = (s.agent.store.db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq").all() as Array<{ payload: string }>)
    .map((r) => EventBodySchema.parse(OutboxMessageSchema.parse(JSON.parse(r.payload)).body));
  t.match(queued.find((e) => e.event === 'content.problem'), { data: { sha256: tone.sha256, state: 'missing' } }, 'the missing file reported, in the envelope the province accepts');
  t.ok(queued.some((e) => e.event === 'content.healed'), 'and its healing');
});

t.test('eviction under quota never deletes what a target still downloading has fetched', async (t) => {
  const { broker, content, province } = await startProvince(t, keys);
  // 16 MB of cache for three 30 s WAV files of 5.8 MB each: the target needs more than the quota.
  const s = await startStation({ ...syncOver(broker), cache: { quotaMb: 16 } });
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');
  const entries = [];
  for (const [i, hz] of [400, 500, 600].entries()) {
    entries.push(content.add(await makeTestTone(join(s.dir, `long-${i}.wav`), 'ffmpeg', { durationMs: 30_000, frequencyHz: hz }), `long-${i}.wav`));
  }
  const at = DateTime.now().setZone(s.config.station.timezone).plus({ hours: 1 }).startOf('minute');
  const v = await province.publishTarget({
    station: s.config.station.id,
    programmes: entries.map((e, i) => onceAt(`p${i}`, e.sha256, at.plus({ minutes: i }), ['north'])),
    content: entries,
  });
  await until(() => s.agent.sync?.status().applied?.version === v, 60_000, 'the target applied');
  for (const e of entries) {
    t.ok(s.agent.media.has(e.sha256) && existsSync(s.agent.media.cache.pathFor(e.sha256)), `${e.name} kept in the cache`);
  }
  t.ok(s.agent.media.cacheStats().bytes > 16 * 1_048_576, 'over quota rather than missing what the schedule needs');
});
