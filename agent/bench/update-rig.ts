/**
 * A station installed as on a controller, for the update bench and the
 * end-to-end update test: releases built from this checkout (its dist, bin
 * and package.json; node_modules linked, not copied) into signed bundles,
 * the first one unpacked into <root>/releases with the current symlink,
 * the real agent run from <root>/current/bin/loa-agent.js by a small
 * supervisor that does what loa-agent.service does (the previous release's
 * boot check first, restart on a failing exit, stop on 0 and 78), and the
 * reference province (embedded broker, content server) on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { buildRelease, treeSchema, type BuiltRelease } from '../../province/src/release.js';
import { generateProvinceKeys } from '../src/sync/signing.js';
import { pointLink, unpackBundle } from '../src/update/releases.js';
import { LOA_ROOT } from '../src/version.js';

export interface Start {
  release: string;
  code: number | string | null;
  startedMs: number;
  endedMs?: number;
  /** What the file sink received during this run (the agent truncates it at each start). */
  sink: string;
}

export interface UpdateRig {
  dir: string;
  root: string;
  stateDir: string;
  stationId: string;
  province: Province;
  content: ContentServer;
  starts: Start[];
  /** A release of this checkout as `version`; `crash`: its agent throws at start (a broken release). */
  release(version: string, o?: { crash?: boolean }): Promise<BuiltRelease>;
  /** Stops the agent (SIGTERM: its sink file closed, then moved to its start's `sink`) and the province; once. */
  close(): Promise<void>;
}

const RESTART_SEC_MS = 1000;

export async function startUpdateRig(o: { first: string; commitAfterS: number; gapS: number; trialMaxS?: number; logLevel?: string }): Promise<UpdateRig> {
  if (!existsSync(join(LOA_ROOT, 'dist', 'agent', 'src', 'daemon', 'main.js'))) throw new Error('build first: npm run build');
  const dir = mkdtempSync(join(tmpdir(), 'loa-update-rig-'));
  const root = join(dir, 'opt-loa');
  const stateDir = join(dir, 'state');
  mkdirSync(root);
  mkdirSync(stateDir);
  const provinceKeys = generateProvinceKeys();
  const releaseKeys = generateProvinceKeys();
  const broker = await EmbeddedBroker.start();
  const content = new ContentServer();
  await content.listen();
  const province = new Province({ url: broker.url, privateKey: provinceKeys.privateKey, protocolVersion: 4 });
  await province.connect();
  province.startBeacon(5000);
  const schema = { min: 0, max: await treeSchema(LOA_ROOT) };
  const nodeModules = realpathSync(join(LOA_ROOT, 'node_modules'));

  const release = async (version: string, r: { crash?: boolean } = {}): Promise<BuiltRelease> => {
    const tree = mkdtempSync(join(dir, `tree-${version}-`));
    cpSync(join(LOA_ROOT, 'dist'), join(tree, 'dist'), { recursive: true });
    cpSync(join(LOA_ROOT, 'bin'), join(tree, 'bin'), { recursive: true });
    cpSync(join(LOA_ROOT, 'package.json'), join(tree, 'package.json'));
    symlinkSync(nodeModules, join(tree, 'node_modules'));
    if (r.crash) writeFileSync(join(tree, 'bin', 'loa-agent.js'), "throw new Error('this release is broken');\n");
    const built = await buildRelease({ tree, outDir: join(dir, 'bundles'), privateKey: releaseKeys.privateKey, version, schema });
    rmSync(tree, { recursive: true, force: true });
    return built;
  };

  // The install: the first release unpacked and made current.
  const first = await release(o.first);
  await unpackBundle(first.bundle, first.manifest.compression, root, o.first);
  await pointLink(root, 'current', o.first);

  const stationId = 'bench-station';
  const configPath = join(dir, 'config.json');
  const sinkPath = join(dir, 'sink.raw');
  writeFileSync(configPath, JSON.stringify({
    station: { id: stationId, locale: 'en' },
    paths: { state: stateDir, socket: join(dir, 'loa.sock') },
    relays: { driver: 'sim', amplifiers: [{ name: 'amp', line: 17, warmupMs: 200 }], zones: [{ name: 'north', line: 22, amplifier: 'amp' }], zoneLeadMs: 50, tailMs: 100 },
    audio: { sink: { kind: 'file', path: sinkPath }, chime: { enabled: false } },
    clock: { trustWithoutSync: true },
    log: { level: o.logLevel ?? 'error' },
    sync: { brokers: [broker.url], protocolVersion: 4, provinceKeys: [provinceKeys.publicPem], reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
    update: { root, releaseKey: releaseKeys.publicPem, commitAfterS: o.commitAfterS, gapS: o.gapS, trialMaxS: o.trialMaxS ?? 120, checkEveryS: 1, maxStarts: 3 },
  }));

  // loa-agent.service, in small: ExecStartPre (boot check of the previous release), ExecStart, Restart=on-failure.
  const starts: Start[] = [];
  let child: ChildProcess | null = null;
  let stopped = false;
  let closing: Promise<void> | undefined;
  const node = (args: string[], inherit: boolean): Promise<number | string | null> => new Promise((resolve) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', inherit ? 'inherit' : 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
    child = c;
    c.once('exit', (code, signal) => resolve(code ?? signal));
  });
  const supervised = (async () => {
    for (let n = 0; !stopped; n++) {
      const bootCheck = join(root, 'previous', 'bin', 'loa-boot-check.js');
      if (existsSync(bootCheck)) await node([bootCheck, '--config', configPath], false);
      if (stopped) break;
      const sink = join(dir, `sink-${n}.raw`);
      const start: Start = { release: realpathSync(join(root, 'current')).split('/').at(-1)!, code: null, startedMs: Date.now(), sink };
      starts.push(start);
      start.code = await node([join(root, 'current', 'bin', 'loa-agent.js'), '--config', configPath], true);
      start.endedMs = Date.now();
      if (existsSync(sinkPath)) renameSync(sinkPath, sink);
      if (stopped || start.code === 0 || start.code === 78) break;
      await new Promise((r) => setTimeout(r, RESTART_SEC_MS));
    }
  })();

  return {
    dir, root, stateDir, stationId, province, content, starts, release,
    close() {
      closing ??= (async () => {
        stopped = true;
        (child as ChildProcess | null)?.kill('SIGTERM');
        await supervised;
        await province.close();
        await content.close();
        await broker.close();
      })();
      return closing;
    },
  };
}
