import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { wallClockMs } from '../audio/clock.js';
import type { Config } from '../config/schema.js';
import type { StationStore } from '../store/station-store.js';
import { ContentCache, type ContentRecord } from '../cache/content-cache.js';
import type { MediaKind } from '../audio/probe.js';
import { createSink, type AudioSink } from '../audio/sink.js';
import { startDecoder, type Decoder } from '../audio/decoder.js';
import { memoryDecoder } from '../audio/memory-decoder.js';
import { playItem, type PlayOutcome } from '../audio/player.js';
import { volumeGainDb } from '../audio/loudness.js';
import { makeChime, makeSiren, makeTestTone } from '../audio/tones.js';
import { DeadAirMonitor } from '../audio/dead-air-monitor.js';
import { startCapture, type CaptureDecoder } from '../audio/live/capture.js';
import { createHash } from 'node:crypto';
import type { AudioPort, ContentPort, ItemOutcome, PreparedItem } from './ports.js';
import { liveEndMs } from './session.js';
import { startLiveChain } from '../audio/live/chain.js';
import type { FmTuner, SourceSegment } from '../audio/live/types.js';

/**
 * The station's audio side in one owner: the content cache, the sink (the
 * sound card is opened once and kept) and the generated chime and test tone.
 * It hands the playout the two small ports it needs.
 */
export class StationMedia {
  private constructor(
    private readonly config: Config,
    readonly cache: ContentCache,
    private sink: AudioSink,
    private readonly log: Logger,
    /** Found at start, or while preloading just after it. */
    readonly startupProblems: string[],
    readonly chime: string | null,
    readonly testTone: string | null,
    readonly siren: string | null,
    /** The dead-air check on what goes out (every source, files included). */
    readonly deadAir: DeadAirMonitor,
  ) {
    this.played = deadAir.watch(sink);
  }

  /** The sink as the player writes to it: measured by the dead-air check. */
  private played: AudioSink;

  /** Decoded PCM of the chime and siren, by cache path: they start without spawning ffmpeg. */
  private readonly preloaded = new Map<string, Buffer>();

  static async open(config: Config, store: StationStore, log: Logger, sinkOverride?: AudioSink): Promise<StationMedia> {
    const dir = join(config.paths.state, 'content');
    mkdirSync(dir, { recursive: true });
    const cache = new ContentCache({
      dir,
      db: store.db,
      log,
      events: store,
      quotaBytes: config.cache.quotaMb * 1_048_576,
      ffmpegPath: config.audio.ffmpegPath,
      ffprobePath: config.audio.ffprobePath,
      targetLufs: config.audio.loudness.targetLufs,
      truePeakDbtp: config.audio.loudness.truePeakDbtp,
    });
    // Quarantined and missing content is not a startup problem: `loa status` shows it live (cache/unplayable.ts) until it heals.
    await cache.startupScan();
    const problems: string[] = [];
    const sink = sinkOverride ?? createSink(config.audio.sink, log);
    await sink.open();

    // The generated sounds are made once, then live in the cache like any
    // content; their ids are remembered so a start neither regenerates nor
    // rewrites them (SD card writes).
    const generated = join(config.paths.state, 'generated');
    mkdirSync(generated, { recursive: true });
    const make = async (name: string, maker: (path: string, ffmpeg: string) => Promise<string>): Promise<string | null> => {
      const key = `generated.${name}`;
      const known = store.getMeta(key);
      if (known && cache.has(known)) return known;
      const file = join(generated, `${name}.wav`);
      try {
        await maker(file, config.audio.ffmpegPath);
        const sha = (await cache.import(file, name)).sha256;
        store.setMeta(key, sha);
        return sha;
      } catch (err) {
        problems.push(`${name} could not be made: ${(err as Error).message}`);
        return null;
      } finally {
        rmSync(file, { force: true });
      }
    };
    const chime = await make('chime', makeChime);
    const testTone = await make('test-tone', makeTestTone);
    const siren = await make('siren', makeSiren);
    const media = new StationMedia(config, cache, sink, log, problems, chime, testTone, siren, new DeadAirMonitor(config.audio.deadAir, log));
    // Decoded in the background, off the start-up path: until then they play through ffmpeg.
    for (const sha of [chime, siren]) {
      if (!sha) continue;
      void decodeToMemory(cache.pathFor(sha), config.audio.ffmpegPath, log).then(
        (pcm) => media.preloaded.set(cache.pathFor(sha), pcm),
        (err: Error) => problems.push(err.message),
      );
    }
    return media;
  }

  volumeGainDb = (percent: number): number => volumeGainDb(percent);

  /** Live captures (`loa live`, push-to-talk) by the content id their request names until the recording has its own. */
  private readonly captures = new Map<string, LiveCapture>();

