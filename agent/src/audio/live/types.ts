import type { Decoder } from '../decoder.js';
import type { FailoverTuning } from './policy.js';

/**
 * A live item's sources and the chain that plays them (wp-stream owns the
 * engine; the schedule, the session and the proof of play consume these).
 *
 *   const chain = startLiveChain({ sources, durationMs }, { resolveFile, fm }, log);
 *   chain.on('switch', (from, to) => ...);   // every change of source, a proof-of-play fact
 *   await playItem({ decoder: chain, sink, ... });
 *   chain.segments();                        // which source was heard from when to when
 *
 * The chain is a Decoder that never runs dry: it outputs the active source's
 * PCM, silence while it switches (so the sink's paced timeline stays real),
 * and ends after `durationMs` of output, at `untilMs`, or on `signal`.
 */

export type LiveSourceKind = 'http' | 'hls' | 'rtp' | 'file' | 'fm';

/** One source of a live item, in failover order: main, backups, a cached fallback, the FM tuner. */
export interface LiveSource {
  /** Stable name within the item, e.g. "vov1-main"; the proof of play names it. */
  id: string;
  kind: LiveSourceKind;
  /** http(s):// (Icecast, HLS .m3u8) or rtp:// / udp:// (unicast or multicast). */
  url?: string;
  /**
   * kind 'http': the container ('mp3', 'aac' for ADTS, 'ogg'); absent: from the url's extension, else probed.
   * ffmpeg's probe misreads an MP3 stream joined mid-frame (Icecast's burst) and gives no audio.
   */
  format?: 'mp3' | 'aac' | 'ogg';
  /** kind 'rtp': the session description instead of a url (Opus and other dynamic payloads need one). */
  sdp?: string;
  /** kind 'file': cached content ids played in turn (a fallback playlist). */
  contents?: string[];
  /** kind 'fm': the tuner frequency. */
  fmKHz?: number;
}

/** Which source was heard, from when to when: a proof-of-play fact. */
export interface SourceSegment {
  sourceId: string;
  kind: LiveSourceKind;
  /** Wall-clock ms (wallClockMs scale) the chain switched to it. */
  startMs: number;
  endMs: number | null;
  /** Why the chain left it: 'stalled', 'silent', 'dropped', 'garbage', 'returned-to-main', 'ended'. */
  endReason?: string;
}

/** A live item plays like any decoder until its duration is over; it also says which source played when. */
export interface LiveChain extends Decoder {
  segments(): readonly SourceSegment[];
  on(event: 'switch', listener: (from: SourceSegment | null, to: SourceSegment) => void): this;
}

export interface LiveChainSpec {
  /** In failover order; at least one. */
  sources: LiveSource[];
  /** Output this much audio, then end. */
  durationMs?: number;
  /** Or end at this wall-clock instant (wallClockMs scale); the earlier of the two wins. */
  untilMs?: number;
  /** Ends the chain (ended = true, every process stopped). */
  signal?: AbortSignal;
  /** dB applied to every source (station volume); default 0. */
  gainDb?: number;
  /** Override parts of the failover timing (tests, benchmarks); defaults in policy.ts. */
  tuning?: Partial<FailoverTuning>;
}

/** The station's FM receiver behind the firmware bridge: its audio reaches the amplifier in hardware. */
export interface FmTuner {
  tune(kHz: number): Promise<void>;
  release(): Promise<void>;
}

export interface LiveChainDeps {
  /** A cached content id to its decodable file; null when it is not in the cache. */
  resolveFile(contentId: string): string | null | Promise<string | null>;
  /** Absent: the station has no tuner and an 'fm' source fails at once. */
  fm?: FmTuner;
  ffmpegPath?: string;
}
