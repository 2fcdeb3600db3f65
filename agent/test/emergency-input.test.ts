/**
 * No input crashes the emergency path: blank, huge and hostile labels and
 * texts, from the CLI and from the province (signed commands through a real
 * broker), against the real daemon process. Each emergency must reach the
 * sink (its own tone, measured in the recorded PCM), the board must show it
 * cleaned (the default title for a blank label), the CLI must get its answer
 * and the agent must live on.
 */
import t from 'tap';
import { startProvince } from './province-fixture.js';
import { simStationConfig } from './daemon-fixture.js';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestTone } from '../src/audio/tones.js';
import { main } from '../src/cli/main.js';
import { cleanText } from '../src/lib/text.js';

async function loa(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** Seconds of the recorded s16le 48 kHz stereo PCM in which `freq` is the tone playing (Goertzel over 20 ms windows). */
function toneSeconds(raw: Buffer, freq: number): number {
  const n = 960;
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / 48_000);
  let windows = 0;
  for (let off = 0; off + n * 4 <= raw.length; off += n * 4) {
    let s1 = 0;
    let s2 = 0;
    let energy = 0;
    for (let i = 0; i < n; i++) {
      const x = raw.readInt16LE(off + i * 4) / 32768;
      energy += x * x;
      const s0 = x + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    // |X(f)|² against Parseval's total: a pure sine at f gives about n/2.
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if (energy > n * 1e-5 && power / (energy * n) > 0.3) windows++;
  }
  return (windows * n) / 48_000;
}

const dir = mkdtempSync(join(tmpdir(), 'loa-emergency-input-'));
const configPath = join(dir, 'config.json');
const sinkPath = join(dir, 'out.raw');

function startDaemon(): Promise<ChildProcess> {
  const child = fork(join(import.meta.dirname, 'daemon-child.ts'), ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 60_000;
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null) return reject(new Error(`daemon exited ${child.exitCode}: ${stderr}`));
      if ((await loa('--config', configPath, 'status', '--json')).code === 0) return resolve(child);
      if (Date.now() > deadline) return reject(new Error(`daemon not ready: ${stderr}`));
      setTimeout(() => void poll(), 100);
    };
    void poll();
  });
}

const json = async <T>(...args: string[]): Promise<T> => {
  const r = await loa('--config', configPath, '--json', ...args);
  if (r.code !== 0) throw new Error(`loa ${args.join(' ').slice(0, 100)} failed (${r.code}): ${r.err}${r.out}`.slice(0, 500));
  return JSON.parse(r.out) as T;
};