  /**
   * A live capture to put on air through a request: returns the content id
   * its item names. It airs until `endLive`, its deadline or `loa stop`.
   */
  startLive(id: string, label: string, durationMs: number, nowMs: number): string {
    const content = createHash('sha256').update(`live-capture:${id}`).digest('hex');
    this.captures.set(content, { id, content, label, deadlineMs: nowMs + durationMs, startedMs: nowMs, decoder: null, ended: false, recorded: [] });
    return content;
  }

  /** Ends one live capture (or all): what is buffered plays out, the item ends as played. */
  endLive(id?: string): string[] {
    const ended: string[] = [];
    for (const c of this.captures.values()) {
      if (id && c.id !== id) continue;
      if (!c.ended) ended.push(c.id);
      c.ended = true;
      // On air: it plays out what it holds and its play removes it; waiting: it is gone now.
      if (c.decoder) c.decoder.end();
      else this.captures.delete(c.content);
    }
    return ended;
  }

  /** The live capture in progress, with its level, for `loa status` and the CLI's meter. */
  liveStatus(nowMs: number): LiveStatus | null {
    for (const c of this.captures.values()) {
      if (c.ended && !c.decoder) continue;
      if (c.deadlineMs <= nowMs && !c.decoder) continue;
      return { id: c.id, label: c.label, onAir: (c.decoder?.airedMs() ?? 0) > 0, levelDb: c.decoder?.levelDb() ?? null, airedMs: Math.round(c.recorded.reduce((n, r) => n + r, 0) + (c.decoder?.airedMs() ?? 0)), startedMs: c.startedMs, deadlineMs: c.deadlineMs, ending: c.ended };
    }
    return null;
  }

  /** A finished capture's outcome: its recording imported into the cache and named by the row. */
  private async playCapture(c: LiveCapture, decoder: CaptureDecoder, startAtMs: number | null, signal: AbortSignal, onStarted?: () => void): Promise<ItemOutcome> {
    c.decoder = decoder;
    let outcome: ItemOutcome;
    try {
      outcome = await this.playMeasured(decoder, startAtMs, signal, onStarted);
    } finally {
      c.recorded.push(decoder.airedMs());
      c.decoder = null;
    }
    // Over unless it was preempted (it comes back on air after what cut it) while there is time left.
    if (outcome.result !== 'interrupted' || c.ended || wallClockMs() >= c.deadlineMs) {
      c.ended = true;
      this.captures.delete(c.content);
    }
    const rec = await decoder.recording();
    if (!rec) return { ...outcome, ...(outcome.reason ? {} : { reason: 'live capture: not recorded (see the agent log)' }) };
    try {
      const record = await this.importFile(rec.path, `${c.label || 'live'} ${new Date(outcome.startedAtMs ?? wallClockMs()).toISOString()}`, undefined, 'audio', { move: true });
      return { ...outcome, content: record.sha256 };
    } catch (err) {
      this.log.error({ err: (err as Error).message, live: c.id }, 'live capture: the recording could not be kept');
      return { ...outcome, reason: outcome.reason ?? `live capture not recorded: ${(err as Error).message}` };
    } finally {
      rmSync(rec.path, { force: true });
    }
  }

  private async prepareCapture(c: LiveCapture, gainDb: number): Promise<PreparedItem> {
    const cap = this.config.audio.capture;
    const dir = join(this.config.paths.state, 'recordings');
    mkdirSync(dir, { recursive: true });
    const decoder = startCapture(
      {
        device: cap.device,
        arecordPath: cap.arecordPath,
        ffmpegPath: this.config.audio.ffmpegPath,
        maxMs: Math.max(0, c.deadlineMs - wallClockMs()),
        ceilingDb: cap.ceilingDb,
        gainDb,
        recordPath: join(dir, `${c.id}-${c.recorded.length}.ogg`),
      },
      this.log,
    );
    await decoder.ready;
    return {
      play: (startAtMs, signal, onStarted) => this.playCapture(c, decoder, startAtMs, signal, onStarted),
      discard: () => decoder.kill(),
    };
  }

  contentPort(): ContentPort {
    return {
      resolve: async (sha) => {
        const c = this.captures.get(sha);
        if (!c) return this.cache.verifyBeforePlay(sha);
        if (c.ended || c.deadlineMs <= wallClockMs()) return { problem: 'the live capture has ended' };
        return { path: `${CAPTURE_PATH}${sha}`, gainDb: 0, durationMs: c.deadlineMs - wallClockMs(), name: c.label };
      },
      touch: (sha) => this.cache.touch(sha),
    };
  }

