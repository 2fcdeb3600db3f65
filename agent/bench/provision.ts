/**
 * scripts/bench provision
 *
 * A blank controller (the install done: the installer's skeleton config, no
 * keys, no sync) to its first signed target applied, against the reference
 * province on loopback (HTTPS enrolment endpoint, the project's Mosquitto,
 * the content server), with the province's approval automated. Measures
 * `loa provision` (keys, code, enrolment, config written) and then the agent
 * started on the new config until it has applied the first target (one
 * programme with one real audio file downloaded). The technician's part is
 * the one command; the code read out is replaced by autoApprove.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnrolmentService } from '../../province/src/enrolment.js';
import { ContentServer } from '../../province/src/content-server.js';
import { makeTestTone } from '../src/audio/tones.js';
import { main } from '../src/cli/main.js';
import { loadConfigForStart } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { createLogger } from '../src/lib/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'loa-bench-provision-'));
const content = new ContentServer();
await content.listen();
const tone = content.add(await makeTestTone(join(dir, 'welcome.wav'), 'ffmpeg', { durationMs: 10_000 }));
const issued: number[] = [];
const service = await EnrolmentService.start({
  dir: join(dir, 'province'),
  defaultGroups: ['province'],
  autoApprove: () => ({ station: 'bench-station' }),
  firstTarget: {
    programmes: [{ id: 'welcome', name: 'Welcome', priority: 0, recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: tone.sha256, repeat: 1, gapMs: 0 }], zones: ['zone-1'], volume: 80 }],
    content: [tone],
  },
  log: (what, data) => void (what === 'issued' && issued.push(Number(data.firstTarget))),
});
const station = join(dir, 'station');
mkdirSync(station);
const configPath = join(station, 'config.json');
writeFileSync(configPath, JSON.stringify({
  station: { id: 'unprovisioned' },
  paths: { state: join(station, 'state'), socket: join(station, 'loa.sock') },
  relays: { driver: 'sim' },
  audio: { sink: { kind: 'null' }, chime: { enabled: false } },
  clock: { trustWithoutSync: true },
  log: { level: 'error' },
}));

const t0 = performance.now();
let out = '';
const code = await main(['--config', configPath, '--lang', 'en', 'provision', '--province', service.url, '--ca-fingerprint', service.caFingerprint, '--no-start'], {
  stdout: { write: (s: string) => (out += s) },
  stderr: { write: (s: string) => (out += s) },
});
if (code !== 0) throw new Error(`loa provision exited ${code}:\n${out}`);
const provisionMs = performance.now() - t0;
const agent = await startAgent(loadConfigForStart(configPath), { log: createLogger({ level: 'error' }) });
const version = issued[0];
await new Promise<void>((resolve, reject) => {
  const deadline = setTimeout(() => reject(new Error('first target not applied within 120 s')), 120_000);
  const check = setInterval(() => {
    if (agent.sync?.status().applied?.version === version) {
      clearInterval(check);
      clearTimeout(deadline);
      resolve();
    }
  }, 20);
});
const enrolMs = performance.now() - t0;
await agent.stop();
await service.close();
await content.close();
process.stdout.write(`provision (keys, enrolment, config written): ${Math.round(provisionMs)} ms; agent start to first target applied: ${Math.round(enrolMs - provisionMs)} ms\n`);
process.stdout.write(JSON.stringify({ bench: 'provision', enrol_ms: Math.round(enrolMs), provision_ms: Math.round(provisionMs), goal_ms: 60_000, met: enrolMs <= 60_000 }) + '\n');
