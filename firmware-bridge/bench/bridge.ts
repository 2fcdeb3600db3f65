/**
 * scripts/bench bridge: request round trip and sustained frame rate over a
 * socat pseudo-terminal pair, the simulated microcontroller in its own
 * process (as the real one is its own chip).
 *
 * A pty does not pace bytes at the baud rate: the round trip measured here
 * is the software's share (both processes, the kernel's tty layer, socat),
 * and `wire_ms` is what a real 115200-baud line adds on top (10 bits per
 * byte, request plus response). Goal: rtt within 2 ms of wire time, i.e.
 * software overhead under 2 ms. Then the line is made to corrupt 10 % of
 * its bytes both ways: how long a fresh client takes to open it, and how
 * many relay writes read back their level (goal: all of them).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../agent/src/lib/logger.js';
import { BridgeClient } from '../src/client/client.js';
import { encodeFrame } from '../src/protocol/frame.js';
import { encodeBitmap, encodeStatus, Req, responseType } from '../src/protocol/messages.js';
import { startPtyPair } from '../src/simulator/pty.js';

const BAUD = 115200;
const ROUND_TRIPS = Number(process.env.LOA_BENCH_RTT ?? 3000);
const SUSTAIN_MS = Number(process.env.LOA_BENCH_SUSTAIN_MS ?? 5000);
const NOISY_WRITES = Number(process.env.LOA_BENCH_NOISY_WRITES ?? 100);

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const pty = await startPtyPair();
  const simMain = join(dirname(fileURLToPath(import.meta.url)), '../src/simulator/main.js');
  const sim = spawn(process.execPath, [simMain, '--link', pty.mcuPath], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, LOA_LOG_LEVEL: 'warn' } });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).once('line', () => resolve());
    sim.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const client = new BridgeClient({ path: pty.hostPath, log: silentLogger(), baudRate: BAUD });
  let noisy: BridgeClient | null = null;
  try {
    await ready;
    await client.open(10_000);

    // Round trip: one PING at a time, the heartbeat's own request.
    for (let i = 0; i < 200; i++) await client.status();
    const rtts: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const t0 = performance.now();
      await client.status();
      rtts.push(performance.now() - t0);
    }
    rtts.sort((a, b) => a - b);
    const reqBytes = encodeFrame({ type: Req.PING, seq: 1, payload: new Uint8Array(0) }).length;
    const respBytes = encodeFrame({
      type: responseType(Req.PING),
      seq: 1,
      payload: encodeStatus({ bootId: 0x12345678, uptimeMs: 1, relays: 1, inputs: 1, faults: 0, watchdogEnabled: false, watchdogRemainingMs: 0 }),
    }).length;
    const wireMs = ((reqBytes + respBytes) * 10 * 1000) / BAUD;

    // Sustained: as many requests outstanding as the microcontroller's window allows.
    const window = client.info!.window;
    const retriesBefore = client.stats.retries;
    const framesBefore = client.stats.decoder.frames;
    let exchanges = 0;
    const start = performance.now();
    const end = start + SUSTAIN_MS;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (performance.now() < end) {
          await client.readRelays();
          exchanges++;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const framesPerS = (exchanges * 2) / seconds;
    // The line is full duplex: the longer direction limits it.
    const relayReq = encodeFrame({ type: Req.RELAY_GET, seq: 1, payload: new Uint8Array(0) }).length;
    const relayResp = encodeFrame({ type: responseType(Req.RELAY_GET), seq: 1, payload: encodeBitmap(0x0101) }).length;
    const lineFramesPerS = (2 * BAUD) / 10 / Math.max(relayReq, relayResp);
    console.log(
      `round trip (PING, ${reqBytes}+${respBytes} bytes on the wire) over ${ROUND_TRIPS}: p50 ${r3(pct(rtts, 50))} ms, p90 ${r3(pct(rtts, 90))} ms, p99 ${r3(pct(rtts, 99))} ms, max ${r3(rtts[rtts.length - 1]!)} ms`,
    );
    console.log(`wire time at ${BAUD} baud (10 bits/byte): ${r3(wireMs)} ms; a pty does not pace bytes, so a real line adds this to the round trip`);
    console.log(
      `sustained, window ${window}: ${exchanges} exchanges in ${seconds.toFixed(1)} s = ${Math.round(exchanges / seconds)} requests/s, ${Math.round(framesPerS)} frames/s both directions (decoded ${client.stats.decoder.frames - framesBefore}, retries ${client.stats.retries - retriesBefore}); a real ${BAUD}-baud line carries at most ${Math.round(lineFramesPerS)} such frames/s (${relayReq}+${relayResp} bytes)`,
    );

    // 10 % of bytes corrupted both ways: a fresh client opens the line, then relay writes, each read back.
    await client.close();
    sim.stdin!.write('noise 0.1\n');
    await new Promise((r) => setTimeout(r, 200));
    noisy = new BridgeClient({ path: pty.hostPath, log: silentLogger(), baudRate: BAUD });
    const openT0 = performance.now();
    await noisy.open(120_000);
    const openMs = performance.now() - openT0;
    const writes: number[] = [];
    let writesOk = 0;
    for (let i = 0; i < NOISY_WRITES; i++) {
      const t0 = performance.now();
      const level = (i % 2) as 0 | 1;
      const ok = await noisy.setRelay(1, level).then((l) => ((l >> 1) & 1) === level, () => false);
      writes.push(performance.now() - t0);
      if (ok) writesOk++;
    }
    writes.sort((a, b) => a - b);
    console.error(`10 % byte noise: opened in ${Math.round(openMs)} ms; ${writesOk}/${NOISY_WRITES} relay writes read back their level, p50 ${r3(pct(writes, 50))} ms, p99 ${r3(pct(writes, 99))} ms; one attempt in ${(noisy.lineEstimate.sent / noisy.lineEstimate.answered).toFixed(1)} answered`);
    console.log(JSON.stringify({
      bench: 'bridge', rtt_p50_ms: r3(pct(rtts, 50)), rtt_p99_ms: r3(pct(rtts, 99)), wire_ms: r3(wireMs), frames_per_s: Math.round(framesPerS),
      noise10_open_ms: Math.round(openMs), noise10_writes_ok: writesOk, noise10_writes: NOISY_WRITES, noise10_write_p50_ms: r3(pct(writes, 50)), noise10_write_p99_ms: r3(pct(writes, 99)),
    }));
  } finally {
    await noisy?.close();
    await client.close();
    sim.kill('SIGTERM');
    await pty.close();
  }
}

main().catch((err: Error) => {
  console.error(`bench bridge: ${err.message}`);
  process.exit(1);
});
