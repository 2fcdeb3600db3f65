import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startEnrolment, runLoa, writeSkeleton } from './provision-fixture.js';
import { tempDir, until } from './sync-fixture.js';
import { loaJson, until as untilAsync } from './daemon-fixture.js';
import { loadConfigForStart, parseConfig } from '../src/config/load.js';
import { startAgent } from '../src/daemon/agent.js';
import { silentLogger } from '../src/lib/logger.js';

// Blank controller (installer skeleton) -> loa provision -> the operator
// approves the code -> config 0600 -> the agent starts on it and applies the
// province's first signed target, over the project's Mosquitto (TLS, passwords, ACL).

t.test('enrolment by code, end to end', async (t) => {
  const { service, issued } = await startEnrolment(t);
  const dir = tempDir('provision-station');
  const configPath = writeSkeleton(dir);
  const run = runLoa('--config', configPath, '--lang', 'en', 'provision', '--province', service.url, '--ca', service.caFile, '--no-start');
  const pending = await until(() => service.store.pending()[0], 20_000, 'the station to ask');
  await until(() => run.out().includes('Waiting for approval'), 5000, 'the waiting line');
  t.match(run.out(), pending.code, 'the terminal shows the code the province sees');
  for (const line of run.out().split('\n')) t.ok([...line].length <= 80, `fits 80 columns: ${line}`);
  t.throws(() => service.approve('ZZZZ-ZZZZ'), /no station waits with code ZZZZ-ZZZZ \(waiting: /, 'a wrong code approves nothing');
  t.throws(() => service.approve('xyz'), /"xyz" is not an enrolment code/);
  t.equal(service.store.pending().length, 1, 'still waiting after a wrong code');
  service.approve(pending.code.toLowerCase(), { station: 'xa-tan-lap', groups: ['province', 'huyen-a'], zones: [{ name: 'north', label: 'Thôn Bắc' }] });
  t.equal(await run.done, 0, run.err());
  t.match(run.out(), /Approved: station xa-tan-lap/);

  const st = statSync(configPath);
  t.equal(st.mode & 0o777, 0o600, 'config is 0600');
  t.same(readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp file left beside it');
  const config = parseConfig(JSON.parse(readFileSync(configPath, 'utf8')));
  t.equal(config.station.id, 'xa-tan-lap');
  t.same(config.sync?.groups, ['province', 'huyen-a']);
  t.same(config.sync?.brokers, [service.brokerUrl]);
  t.equal(config.relays.zones[0]?.label, 'Thôn Bắc');
  t.equal(config.relays.zones[0]?.line, 22, 'the wired line kept');
  t.equal(config.update?.releaseKey?.length, 44, 'the release key is pinned (32 bytes, base64)');
  for (const f of [config.sync!.passwordFile!, config.sync!.tls.caFile!, join(config.paths.state, 'identity', 'station.key')]) t.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
  t.notOk(readFileSync(configPath, 'utf8').includes(readFileSync(config.sync!.passwordFile!, 'utf8').trim()), 'the password is not in the config');

  // The agent as systemd would start it, on the file just written (in-process: the machine is shared).
  const agent = await startAgent(loadConfigForStart(configPath), { log: silentLogger() });
  t.teardown(() => agent.stop());
  const version = issued.find((i) => i.station === 'xa-tan-lap')!.firstTarget;
  const status = await untilAsync('the first target applied', async () => {
    const s = await loaJson<{ sync: { connected: boolean; applied?: { version: number } } }>(configPath, 'status');
    return s.sync.applied?.version === version ? s : undefined;
  }, 60_000);
  t.equal(status.sync.connected, true, 'connected with the issued credentials');
  const schedule = await loaJson<unknown>(configPath, 'schedule');
  t.match(JSON.stringify(schedule), /Chào mừng/, "the first target's programme is in the schedule");
});
