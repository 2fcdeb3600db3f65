import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { EmbeddedBroker } from './embedded-broker.js';
import { ContentServer } from './content-server.js';
import { Province, type AnyAddress } from './province.js';
import { generateProvinceKeys, loadPrivateKey } from '../../agent/src/sync/signing.js';
import { CommandActionSchema, StationSettingsSchema, ZoneSettingSchema } from '../../agent/src/sync/protocol.js';
import { ProgrammeSchema, describeIssues } from '../../agent/src/domain/schemas.js';
import { itemContents } from '../../agent/src/domain/types.js';
import { renderJsonSchemas } from '../../agent/src/sync/json-schemas.js';
import { migrate } from '../../agent/src/store/database.js';
import { SyncSchema } from '../../agent/src/config/schema.js';
import { SyncClient } from '../../agent/src/sync/client.js';
import { SimulatedStation } from '../../agent/src/sync/sim-station.js';
import { createLogger } from '../../agent/src/lib/logger.js';
import type { ContentEntry } from '../../agent/src/sync/target.js';
import { rollout } from './rollout.js';
import { buildRelease } from './release.js';

/**
 * The provincial simulator behind scripts/province (province/src/main.ts). Starts an embedded broker (or
 * connects to one), serves content over HTTP, publishes signed targets and
 * commands, and prints one JSON line per thing it sees from stations.
 */

export const USAGE = `usage:
  scripts/province keygen DIR            write DIR/province.key (private, 0600) and DIR/province.pub
  scripts/province schemas DIR           write the protocol's JSON Schemas into DIR
  scripts/province release --key FILE [--tree DIR] [--out DIR] [--version V] [--schema MIN-MAX]
                                         build and sign a release bundle from the checkout (default: this one):
                                         DIR/loa-V.tar.zst (or .gz) and DIR/loa-V.manifest.json (signed by the release key;
                                         make one with keygen, pin its .pub in the stations' update.releaseKey)
  scripts/province run [options]         run the simulator; then type lines on stdin:
      target STATION FILE.json             publish a target: {"programmes":[...],"zones"?:[...],"settings"?:{...}}
                                           (content is every served file a programme names, by SHA-256)
      send station:ID|group:NAME JSON [TTL_S]   sign and send a command, e.g. {"action":"stop"}
      rollout MANIFEST BUNDLE [THRESHOLD]  offer a release to every station seen, 1 %, 5 %, 25 %, 100 %, stopping when a
                                           stage's failure (rollback) rate is above THRESHOLD (default 0.1)
      report STATION [FROM TO]             ask a station for its yearly report (days YYYY-MM-DD; default: its reporting year)
      clock-reset station:ID|group:NAME    bring the stations' bound on the province clock down to this clock's now
                                           (after a wrongly dated signed time raised it: docs/protocol.md)
      content                              list served content (name, sha256)
      stations                             print what each station last reported
      quit
    options:
      --broker URL          connect to this broker (default: start an embedded aedes broker, MQTT 3.1.1)
      --port N              embedded broker port (default: any free one)
      --username U --password P --ca FILE   credentials for --broker
      --key FILE            province private key (default: a new key, public half printed)
      --content DIR         serve the files of DIR over HTTP
      --http-port N         content server port (default: any free one)
      --sim-stations N      also run N simulated stations in this process (real sync code)
      --groups a,b          groups of the simulated stations (default: province)
      --beacon-s N          signed time beacon period (default 30)
      --sim-update-failures P   fraction of simulated stations whose update rolls back (default 0)
      --for S               exit after S seconds (default: run until "quit" or end of input)`;

export interface SimulatorIo {
  /** Command lines (target, send, content, stations, quit). */
  input: NodeJS.ReadableStream;
  /** One JSON object per call. */
  write(line: string): void;
  /** Stop on SIGINT/SIGTERM too (the command, not tests). */
  signals?: boolean;
}

let write: (line: string) => void = (line) => process.stdout.write(line);

