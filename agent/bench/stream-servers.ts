/**
 * Real stream servers on loopback for the live-source tests
 * (agent/test/stream-fixture.ts) and the failover benchmark, with fault
 * injection (here, not in agent/test, because benchmarks are built without the tests):
 * - ToneSource: PCM made in real time by the test (a tone whose frequency,
 *   level or silence the test changes while it plays), fed to an encoder;
 * - Icecast: Debian's icecast2 as a child with a generated config on a free
 *   port. As root it refuses to run unless it can drop privileges, so the
 *   config names <changeowner> nobody/nogroup, and its folder (logs) is its
 *   own mkdtemp in the temp dir, mode 0777: nobody must reach it;
 * - feedIcecast: ffmpeg encoding a ToneSource to MP3 or AAC as an Icecast source;
 * - TcpProxy: between the server and the chain, to stall a connection that
 *   stays open, send garbage, or cut and restore the network;
 * - HlsServer: ffmpeg writing a live HLS window into a temp folder, served by
 *   node:http, whose playlist can be frozen (a playlist that stops updating);
 * - feedRtp: ffmpeg sending RTP on loopback, or to a multicast group with TTL 0:
 *   the group's packets leave by the interface its route names (lo has no
 *   MULTICAST flag) and come back to this host's members (IP_MULTICAST_LOOP),
 *   never past it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '../../province/src/mosquitto.js';

// A loopback TCP port nobody listens on: the project's one helper, shared with its Mosquitto.
export { freePort };

const RATE = 48_000;
const CHUNK_MS = 20;

/**
 * Steps of a counter heard as tones: step k (one per `periodMs`) is
 * `baseHz + k * stepHz` for `onMs`, then silence. After a reconnect the
 * listener must never hear an earlier step again.
 */
export interface StepPattern {
  baseHz: number;
  stepHz: number;
  onMs: number;
  periodMs: number;
}

/** Which step of `p` a heard frequency is. */
export function stepOf(p: StepPattern, freqHz: number): number {
  return Math.round((freqHz - p.baseHz) / p.stepHz);
}

/** A stereo s16le 48 kHz tone generated in real time; `freqHz` 0 or `levelDb` -Infinity is digital silence. */
export class ToneSource {
  freqHz: number;
  levelDb = -20;
  /** Set: the steps of a counter instead of one tone. */
  pattern: StepPattern | null = null;
  private frame = 0;
  private phase = 0;
  private timer: NodeJS.Timeout | null = null;
  private n = 0;
  private t0 = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    freqHz: number,
  ) {
    this.freqHz = freqHz;
    out.on('error', () => undefined);
  }

  start(): void {
    this.t0 = performance.now();
    this.n = 0;
    // A little ahead so the encoder never starves.
    this.write(200);
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    const due = this.t0 + 200 + this.n * CHUNK_MS;
    this.timer = setTimeout(() => {
      while (this.t0 + 200 + this.n * CHUNK_MS <= performance.now() + CHUNK_MS) this.write(CHUNK_MS);
      this.schedule();
    }, Math.max(0, due - performance.now()));
  }

  private write(ms: number): void {
    const frames = (RATE * ms) / 1000;
    const buf = Buffer.alloc(frames * 4);
    const amp = Number.isFinite(this.levelDb) ? 32767 * 10 ** (this.levelDb / 20) : 0;
    for (let f = 0; f < frames; f++, this.frame++) {
      let freq = this.freqHz;
      const p = this.pattern;
      if (p) {
        const t = (this.frame * 1000) / RATE;
        freq = t % p.periodMs < p.onMs ? p.baseHz + Math.floor(t / p.periodMs) * p.stepHz : 0;
      }
      const v = freq > 0 ? Math.round(amp * Math.sin(this.phase)) : 0;
      if (freq === 0) this.phase = 0;
      buf.writeInt16LE(v, f * 4);
      buf.writeInt16LE(v, f * 4 + 2);
      this.phase += (2 * Math.PI * freq) / RATE;
      if (this.phase > 2 * Math.PI) this.phase -= 2 * Math.PI;
    }
    if (ms === CHUNK_MS) this.n++;
    else this.n += ms / CHUNK_MS;
    this.out.write(buf);
  }
}

