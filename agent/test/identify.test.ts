import t from 'tap';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacedSink } from '../src/audio/sink.js';
import { identifyTonePcm, IDENTIFY_TONE } from '../src/daemon/technician.js';
import { silentLogger } from '../src/lib/logger.js';
import { isTone, toneSpans } from './audio-fixture.js';
import { readFileSync } from 'node:fs';

t.test('the identify tone, through a paced file sink: three short 1 kHz beeps', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'loa-beep-')), 'monitor.raw');
  const sink = new PacedSink({ path }, silentLogger());
  await sink.open();
  await sink.write(identifyTonePcm());
  await sink.drain();
  await sink.close();
  t.ok(statSync(path).size >= identifyTonePcm().length);
  const spans = toneSpans(readFileSync(path), { silenceMs: 20 });
  t.equal(spans.length, IDENTIFY_TONE.beeps, JSON.stringify(spans));
  for (const s of spans) {
    t.ok(isTone(s, IDENTIFY_TONE.frequencyHz), `${s.freqHz.toFixed(0)} Hz: the 1 kHz beep`);
    t.ok(Math.abs(s.durationMs - IDENTIFY_TONE.beepMs) <= 10, `${s.durationMs.toFixed(0)} ms long`);
  }
  const gaps = spans.slice(1).map((s, i) => s.startMs - spans[i]!.startMs);
  for (const g of gaps) t.ok(Math.abs(g - (IDENTIFY_TONE.beepMs + IDENTIFY_TONE.gapMs)) <= 10, `a beep every ${g.toFixed(0)} ms`);
});