function out(what: string, data: Record<string, unknown>): void {
  write(JSON.stringify({ at: new Date().toISOString(), what, ...data }) + '\n');
}

export async function keygen(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const k = generateProvinceKeys();
  writeFileSync(join(dir, 'province.key'), k.privatePem, { mode: 0o600 });
  chmodSync(join(dir, 'province.key'), 0o600);
  writeFileSync(join(dir, 'province.pub'), k.publicPem);
  out('keygen', { privateKey: join(dir, 'province.key'), publicKey: join(dir, 'province.pub') });
}

export function schemas(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of renderJsonSchemas()) writeFileSync(join(dir, name), text);
  out('schemas', { dir, files: [...renderJsonSchemas().keys()] });
}

/** scripts/province release: a signed bundle from a checkout. */
export async function release(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { key: { type: 'string' }, tree: { type: 'string' }, out: { type: 'string' }, version: { type: 'string' }, schema: { type: 'string' } } });
  if (!values.key) throw new Error('release needs --key FILE (the release private key; scripts/province keygen DIR makes one)');
  const schema = values.schema ? /^(\d+)-(\d+)$/.exec(values.schema) : null;
  if (values.schema && !schema) throw new Error(`--schema "${values.schema}": use MIN-MAX, e.g. 0-9`);
  const built = await buildRelease({
    tree: resolve(values.tree ?? '.'),
    outDir: resolve(values.out ?? 'releases'),
    privateKey: loadPrivateKey(readFileSync(values.key, 'utf8')),
    ...(values.version ? { version: values.version } : {}),
    ...(schema ? { schema: { min: Number(schema[1]), max: Number(schema[2]) } } : {}),
  });
  out('release', { bundle: built.bundle, manifest: built.manifestFile, version: built.manifest.version, sha256: built.manifest.sha256, bytes: built.manifest.bytes, schema: built.manifest.schema });
}

const TargetFileSchema = z.strictObject({
  programmes: z.array(ProgrammeSchema),
  zones: z.array(ZoneSettingSchema).optional(),
  settings: StationSettingsSchema.optional(),
});

