/**
 * An alert on the board and the speakers by the same lifecycle: in real
 * headless Chromium the emergency screen shows the alert's headline,
 * description, instruction, sender and expiry while it is active, and
 * clears at its expiry, when its audio (still playing) stops too. Proven by
 * a screenshot's pixels, the page's text, the sink and the relay journal.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PacedSink } from '../src/audio/sink.js';
import { silentLogger } from '../src/lib/logger.js';
import { ContentServer } from '../../province/src/content-server.js';
import { startStation } from './station-fixture.js';
import { ToneTracker, joinedTones, tempDir } from './audio-fixture.js';
import { launchBrowser } from './chromium-fixture.js';
import { until } from './sync-fixture.js';
import { capXml, wholeSecond } from './alerts-fixture.js';

const ARTIFACTS = join(process.cwd(), 'artifacts', 'board');

/** Share of a screenshot's pixels that are the emergency red (#b00000, within a margin). */
function redShare(png: Buffer): number {
  const rgb = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'png_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { input: png, maxBuffer: 32 << 20 });
  let red = 0;
  for (let i = 0; i + 2 < rgb.length; i += 3) if (Math.abs(rgb[i]! - 0xb0) < 24 && rgb[i + 1]! < 40 && rgb[i + 2]! < 40) red++;
  return red / (rgb.length / 3);
}

/** Share of white pixels (the text) in a screenshot. */
function whiteShare(png: Buffer): number {
  const gray = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'png_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { input: png, maxBuffer: 16 << 20 });
  return gray.filter((v) => v > 220).length / gray.length;
}

t.test('the board shows the active alert, headline to expiry, and clears at expiry with the speakers', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const sink = new PacedSink({}, silentLogger());
  const tracker = new ToneTracker({ silenceMs: 4 });
  sink.onPlayed((period, atMs) => tracker.feed(period, atMs));
  const s = await startStation({ board: { port: 0 }, alerts: { chime: false } }, undefined, { sink });
  t.teardown(() => s.stop());
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const file = join(tempDir('alerts-board'), 'flood.wav');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=770:d=60:sample_rate=16000', '-af', 'pan=stereo|c0=c0|c1=c0', file]);
  const uri = content.add(file, 'flood.wav').url;

  const browser = await launchBrowser(join(tempDir('alerts-board-profile'), 'p'), { width: 960, height: 540 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(s.agent.board!.server.url);
  await page.waitForFunction(() => document.querySelector('.page') !== null);
  t.ok(redShare(await page.screenshot()) < 0.01, 'no alert, no red screen');

  const now = wholeSecond(Date.now());
  const expiresMs = now + 14_000;
  const headline = 'Lũ quét suối Nậm Na';
  const r = await s.agent.alerts.receiveCap(capXml({ identifier: 'BOARD-1', sentMs: now - 1000, expiresMs, headline, description: 'Nước dâng nhanh.', instruction: 'Lên đồi ngay.', resources: [{ uri, file }] }), { origin: 'cap-command', via: 'test' });
  t.equal(r.result?.state, 'active');
  await page.waitForFunction(() => document.body.classList.contains('emergency'), undefined, { timeout: 15_000 });
  const shot = await page.screenshot({ path: join(ARTIFACTS, 'alert-active.png') });
  t.ok(redShare(shot) > 0.4, `the emergency screen (${redShare(shot).toFixed(2)} red)`);
  t.ok(whiteShare(shot) > 0.01, `with its text drawn (${whiteShare(shot).toFixed(3)} white)`);
  const title = await page.locator('.title').screenshot();
  t.ok(whiteShare(title) > 0.02, 'the headline is drawn on screen, not only in the DOM');
  const text = await page.evaluate(() => document.body.innerText);
  t.match(text, new RegExp(headline, 'i'), 'the headline');
  t.match(text, /Nước dâng nhanh/, 'the description');
  t.match(text, /Lên đồi ngay/, 'the instruction');
  t.match(text, /Ban Chỉ huy Phòng chống thiên tai/, 'the sender');
  t.match(text, /until/, 'and the expiry');
  await until(() => s.agent.conductor.nowPlaying()?.priority === 9, 20_000, 'the alert on air');

  // Expiry: the lifecycle's wake-up ends it on the speakers and the board alike.
  await page.waitForFunction(() => !document.body.classList.contains('emergency'), undefined, { timeout: expiresMs - Date.now() + 10_000 });
  const clearedAt = Date.now();
  t.ok(clearedAt >= expiresMs - 200, `the board cleared at expiry, not before (${clearedAt - expiresMs} ms)`);
  await new Promise((r) => setTimeout(r, 1000));
  const after = await page.screenshot({ path: join(ARTIFACTS, 'alert-expired.png') });
  t.ok(redShare(after) < 0.01, 'the red screen is gone');
  t.notMatch(await page.evaluate(() => document.body.innerText), new RegExp(headline, 'i'), 'and so is the headline');
  const tones = joinedTones(tracker.finish(), 770, 300);
  const last = tones.at(-1)!;
  t.ok(last.endMs < expiresMs + 3000 && last.endMs > expiresMs - 2000, `the audio stopped at expiry too (${Math.round(last.endMs - expiresMs)} ms)`);
  t.ok(s.switches().filter((x) => x.on).length > 0 && s.switches().at(-1)!.on === false, 'and its relays went off');
});