const PCM_IN = ['-f', 's16le', '-ar', String(RATE), '-ac', '2', '-i', 'pipe:0'];

/** An encoder process fed by a ToneSource. */
export interface Feeder {
  tone: ToneSource;
  proc: ChildProcess;
  stop(): Promise<void>;
}

function startFeeder(freqHz: number | StepPattern, outArgs: string[]): Feeder {
  const proc = spawn('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', ...PCM_IN, ...outArgs], { stdio: ['pipe', 'ignore', 'pipe'] });
  proc.stderr!.on("data", (d: Buffer) => process.env.LOA_FEED_DEBUG && process.stderr.write(d));
  const tone = new ToneSource(proc.stdin!, typeof freqHz === 'number' ? freqHz : 0);
  if (typeof freqHz !== 'number') tone.pattern = freqHz;
  tone.start();
  return {
    tone,
    proc,
    stop: async () => {
      tone.stop();
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await gone;
    },
  };
}

export interface Icecast {
  port: number;
  url(mount: string): string;
  /** An ffmpeg source on `mount` playing a tone (MP3, or AAC in ADTS). */
  feed(mount: string, freqHz: number | StepPattern, codec?: 'mp3' | 'aac'): Promise<Feeder>;
  close(): Promise<void>;
}

/** `dir` must be reachable by user nobody (a folder straight in the temp dir, mode 0777) when the tests run as root. */
export async function startIcecast(): Promise<Icecast> {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'loa-icecast-'));
  chmodSync(home, 0o777);
  const password = randomBytes(8).toString('hex');
  const config = join(home, 'icecast.xml');
  writeFileSync(
    config,
    `<icecast>
  <limits><sources>8</sources><clients>50</clients><burst-size>16384</burst-size><source-timeout>3</source-timeout></limits>
  <authentication><source-password>${password}</source-password><admin-user>admin</admin-user><admin-password>${password}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${home}</logdir><webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><errorlog>-</errorlog><loglevel>1</loglevel></logging>
  <security><chroot>0</chroot>${process.getuid?.() === 0 ? '<changeowner><user>nobody</user><group>nogroup</group></changeowner>' : ''}</security>
</icecast>
`,
  );
  const proc = spawn('icecast2', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  await waitListening(port, 5000, () => (proc.exitCode !== null ? `icecast2 exited: ${stderr}` : null));
  proc.once('exit', (code) => code !== null && process.env.LOA_FEED_DEBUG && process.stderr.write(`icecast2 exited ${code}: ${stderr}\n`));
  const feeders: Feeder[] = [];
  return {
    port,
    url: (mount) => `http://127.0.0.1:${port}/${mount}`,
    async feed(mount, freqHz, codec = 'mp3') {
      const enc = codec === 'mp3' ? ['-c:a', 'libmp3lame', '-b:a', '128k', '-content_type', 'audio/mpeg', '-f', 'mp3'] : ['-c:a', 'aac', '-b:a', '96k', '-content_type', 'audio/aac', '-f', 'adts'];
      const f = startFeeder(freqHz, [...enc, `icecast://source:${password}@127.0.0.1:${port}/${mount}`]);
      feeders.push(f);
      await waitMount(port, mount, 5000);
      return f;
    },
    async close() {
      await Promise.all(feeders.map((f) => f.stop()));
      const gone = new Promise<void>((r) => (proc.exitCode !== null ? r() : proc.once('exit', () => r())));
      proc.kill('SIGKILL');
      await gone;
    },
  };
}

async function waitListening(port: number, timeoutMs: number, dead: () => string | null): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = dead();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until Icecast lists the mount (the source connected). */
async function waitMount(port: number, mount: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const res = await fetch(`http://127.0.0.1:${port}/status-json.xsl`).catch(() => null);
    const text = res ? await res.text() : '';
    if (text.includes(`/${mount}"`)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`icecast: mount /${mount} did not come up within ${timeoutMs} ms`);
}

export type ProxyMode = 'pass' | 'stall' | 'garbage' | 'cut';

