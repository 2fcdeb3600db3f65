import t from 'tap';
import { PassThrough } from 'node:stream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulator } from '../src/simulator.js';

// scripts/province run, driven through its own input as a person would:
// an embedded broker, two simulated stations, a target and a group command.

interface Line {
  what: string;
  station?: string;
  message?: { state?: string; applied?: number; kind?: string; body?: { status?: string; result?: { lowerBoundMs?: number } } };
  version?: number;
  error?: string;
}

t.test('the simulator publishes a target and a group command and prints what stations report', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-province-'));
  const clip = randomBytes(20_000);
  writeFileSync(join(dir, 'clip.mp3'), clip);
  const sha = createHash('sha256').update(clip).digest('hex');
  const targetFile = join(dir, 'target.json');
  writeFileSync(
    targetFile,
    JSON.stringify({ programmes: [{ id: 'morning', name: 'Morning news', recurrence: { kind: 'daily', time: '06:00' }, items: [{ content: sha }], zones: ['zone-1'] }] }),
  );
  const input = new PassThrough();
  const lines: Line[] = [];
  const waiters: Array<() => void> = [];
  const until = (pred: (l: Line[]) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; saw: ${lines.map((l) => l.what).join(' ')}`)), 30_000);
      const check = (): void => {
        if (pred(lines)) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  const done = runSimulator(['--content', dir, '--sim-stations', '2', '--groups', 'province,commune-1', '--beacon-s', '5'], {
    input,
    write: (l) => {
      lines.push(JSON.parse(l) as Line);
      waiters.splice(0).forEach((w) => w());
    },
  });
  await until((l) => l.filter((x) => x.what === 'status' && x.message?.state === 'online').length >= 2);
  input.write(`target sim-001 ${targetFile}\n`);
  await until((l) => l.some((x) => x.what === 'reported' && x.station === 'sim-001' && (x.message?.applied ?? 0) > 0));
  const published = lines.find((l) => l.what === 'published-target')!;
  t.ok(published.version, 'a version was published');
  input.write('send group:commune-1 {"action": "volume", "volume": 40}\n');
  await until((l) => l.filter((x) => x.what === 'response' && x.message?.body?.status === 'done').length >= 2);
  // The reset to the province's now: answered done with the bound before and after (on a healthy station a few ms apart).
  input.write('clock-reset station:sim-002\n');
  await until((l) => l.some((x) => x.what === 'response' && x.message?.body?.result?.lowerBoundMs !== undefined && x.message.body.status === 'done'));
  input.write('send station:sim-002 {"action":"nonsense"}\n');
  await until((l) => l.some((x) => x.what === 'error'));
  t.match(lines.find((l) => l.what === 'error')!.error, /command: command\.action|action/);
  input.write('quit\n');
  await done;
  const summary = lines.at(-1)!;
  t.equal(summary.what, 'summary');
  t.match(summary, { stations: 2, duplicatesDropped: 0, invalid: 0 });
});