  audioPort(): AudioPort {
    const audio = this.config.audio;
    return {
      prepare: async ({ path, offsetMs, gainDb }) => {
        await this.reopenSinkIfFailed();
        const capture = path.startsWith(CAPTURE_PATH) ? this.captures.get(path.slice(CAPTURE_PATH.length)) : undefined;
        if (capture) return this.prepareCapture(capture, gainDb);
        const fades = { fadeInMs: offsetMs > 0 ? audio.fadeMs : 0, fadeOutMs: audio.fadeMs };
        const pcm = this.preloaded.get(path);
        const decoder = pcm
          ? memoryDecoder(pcm, { gainDb, offsetMs, ...fades })
          : startDecoder({ file: path, offsetMs, gainDb, ...fades, ffmpegPath: audio.ffmpegPath }, this.log);
        await decoder.ready;
        return {
          play: (startAtMs, signal, onStarted) => this.playMeasured(decoder, startAtMs, signal, onStarted),
          discard: () => decoder.kill(),
        };
      },
      prepareLive: async ({ live, gainDb }) => {
        await this.reopenSinkIfFailed();
        // Connected now, while the relays warm up; its length is fixed at its first sample
        // (a duration counts from there), or it ends at its fixed end.
        const chain = startLiveChain(
          { sources: live.sources, ...(live.endMs !== null ? { untilMs: live.endMs } : { durationMs: live.durationMs ?? 0 }), gainDb },
          {
            resolveFile: async (sha) => {
              const r = await this.cache.verifyBeforePlay(sha);
              return 'problem' in r ? null : r.path;
            },
            ...(this.fmTuner ? { fm: this.fmTuner } : {}),
            ffmpegPath: audio.ffmpegPath,
          },
          this.log,
        );
        return {
          play: async (startAtMs, signal, onStarted) => {
            const outcome = await this.playMeasured(chain, startAtMs, signal, onStarted);
            const untilMs = liveEndMs(live, outcome.startedAtMs ?? wallClockMs());
            const segments = heardSegments(chain.segments(), outcome);
            return { ...outcome, ...liveVerdict(outcome, segments), live: { segments, untilMs } };
          },
          discard: () => chain.kill(),
        };
      },
      drain: () => this.sink.drain(),
    };
  }

  /** The bridge's FM receiver, when the station has one (set by the agent once the bridge answers). */
  fmTuner: FmTuner | null = null;

  /**
   * Plays one item; from its first sample to its end the output must sound
   * (a gap between items, the wait before the instant, are not dead air).
   */
  private async playMeasured(decoder: Decoder, startAtMs: number | null, signal: AbortSignal, onStarted?: () => void): Promise<PlayOutcome> {
    let started = false;
    try {
      return await playItem({
        decoder,
        sink: this.played,
        ...(startAtMs !== null ? { startAtMs } : {}),
        signal,
        stallTimeoutMs: this.config.audio.stallTimeoutMs,
        log: this.log,
        onStarted: () => {
          started = true;
          this.deadAir.sounding(true);
          onStarted?.();
        },
      });
    } finally {
      if (started) this.deadAir.sounding(false);
    }
  }

  /**
   * A sound card that went away (USB unplugged, aplay killed) is opened
   * again before the next item, so one glitch does not silence the station
   * for good. If it still cannot open, this item fails with the reason.
   */
  private async reopenSinkIfFailed(): Promise<void> {
    if (!this.sink.failure || this.config.audio.sink.kind !== 'alsa') return;
    this.log.error({ err: this.sink.failure.message }, 'sound output failed: opening it again');
    await this.sink.close().catch(() => undefined);
    const sink = createSink(this.config.audio.sink, this.log);
    await sink.open();
    this.sink = sink;
    this.played = this.deadAir.watch(sink);
    this.log.info('sound output open again');
  }

  has(sha: string): boolean {
    return this.cache.has(sha);
  }

  /** A full SHA-256 or an unambiguous prefix of one (as `loa cache ls` prints). */
  resolveId(prefix: string): string | null {
    if (prefix.length < 8) return null;
    const matches = this.cache.list().filter((c) => c.sha256.startsWith(prefix));
    return matches.length === 1 ? matches[0]!.sha256 : null;
  }

  /**
   * Imports a file, then brings the cache back under its quota without ever
   * evicting what `needed()` names (the schedule, queued requests, tones).
   */
  async importFile(path: string, name?: string, expectedSha256?: string, kind?: MediaKind, opts: { move?: boolean } = {}): Promise<ContentRecord> {
    const record = await this.cache.import(path, name, expectedSha256, kind, opts);
    const needed = new Set([...this.needed(), record.sha256, ...[this.chime, this.testTone, this.siren].filter((x): x is string => x !== null)]);
    const result = await this.cache.evict(needed);
    if (result.overQuotaBytes > 0) {
      this.log.warn({ overQuotaMb: Math.round(result.overQuotaBytes / 1_048_576) }, 'content the schedule needs exceeds the cache quota: nothing needed was evicted; raise cache.quotaMb');
    }
    return record;
  }