/**
 * A TCP proxy to `target`: 'pass' forwards; 'stall' keeps every connection
 * open and forwards nothing more; 'garbage' sends random bytes instead of the
 * server's; 'cut' closes every connection and refuses new ones (until 'pass').
 */
export class TcpProxy {
  mode: ProxyMode = 'pass';
  port = 0;
  private server: Server | null = null;
  private sockets = new Set<Socket>();

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.mode === 'cut') {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (this.mode === 'pass') client.write(d);
        else if (this.mode === 'garbage') client.write(randomBytes(d.length));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'cut') for (const s of this.sockets) s.destroy();
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}/${path}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/**
 * A live HLS stream: ffmpeg cuts a ToneSource into `segmentS` segments with
 * a sliding window in `dir`; node:http serves them. `freeze()` keeps serving
 * the playlist as it was (the stream stops updating); `thaw()` resumes.
 */
export class HlsServer {
  port = 0;
  feeder: Feeder | null = null;
  private server: HttpServer | null = null;
  private frozen: string | null = null;

  constructor(
    private readonly dir: string,
    private readonly freqHz: number | StepPattern,
    private readonly codec: 'aac' | 'mp3' = 'aac',
    private readonly segmentS = 1,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/live.m3u8`;
  }

  async start(): Promise<this> {
    mkdirSync(this.dir, { recursive: true });
    const enc = this.codec === 'aac' ? ['-c:a', 'aac', '-b:a', '96k'] : ['-c:a', 'libmp3lame', '-b:a', '128k'];
    const ext = this.codec === 'aac' ? 'ts' : 'ts';
    this.feeder = startFeeder(this.freqHz, [
      ...enc,
      '-f', 'hls', '-hls_time', String(this.segmentS), '-hls_list_size', '5', '-hls_flags', 'delete_segments+omit_endlist',
      '-hls_segment_filename', join(this.dir, `seg%05d.${ext}`), join(this.dir, 'live.m3u8'),
    ]);
    this.server = createHttpServer((req, res) => {
      const name = (req.url ?? '/').replace(/^\//, '').replace(/\?.*$/, '');
      if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
      const path = join(this.dir, name);
      if (name === 'live.m3u8' && this.frozen !== null) return void res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(this.frozen);
      if (!existsSync(path)) return void res.writeHead(404).end();
      try {
        res.writeHead(200, { 'content-type': name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' }).end(readFileSync(path));
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    // Wait for a window of at least three segments.
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const pl = existsSync(join(this.dir, 'live.m3u8')) ? readFileSync(join(this.dir, 'live.m3u8'), 'utf8') : '';
      if ((pl.match(/#EXTINF/g) ?? []).length >= 3) return this;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('hls: ffmpeg made no playlist');
  }

  freeze(): void {
    this.frozen = readFileSync(join(this.dir, 'live.m3u8'), 'utf8');
  }

  thaw(): void {
    this.frozen = null;
  }

  async close(): Promise<void> {
    await this.feeder?.stop();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** ffmpeg sending a tone as RTP to `host`:`port` (127.0.0.1, or a multicast group): Opus (with an SDP, returned) or MP3 (static payload, rtp:// is enough). */
export async function feedRtp(port: number, freqHz: number | StepPattern, codec: 'opus' | 'mp3', dir: string, host = '127.0.0.1'): Promise<Feeder & { sdp: string | null }> {
  const sdpFile = join(dir, `rtp-${port}.sdp`);
  const enc = codec === 'opus' ? ['-c:a', 'libopus', '-b:a', '64k', '-sdp_file', sdpFile] : ['-c:a', 'libmp3lame', '-b:a', '128k'];
  const f = startFeeder(freqHz, [...enc, '-f', 'rtp', `rtp://${host}:${port}${host === '127.0.0.1' ? '' : '?ttl=0'}`]);
  if (codec !== 'opus') return { ...f, sdp: null };
  const until = Date.now() + 5000;
  while (Date.now() < until && !existsSync(sdpFile)) await new Promise((r) => setTimeout(r, 50));
  return { ...f, sdp: readFileSync(sdpFile, 'utf8') };
}