interface Row { requestId?: string; result: string; priority: number; label: string }
async function rowFor(requestId: string, timeoutMs = 30_000): Promise<Row> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = (await json<{ rows: Row[] }>('log', '--limit', '50')).rows.find((r) => r.requestId === requestId);
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`no play-log row for ${requestId} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Shown { source: string; item: { kind: string; title: string; text: string; instructions: string } }
async function boardShows(url: string, pred: (s: Shown) => boolean, timeoutMs = 10_000): Promise<Shown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = (await (await fetch(new URL('now', url))).json()) as Shown | null;
    if (now && pred(now)) return now;
    if (Date.now() > deadline) throw new Error(`the board did not show what was expected: ${JSON.stringify(now).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const HOSTILE = '\u202Ekhẩn\u202C\u0000\u0007\u001b[2J\u200B<script>window.x=1</script><img src=x onerror=alert(1)>\uD800 Ẩ\u0308\u200D\r\nLũ';
const cases = [
  { name: 'a blank label', label: '   ', text: ' \u200B ', instructions: '\t', title: 'Thông báo khẩn cấp' },
  { name: 'a huge (1 MB) label and text', label: 'Lũ quét '.repeat(131_072), text: 'Mưa lớn. '.repeat(116_508), instructions: 'Lên cao. '.repeat(116_508) },
  { name: 'a hostile label and text', label: HOSTILE, text: HOSTILE, instructions: HOSTILE },
];

t.test('blank, huge and hostile emergencies from the CLI and the province all air; the agent lives', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  writeFileSync(configPath, JSON.stringify(simStationConfig({ id: 'emergency-input', dir, sink: sinkPath, warmupMs: 100, zoneLeadMs: 20, tailMs: 50 }, {
    board: { port: 0 },
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  })));
  const daemon = await startDaemon();
  t.teardown(() => { daemon.kill('SIGKILL'); });
  const boardUrl = (await json<{ url: string }>('board', 'status')).url;
  for (let i = 0; i < 200 && !(await json<{ sync: { connected: boolean } }>('status')).sync.connected; i++) await new Promise((r) => setTimeout(r, 100));

  // Each emergency its own tone, so the sink tells which one aired and for how long.
  let freq = 400;
  const tone = async (name: string): Promise<{ sha: string; freq: number }> => {
    const f = (freq += 200);
    const file = await makeTestTone(join(dir, `${name}-${f}.wav`), 'ffmpeg', { durationMs: 2500, frequencyHz: f });
    return { sha: (await json<{ sha256: string }>('cache', 'import', file)).sha256, freq: f };
  };

  for (const c of cases) {
    await t.test(`from the CLI: ${c.name}`, async (t) => {
      const { sha, freq } = await tone('cli');
      const started = Date.now();
      const r = await loa('--config', configPath, '--json', 'play', sha, '--class', 'emergency', '--label', c.label, '--text', c.text, '--instructions', c.instructions);
      t.equal(r.code, 0, `the CLI got its answer: ${r.err.slice(0, 300)}`);
      t.ok(Date.now() - started < 20_000, 'and did not wait for a timeout');
      const { id } = JSON.parse(r.out) as { id: string };
      const shown = await boardShows(boardUrl, (s) => s.source === 'emergency');
      t.equal(shown.item.title, c.title ?? cleanText(c.label, 200), 'the board shows the cleaned title (the default one for a blank label)');
      t.equal(shown.item.text, cleanText(c.text, 5000, { multiline: true }));
      t.ok([...shown.item.title].length <= 200 && shown.item.text.length <= 5001, 'bounded');
      t.notMatch(shown.item.title + shown.item.text, /[\u0000-\u0009\u000B-\u001F\u202E\u200B\uD800-\uDFFF]/u, 'no control, bidi or zero-width character, no lone surrogate');
      const row = await rowFor(id);
      t.equal(row.result, 'played');
      t.equal(row.priority, 9);
      t.ok(toneSeconds(readFileSync(sinkPath), freq) >= 1, `its tone (${freq} Hz) reached the sink`);
      t.equal(daemon.exitCode, null, 'the agent lives');
    });
  }

  for (const c of cases) {
    await t.test(`from the province: ${c.name}`, async (t) => {
      const { sha, freq } = await tone('province');
      // The province's payload bound (256 KiB) keeps its texts below the CLI's megabyte.
      const fit = (s: string): string => s.slice(0, 60_000);
      const cmd = await province.send({ station: 'emergency-input' }, { action: 'play', content: sha, priority: 9, repeat: 1, label: fit(c.label), text: fit(c.text), instructions: fit(c.instructions) });
      const answer = await province.waitResponse(cmd.id);
      t.equal(answer.status, 'done', JSON.stringify(answer).slice(0, 300));
      const shown = await boardShows(boardUrl, (s) => s.source === 'emergency');
      t.equal(shown.item.title, c.title ?? cleanText(fit(c.label), 200));
      const row = await rowFor(cmd.id);
      t.equal(row.result, 'played');
      t.ok(toneSeconds(readFileSync(sinkPath), freq) >= 1, `its tone (${freq} Hz) reached the sink`);
      t.equal(daemon.exitCode, null, 'the agent lives');
    });
  }

  const status = await json<{ problems: string[] }>('status');
  t.notMatch(status.problems.join('\n'), /internal error|board could not/, 'nothing failed on the way');
  t.equal(daemon.exitCode, null);
});
