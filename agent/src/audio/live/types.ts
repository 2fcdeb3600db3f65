import type { Decoder } from '../decoder.js';

/**
 * A live item's sources and the chain that plays them (wp-stream owns the
 * engine; the schedule, the session and the proof of play consume these).
 */

export type LiveSourceKind = 'http' | 'hls' | 'rtp' | 'file' | 'fm';

/** One source of a live item, in failover order: main, backups, a cached fallback, the FM tuner. */
export interface LiveSource {
  /** Stable name within the item, e.g. "vov1-main"; the proof of play names it. */
  id: string;
  kind: LiveSourceKind;
  /** http(s):// (Icecast, HLS .m3u8) or rtp:// / udp:// (unicast or multicast). */
  url?: string;
  /** kind 'file': cached content ids played in turn (a fallback playlist). */
  contents?: string[];
  /** kind 'fm': the tuner frequency. */
  fmKHz?: number;
}

/** Which source was heard, from when to when: a proof-of-play fact. */
export interface SourceSegment {
  sourceId: string;
  kind: LiveSourceKind;
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
