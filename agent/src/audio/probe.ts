import { execFile } from 'node:child_process';

export interface ProbeResult {
  /** Container and codec, e.g. "mp3/mp3", "ogg/opus", "mov,mp4,m4a,3gp,3g2,mj2/aac". */
  format: string;
  durationMs: number;
}

/**
 * Checks with ffprobe that a file is audio loa can play, and reads its
 * duration. Rejects with what is wrong in words an operator can act on.
 */
export function probeAudio(file: string, ffprobePath = 'ffprobe'): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-select_streams', 'a', file];
  return new Promise((resolve, reject) => {
    execFile(ffprobePath, args, { maxBuffer: 4 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(`cannot run ${ffprobePath}: not installed?`));
      const lastErr = stderr.trim().split('\n').filter(Boolean).at(-1);
      if (err) return reject(new Error(lastErr ?? `ffprobe failed: ${err.message}`));
      let doc: { streams?: Array<{ codec_name?: string; duration?: string }>; format?: { format_name?: string; duration?: string } };
      try {
        doc = JSON.parse(stdout) as typeof doc;
      } catch {
        return reject(new Error('ffprobe printed no readable description'));
      }
      const stream = doc.streams?.[0];
      if (!stream) return reject(new Error('no audio stream in the file'));
      const seconds = Number(stream.duration ?? doc.format?.duration);
      if (!Number.isFinite(seconds) || seconds <= 0) return reject(new Error('the audio has no duration (empty or unreadable)'));
      resolve({ format: `${doc.format?.format_name ?? '?'}/${stream.codec_name ?? '?'}`, durationMs: Math.round(seconds * 1000) });
    });
  });
}
