import t from 'tap';
import { startEnrolment, runLoa, writeSkeleton } from './provision-fixture.js';
import { tempDir, until } from './sync-fixture.js';

// A link that comes and goes: the province down then up, and a technician who stops and runs again.

t.test('province unreachable, then reachable; cancelled, then resumed with the same code', async (t) => {
  const { service } = await startEnrolment(t);
  const url = service.url;
  await service.closeEndpoint();
  const dir = tempDir('provision-offline');
  const cfg = writeSkeleton(dir);
  const run = runLoa('--config', cfg, '--lang', 'en', 'provision', '--province', url, '--ca', service.caFile, '--no-start');
  await until(() => /cannot reach the province \(ECONNREFUSED/.test(run.out()), 20_000, 'the unreachable line');
  await service.listen();
  const p = await until(() => service.store.pending()[0], 40_000, 'pending after the province came back');
  service.approve(p.code);
  t.equal(await run.done, 0, run.err());

  const { provisionCommand } = await import('../src/cli/provision.js');
  const dir2 = tempDir('provision-resume');
  const cfg2 = writeSkeleton(dir2);
  const abort = new AbortController();
  let out1 = '';
  const first = provisionCommand({ configPath: cfg2, locale: 'en', json: false, province: url, ca: service.caFile, noStart: true, signal: abort.signal }, { stdout: { write: (s: string) => (out1 += s) }, stderr: { write: () => true } });
  const p2 = await until(() => service.store.pending().find((x) => x.code !== p.code), 20_000, 'pending');
  abort.abort();
  t.equal(await first, 130);
  t.match(out1, /Run loa provision again to resume \(same code\)/);
  // Resumed with no arguments at all: the province and its pinned CA were kept.
  const second = runLoa('--config', cfg2, '--lang', 'en', 'provision', '--no-start');
  await until(() => second.out().includes('Waiting'), 10_000, 'waiting again');
  t.match(second.out(), p2.code, 'the same code');
  service.approve(p2.code);
  t.equal(await second.done, 0, second.err());
});
