/**
 * A microphone for tests and benchmarks on a machine without a sound card:
 * an ALSA PCM of type `file` whose `infile` is a FIFO (over a null slave),
 * so `arecord -D mic` reads what this feeder writes, in real time. The
 * feeder writes silence in 10 ms chunks on a drift-free schedule and a
 * tone when asked, and says the wall-clock instant its first sample was
 * written. When arecord closes the FIFO the feeder waits for the next one.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { wallClockMs } from '../src/audio/clock.js';

const CHUNK_MS = 10;
const FRAMES = (48_000 * CHUNK_MS) / 1000;

export interface Mic {
  /** The ALSA device name to configure (audio.capture.device). */
  device: string;
  /** Set in process.env.ALSA_CONFIG_PATH for arecord (and children) to find it. */
  alsaConfigPath: string;
  /** Queues `ms` of a sine at `freqHz` (amplitude 0..32767); resolves with the wall-clock instant its first sample entered the FIFO. */
  tone(freqHz: number, ms: number, amplitude?: number): Promise<number>;
  /** Whether a capture has the FIFO open now. */
  readonly open: boolean;
  close(): void;
}

export function startMic(dir: string, device = 'mic'): Mic {
  const fifo = join(dir, `${device}.fifo`);
  execFileSync('mkfifo', [fifo]);
  const alsaConfigPath = join(dir, 'asound.conf');
  writeFileSync(alsaConfigPath, `pcm.${device} {\n  type file\n  slave.pcm { type null }\n  file "/dev/null"\n  infile "${fifo}"\n  format "raw"\n}\n`);
  /** The FIFO's write end while a capture reads it. Non-blocking: no open or write ever waits in libuv's pool. */
  let fd: number | null = null;
  let closed = false;
  let queue: Array<{ freq: number; frames: number; amplitude: number; done: number; started: (ms: number) => void }> = [];
  let phase = 0;
  let t0 = 0;
  let n = 0;
  let timer: NodeJS.Timeout | null = null;

  /** Polls for a reader: opening the write end without one fails with ENXIO. */
  const connect = (): void => {
    timer = null;
    if (closed) return;
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      timer = setTimeout(connect, 10);
      return;
    }
    t0 = performance.now();
    n = 0;
    tick();
  };

  const disconnect = (): void => {
    // The capture closed the device: what was being said meanwhile is not heard by anyone.
    queue = [];
    phase = 0;
    if (fd !== null) closeSync(fd);
    fd = null;
  };

  const chunk = (): Buffer => {
    const b = Buffer.alloc(FRAMES * 4);
    const head = queue[0];
    if (!head) return b;
    if (head.done === 0) head.started(wallClockMs());
    const frames = Math.min(FRAMES, head.frames - head.done);
    for (let i = 0; i < frames; i++) {
      const x = Math.round(head.amplitude * Math.sin(phase));
      phase += (2 * Math.PI * head.freq) / 48_000;
      b.writeInt16LE(x, i * 4);
      b.writeInt16LE(x, i * 4 + 2);
    }
    head.done += frames;
    if (head.done >= head.frames) {
      queue.shift();
      phase = 0;
    }
    return b;
  };

  const tick = (): void => {
    timer = null;
    if (fd === null || closed) return;
    const now = performance.now();
    // Real time, no faster: the FIFO must not fill ahead of the capture.
    while (t0 + n * CHUNK_MS <= now) {
      const pcm = chunk();
      n++;
      try {
        writeSync(fd, pcm);
      } catch (err) {
        // EAGAIN: the capture is not reading (an overrun): this chunk is lost, as a card loses it.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        disconnect();
        timer = setTimeout(connect, 10);
        return;
      }
    }
    timer = setTimeout(tick, Math.max(0, t0 + n * CHUNK_MS - performance.now()));
  };

  connect();
  return {
    device,
    alsaConfigPath,
    tone(freq, ms, amplitude = 12_000) {
      return new Promise((started) => queue.push({ freq, frames: Math.round((ms * 48_000) / 1000), amplitude, done: 0, started }));
    },
    get open() {
      return fd !== null;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      disconnect();
    },
  };
}