  /** Set by the agent: every content id the schedule and pending requests refer to. */
  needed: () => Iterable<string> = () => [];

  list(): ContentRecord[] {
    return this.cache.list();
  }

  async verify(sha?: string): Promise<{ checked: number; bad: Array<{ sha256: string; state: string }> }> {
    const shas = sha ? [this.resolveId(sha) ?? sha] : this.cache.list().map((c) => c.sha256);
    const bad: Array<{ sha256: string; state: string }> = [];
    for (const s of shas) {
      const verdict = await this.cache.verify(s);
      if (verdict !== 'ok') bad.push({ sha256: s, state: verdict });
    }
    return { checked: shas.length, bad };
  }

  cacheStats(): { items: number; bytes: number; quotaBytes: number } {
    return this.cache.stats();
  }

  async close(): Promise<void> {
    this.deadAir.close();
    await this.sink.close();
  }
}

/** Where a live capture's "file" points: no file, the capture device. */
const CAPTURE_PATH = 'live-capture:';

interface LiveCapture {
  id: string;
  content: string;
  label: string;
  startedMs: number;
  deadlineMs: number;
  /** On air now (null: waiting for its session, or preempted). */
  decoder: CaptureDecoder | null;
  ended: boolean;
  /** Aired ms of each finished stretch (a preemption splits it). */
  recorded: number[];
}

export interface LiveStatus {
  id: string;
  label: string;
  onAir: boolean;
  levelDb: number | null;
  airedMs: number;
  startedMs: number;
  deadlineMs: number;
  ending: boolean;
}

/**
 * The chain's segments as the speakers heard them: it connects while the
 * relays warm up, so what it did before the first sample (a source that
 * failed before air, the wait) is not proof of play; the first segment
 * starts with the first sample and the last ends with the last.
 */
export function heardSegments(segments: readonly SourceSegment[], outcome: { startedAtMs: number | null; endedAtMs: number }): SourceSegment[] {
  const from = outcome.startedAtMs;
  if (from === null) return [];
  return segments
    .filter((g) => (g.endMs ?? Infinity) > from && g.startMs < outcome.endedAtMs)
    .map((g) => ({ ...g, startMs: Math.max(g.startMs, from), endMs: g.endMs === null ? outcome.endedAtMs : Math.min(g.endMs, outcome.endedAtMs) }));
}

/** Less than this much of any source on air: the relay was not heard at all. */
const UNHEARD_MS = 1000;
/** Silence without any source on air worth saying in the row. */
const UNCOVERED_NOTE_MS = 2000;

/**
 * What a live row says beyond the player's outcome: the chain fills with
 * silence while no source plays, so a relay whose every source was dead
 * "played" its whole duration to the sink. No source on air is a failed
 * item; a long stretch without one is said in the reason.
 */
export function liveVerdict(outcome: { result: 'played' | 'interrupted' | 'failed'; playedMs: number; reason?: string }, segments: readonly SourceSegment[]): { result: 'played' | 'interrupted' | 'failed'; reason?: string } {
  if (outcome.result === 'failed') return outcome.reason !== undefined ? { result: 'failed', reason: outcome.reason } : { result: 'failed' };
  const covered = segments.reduce((sum, g) => sum + Math.max(0, (g.endMs ?? g.startMs) - g.startMs), 0);
  const why = [...new Set(segments.map((g) => `${g.sourceId} ${g.endReason ?? 'ended'}`))].join(', ');
  if (outcome.playedMs >= UNHEARD_MS && covered < UNHEARD_MS) {
    return { result: 'failed', reason: `no live source could be heard${why ? ` (${why})` : ''}: ${(outcome.playedMs / 1000).toFixed(1)} s of silence` };
  }
  const uncovered = outcome.playedMs - covered;
  if (uncovered >= UNCOVERED_NOTE_MS) {
    const note = `${(uncovered / 1000).toFixed(1)} s without any live source on air`;
    return { result: outcome.result, reason: outcome.reason ? `${outcome.reason}; ${note}` : note };
  }
  return outcome.reason !== undefined ? { result: outcome.result, reason: outcome.reason } : { result: outcome.result };
}

/** The whole of a short generated sound as PCM, decoded once at start. */
async function decodeToMemory(path: string, ffmpegPath: string, log: Logger): Promise<Buffer> {
  const decoder = startDecoder({ file: path, gainDb: 0, ffmpegPath, bufferMs: 60_000 }, log);
  const chunks: Buffer[] = [];
  await decoder.ready;
  while (!decoder.ended) {
    const chunk = decoder.read(1 << 20);
    if (chunk) chunks.push(chunk);
    else await decoder.waitForData();
  }
  const result = await decoder.done;
  if (!result.ok) throw new Error(`cannot decode ${path}: ${result.reason}`);
  return Buffer.concat(chunks);
}
