import { execFile } from 'node:child_process';
import { ReasonError } from '../lib/reason.js';

/** audio: for the speakers; image and video: for the bulletin board. */
export type MediaKind = 'audio' | 'image' | 'video';

export interface ProbeResult {
  kind: MediaKind;
  /** Container and codec, e.g. "mp3/mp3", "ogg/opus", "mov,mp4,m4a,3gp,3g2,mj2/h264", "png_pipe/png". */
  format: string;
  /** 0 for a still image. */
  durationMs: number;
}

interface Stream {
  codec_type?: string;
  codec_name?: string;
  duration?: string;
  disposition?: { attached_pic?: number };
}

/** Still-image codecs Chromium shows. */
const IMAGE_CODECS = new Set(['png', 'mjpeg', 'webp', 'gif', 'bmp']);
/** H.264 is what a Pi decodes in hardware; the board refuses anything else rather than stutter. */
const VIDEO_CODECS = new Set(['h264']);
const VIDEO_CONTAINERS = /(^|,)(mp4|mov)(,|$)/;

/**
 * Checks with ffprobe what a file is and that loa can use it: audio for the
 * speakers, or an image or H.264 MP4 for the board. With `expected`, a file
 * of another kind is refused. Rejects with what is wrong in words an
 * operator can act on.
 */
export function probeMedia(file: string, expected: MediaKind | undefined, ffprobePath = 'ffprobe'): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file];
  return new Promise((resolve, reject) => {
    execFile(ffprobePath, args, { maxBuffer: 4 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(`cannot run ${ffprobePath}: not installed?`));
      const lastErr = stderr.trim().split('\n').filter(Boolean).at(-1);
      // ffprobe refusing the file ("Invalid data found when processing input"): it is no media it knows.
      if (err) return reject(new ReasonError('not-media', lastErr ?? `ffprobe failed: ${err.message}`));
      let doc: { streams?: Stream[]; format?: { format_name?: string; duration?: string } };
      try {
        doc = JSON.parse(stdout) as typeof doc;
      } catch {
        return reject(new Error('ffprobe printed no readable description'));
      }
      try {
        resolve(classify(doc.streams ?? [], doc.format ?? {}, expected));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** Pure: what ffprobe's description means for loa. Throws the operator's reason. */
export function classify(streams: readonly Stream[], format: { format_name?: string; duration?: string }, expected?: MediaKind): ProbeResult {
  const container = format.format_name ?? '?';
  // Cover art inside an MP3 is a "video" stream; it does not make the file a video.
  const picture = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const audio = streams.find((s) => s.codec_type === 'audio');
  const seconds = (s: Stream | undefined): number => Number(s?.duration ?? format.duration);
  const kind: MediaKind | null =
    expected === 'audio' ? (audio ? 'audio' : null)
    : picture && (IMAGE_CODECS.has(picture.codec_name ?? '') && !VIDEO_CONTAINERS.test(container)) ? 'image'
    : picture ? 'video'
    : audio ? 'audio'
    : null;
  if (kind === null) throw expected === 'audio' ? new ReasonError('no-audio', 'no audio stream in the file') : new ReasonError('not-media', 'neither audio, an image nor a video');
  if (expected && kind !== expected) throw new ReasonError('wrong-kind', `it is ${kind === 'image' ? 'an image' : kind}, not ${expected === 'image' ? 'an image' : expected}`, { is: kind, expected });
  if (kind === 'image') return { kind, format: `${container}/${picture!.codec_name ?? '?'}`, durationMs: 0 };
  const stream = kind === 'audio' ? audio! : picture!;
  if (kind === 'video' && (!VIDEO_CODECS.has(stream.codec_name ?? '') || !VIDEO_CONTAINERS.test(container))) {
    throw new ReasonError('video-codec', `video must be H.264 in MP4 (it is ${stream.codec_name ?? '?'} in ${container}): re-encode with ffmpeg -c:v libx264 -movflags +faststart`, { codec: stream.codec_name ?? '?', container });
  }
  const s = seconds(stream);
  if (!Number.isFinite(s) || s <= 0) throw new ReasonError('no-duration', `the ${kind} has no duration (empty or unreadable)`, { kind });
  return { kind, format: `${container}/${stream.codec_name ?? '?'}`, durationMs: Math.round(s * 1000) };
}
