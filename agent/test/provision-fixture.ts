import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnrolmentService, type EnrolmentServiceOptions } from '../../province/src/enrolment.js';
import { ContentServer } from '../../province/src/content-server.js';
import { makeTestTone } from '../src/audio/tones.js';
import { main } from '../src/cli/main.js';
import { simStationConfig } from './daemon-fixture.js';
import { tempDir } from './sync-fixture.js';

/** The reference enrolment service (real Mosquitto, HTTPS) in a temp folder, with a first target of one real tone; closed at teardown. */
export async function startEnrolment(t: Test, o: Partial<EnrolmentServiceOptions> = {}): Promise<{ service: EnrolmentService; programmeId: string; issued: Array<{ station: string; firstTarget: number }> }> {
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const tone = content.add(await makeTestTone(join(tempDir('provision-content'), 'welcome.wav'), 'ffmpeg', { durationMs: 1000 }));
  const issued: Array<{ station: string; firstTarget: number }> = [];
  const service = await EnrolmentService.start({
    dir: tempDir('province'),
    defaultGroups: ['province'],
    firstTarget: {
      programmes: [{ id: 'welcome', name: 'Chào mừng', priority: 0, recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: tone.sha256, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 80 }],
      content: [tone],
    },
    log: (what, data) => {
      if (what === 'issued') issued.push(data as { station: string; firstTarget: number });
    },
    ...o,
  });
  t.teardown(() => service.close());
  return { service, programmeId: 'welcome', issued };
}

/** The installer's skeleton (install done, not yet enrolled): hardware only, simulated relays and a file sink. */
export function writeSkeleton(dir: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, 'config.json');
  const c = simStationConfig({ id: 'unprovisioned', dir, sink: join(dir, 'out.raw') }, extra);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

/** `loa ARGS` in-process, with its output readable while it runs. */
export function runLoa(...args: string[]): { done: Promise<number>; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const done = main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { done, out: () => out, err: () => err };
}