export async function runSimulator(argv: string[], io: SimulatorIo): Promise<void> {
  write = io.write;
  const { values } = parseArgs({
    args: argv,
    options: {
      broker: { type: 'string' },
      port: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      ca: { type: 'string' },
      key: { type: 'string' },
      content: { type: 'string' },
      'http-port': { type: 'string' },
      'sim-stations': { type: 'string' },
      groups: { type: 'string' },
      'beacon-s': { type: 'string' },
      for: { type: 'string' },
      'sim-update-failures': { type: 'string' },
    },
  });
  const keys = values.key ? { privateKey: loadPrivateKey(readFileSync(values.key, 'utf8')), publicPem: '' } : generateProvinceKeys();
  if (!values.key) out('key', { note: 'new province key for this run; pin this public key in the stations', publicKey: keys.publicPem });

  const embedded = values.broker ? undefined : await EmbeddedBroker.start(values.port ? Number(values.port) : 0);
  const url = values.broker ?? embedded!.url;
  const protocolVersion = embedded ? 4 : 5;
  if (embedded) out('broker', { embedded: true, url, note: 'aedes, MQTT 3.1.1, no TLS or ACL: for demos only' });

  const content = new ContentServer();
  await content.listen(values['http-port'] ? Number(values['http-port']) : 0);
  const served = new Map<string, ContentEntry>();
  if (values.content) {
    for (const f of readdirSync(values.content)) {
      const p = join(values.content, f);
      if (statSync(p).isFile()) {
        const e = content.add(p);
        served.set(e.sha256, e);
      }
    }
  }
  out('content', { url: content.urlFor('').replace(/\/$/, ''), files: [...served.values()].map((e) => ({ name: e.name, sha256: e.sha256, bytes: e.bytes })) });

  const province = new Province({
    url,
    privateKey: keys.privateKey,
    protocolVersion,
    ...(values.username ? { username: values.username } : {}),
    ...(values.password ? { password: values.password } : {}),
    ...(values.ca ? { ca: readFileSync(values.ca) } : {}),
  });
  await province.connect();
  province.startBeacon(Number(values['beacon-s'] ?? 30) * 1000);
  province.on('message', (t: { kind: string; station?: string }, json: unknown) => out(t.kind, { station: t.station, message: json }));
  province.on('invalid', (refused: { station: string; topic: string; errors: string[] }) => out('invalid', refused));
  out('connected', { broker: url });

  const sims: Array<{ client: SyncClient; db: Database.Database }> = [];
  const n = Number(values['sim-stations'] ?? 0);
  if (n > 0) {
    if (!('publicKey' in keys)) throw new Error('--sim-stations needs the public key: omit --key to let the simulator make one');
    const work = mkdtempSync(join(tmpdir(), 'loa-province-sim-'));
    const groups = (values.groups ?? 'province').split(',').filter(Boolean);
    for (let i = 1; i <= n; i++) {
      const id = `sim-${String(i).padStart(3, '0')}`;
      const dir = join(work, id);
      mkdirSync(dir, { recursive: true });
      const db = new Database(join(dir, 'loa.db'));
      migrate(db);
      const config = SyncSchema.parse({ brokers: [url], provinceKeys: [keys.publicPem], groups, protocolVersion, reconnect: { initialMs: 1000, maxMs: 30_000 } });
      const port = new SimulatedStation({ cacheDir: join(dir, 'cache') });
      // A simulated station's update: committed, or (for the given fraction, spread evenly) rolled back, a moment later.
      const fails = i <= Math.round(n * Number(values['sim-update-failures'] ?? 0));
      port.onUpdate = (_id, a) => {
        const version = (JSON.parse(JSON.parse(a.manifest).p) as { version: string }).version;
        setTimeout(() => fails
          ? client.event('update.rolled-back', 'error', `${version} rolled back (simulated)`, { version, from: 'sim', reason: 'simulated failure' })
          : client.event('update.committed', 'info', `${version} committed (simulated)`, { version, from: 'sim' }), 500).unref();
        return { status: 'done', result: { version, state: 'downloading' } };
      };
      const client = new SyncClient({
        stationId: id,
        config,
        port,
        db,
        log: createLogger({ level: 'warn', name: id }),
        downloadDir: join(dir, 'downloads'),
      });
      client.start();
      sims.push({ client, db });
    }
    out('simulated-stations', { count: n, groups, dir: work });
  }

  const address = (s: string): AnyAddress => {
    const [kind, id] = s.split(':');
    if (kind === 'station' && id) return { station: id };
    if (kind === 'group' && id) return { group: id };
    throw new Error(`"${s}": use station:ID or group:NAME`);
  };

  const handle = async (line: string): Promise<boolean> => {
    const [verb, a, ...rest] = line.trim().split(/\s+/);
    if (!verb) return true;
    try {
      switch (verb) {
        case 'quit':
          return false;
        case 'content':
          out('content', { files: [...served.values()].map((e) => ({ name: e.name, sha256: e.sha256 })) });
          return true;
        case 'stations':
          out('stations', { stations: Object.fromEntries(province.stations) });
          return true;
        case 'target': {
          const file = rest[0];
          if (!a || !file) throw new Error('usage: target STATION FILE.json');
          const parsed = TargetFileSchema.safeParse(JSON.parse(readFileSync(resolve(file), 'utf8')));
          if (!parsed.success) throw new Error(`${file}: ${describeIssues(parsed.error).join('; ')}`);
          const needed = new Set(parsed.data.programmes.flatMap((p) => p.items.flatMap(itemContents)));
          const missing = [...needed].filter((s) => !served.has(s));
          if (missing.length) throw new Error(`programmes name content this simulator does not serve: ${missing.join(', ')}`);
          const version = await province.publishTarget({
            station: a,
            programmes: parsed.data.programmes,
            content: [...needed].map((s) => served.get(s)!),
            ...(parsed.data.zones ? { zones: parsed.data.zones } : {}),
            ...(parsed.data.settings ? { settings: parsed.data.settings } : {}),
          });
          out('published-target', { station: a, version });
          return true;
        }
        case 'send': {
          // The JSON may contain spaces; a trailing bare number is the TTL in seconds.
          const hasTtl = rest.length > 1 && /^\d+$/.test(rest.at(-1)!);
          const json = (hasTtl ? rest.slice(0, -1) : rest).join(' ');
          const ttl = hasTtl ? Number(rest.at(-1)) : 60;
          if (!a || !json) throw new Error('usage: send station:ID|group:NAME JSON [TTL_S]');
          const action = CommandActionSchema.safeParse(JSON.parse(json));
          if (!action.success) throw new Error(`command: ${describeIssues(action.error).join('; ')}`);
          const cmd = await province.send(address(a), action.data, { ttlMs: ttl * 1000 });
          out('sent-command', { id: cmd.id, to: cmd.to, command: cmd.command, ttlMs: cmd.ttlMs });
          return true;
        }
        case 'clock-reset': {
          if (!a) throw new Error('usage: clock-reset station:ID|group:NAME');
          const cmd = await province.send(address(a), { action: 'clock-reset', lowerBoundMs: Date.now() });
          out('sent-command', { id: cmd.id, to: cmd.to, command: cmd.command, ttlMs: cmd.ttlMs });
          return true;
        }
        case 'rollout': {
          const bundleFile = rest[0];
          if (!a || !bundleFile) throw new Error('usage: rollout MANIFEST BUNDLE [THRESHOLD]');
          const signed = readFileSync(resolve(a), 'utf8').trim();
          const version = (JSON.parse(JSON.parse(signed).p) as { version: string }).version;
          const entry = content.add(resolve(bundleFile), `loa-${version}`);
          const stations = [...province.stations.entries()].filter(([, v]) => v.status?.state === 'online').map(([id]) => id).sort();
          const report = await rollout({
            province, stations, version, manifest: signed, url: entry.url, threshold: Number(rest[1] ?? 0.1), stageTimeoutMs: 3_600_000,
            onStage: (stage) => out('rollout-stage', { version, percent: stage.percent, stations: stage.stations.length, ...stage.verdict }),
          });
          out('rollout', { version, completed: report.completed, ...(report.haltedAt !== undefined ? { haltedAt: report.haltedAt } : {}) });
          return true;
        }
        case 'report': {
          if (!a) throw new Error('usage: report STATION [FROM TO]');
          const [from, to] = rest;
          out('report', { station: a, figures: await province.report(a, { ...(from ? { from } : {}), ...(to ? { to } : {}) }) });
          return true;
        }
        default:
          throw new Error(`unknown "${verb}": target, send, rollout, report, clock-reset, content, stations, quit`);
      }
    } catch (err) {
      out('error', { line, error: (err as Error).message });
      return true;
    }
  };

  await new Promise<void>((resolveRun) => {
    const timer = values.for ? setTimeout(resolveRun, Number(values.for) * 1000) : undefined;
    const rl = createInterface({ input: io.input });
    rl.on('line', (line) => {
      void handle(line).then((goOn) => {
        if (!goOn) {
          clearTimeout(timer);
          rl.close();
          resolveRun();
        }
      });
    });
    // End of input ends the run only when there is no --for to honour.
    rl.on('close', () => {
      if (!values.for) resolveRun();
    });
    if (io.signals) {
      process.once('SIGINT', () => resolveRun());
      process.once('SIGTERM', () => resolveRun());
    }
  });

  for (const s of sims) {
    await s.client.stop();
    s.db.close();
  }
  await province.close();
  await content.close();
  await embedded?.close();
  out('summary', { stations: province.stations.size, outboxMessages: province.received.size, duplicatesDropped: province.duplicates, invalid: province.invalid });
}
