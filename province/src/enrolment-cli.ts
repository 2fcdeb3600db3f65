import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { EnrolmentService, type FirstTarget } from './enrolment.js';
import { EnrolmentStore, type Approval } from './enrolment-store.js';
import { ContentServer } from './content-server.js';
import { ProvisionZoneSchema } from '../../agent/src/provision/protocol.js';
import { ProgrammeSchema, describeIssues } from '../../agent/src/domain/schemas.js';
import { itemContents } from '../../agent/src/domain/types.js';

/**
 * scripts/province serve | approve | reject | pending | token: the
 * reference enrolment service and the operator's commands on it. The
 * commands work on the service's folder (its store), so they run beside it.
 */

export const ENROLMENT_USAGE = `  scripts/province serve --dir DIR [options]   enrolment service: HTTPS endpoint, Mosquitto, signer
      --https-port N --broker-port N   ports (default: free ones)
      --host NAME                      the name stations reach this province by (default localhost)
      --groups a,b                     groups of newly approved stations (default: province)
      --first-target FILE.json         what a new station is sent first ({"programmes":[...]}; default empty)
      --content DIR                    serve these files for the first target
      --client-certs                   brokers require TLS client certificates (signed from each CSR)
      --auto-approve                   approve every new station at once (benchmarks)
  scripts/province pending --dir DIR           stations waiting, with their codes
  scripts/province approve CODE --dir DIR [--station ID] [--groups a,b] [--zones n1:Label,n2] [--name NAME]
  scripts/province reject CODE --dir DIR
  scripts/province token --dir DIR [--station ID] [--groups a,b] [--ttl-h H] [--out FILE]
                                               a one-time token (printed; --out writes a file for a USB stick)`;

const out = (what: string, data: Record<string, unknown>): void => void process.stdout.write(JSON.stringify({ at: new Date().toISOString(), what, ...data }) + '\n');

const OPTIONS = {
  dir: { type: 'string' },
  'https-port': { type: 'string' },
  'broker-port': { type: 'string' },
  host: { type: 'string' },
  groups: { type: 'string' },
  'first-target': { type: 'string' },
  content: { type: 'string' },
  'client-certs': { type: 'boolean', default: false },
  'auto-approve': { type: 'boolean', default: false },
  station: { type: 'string' },
  zones: { type: 'string' },
  name: { type: 'string' },
  'ttl-h': { type: 'string' },
  out: { type: 'string' },
} as const;

/** "north:Thôn 1,south" as zones. */
export function parseZones(text: string): Approval['zones'] {
  return text.split(',').filter(Boolean).map((z) => {
    const [name, ...label] = z.split(':');
    return ProvisionZoneSchema.parse({ name, ...(label.length ? { label: label.join(':') } : {}) });
  });
}

function approvalOf(v: { station?: string | undefined; groups?: string | undefined; zones?: string | undefined; name?: string | undefined }): Approval {
  return {
    ...(v.station ? { station: v.station } : {}),
    ...(v.groups !== undefined ? { groups: v.groups.split(',').filter(Boolean) } : {}),
    ...(v.zones ? { zones: parseZones(v.zones) } : {}),
    ...(v.name ? { name: v.name } : {}),
  };
}

const FirstTargetFileSchema = z.strictObject({ programmes: z.array(ProgrammeSchema) });

export async function enrolmentCommand(cmd: string, argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (!v.dir) {
    process.stderr.write(`--dir DIR is required\n${ENROLMENT_USAGE}\n`);
    return 2;
  }
  const dir = resolve(v.dir);
  if (cmd === 'serve') return serve(dir, v);
  const store = new EnrolmentStore(join(dir, 'province.db'));
  try {
    switch (cmd) {
      case 'pending':
        out('pending', { stations: store.pending().map((p) => ({ code: p.code, hostname: p.hostname, since: new Date(p.createdMs).toISOString() })) });
        return 0;
      case 'approve': {
        if (!positionals[0]) throw new Error('usage: scripts/province approve CODE --dir DIR');
        const row = store.approveCode(positionals[0], { groups: ['province'], ...approvalOf(v) });
        out('approved', { code: row.code, station: row.stationId, groups: row.groups, note: 'credentials are issued when the station next asks (within seconds)' });
        return 0;
      }
      case 'reject':
        if (!positionals[0]) throw new Error('usage: scripts/province reject CODE --dir DIR');
        store.reject(positionals[0]);
        out('rejected', { code: positionals[0] });
        return 0;
      case 'token': {
        const t = store.newToken({ groups: ['province'], ...approvalOf(v) }, Number(v['ttl-h'] ?? 72) * 3_600_000);
        if (v.out) writeFileSync(v.out, JSON.stringify({ token: t.token }) + '\n', { mode: 0o600 });
        out('token', { token: t.token, expires: new Date(t.expiresMs).toISOString(), ...(v.out ? { file: v.out } : {}) });
        return 0;
      }
    }
  } catch (err) {
    process.stderr.write(`province: ${(err as Error).message}\n`);
    return 1;
  } finally {
    store.close();
  }
  process.stderr.write(ENROLMENT_USAGE + '\n');
  return 2;
}

async function serve(dir: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const content = new ContentServer();
  await content.listen();
  let firstTarget: FirstTarget | undefined;
  if (typeof v['first-target'] === 'string') {
    const parsed = FirstTargetFileSchema.safeParse(JSON.parse(readFileSync(v['first-target'], 'utf8')));
    if (!parsed.success) throw new Error(`${v['first-target']}: ${describeIssues(parsed.error).join('; ')}`);
    const served = new Map<string, ReturnType<ContentServer['add']>>();
    if (typeof v.content === 'string') {
      const { readdirSync } = await import('node:fs');
      for (const f of readdirSync(v.content, { withFileTypes: true })) if (f.isFile()) {
        const e = content.add(join(v.content, f.name));
        served.set(e.sha256, e);
      }
    }
    const needed = [...new Set(parsed.data.programmes.flatMap((p) => p.items.flatMap(itemContents)))];
    const missing = needed.filter((s) => !served.has(s));
    if (missing.length) throw new Error(`the first target names content not in --content: ${missing.join(', ')}`);
    firstTarget = { programmes: parsed.data.programmes, content: needed.map((s) => served.get(s)!) };
  }
  const groups = typeof v.groups === 'string' ? v.groups.split(',').filter(Boolean) : ['province'];
  const service = await EnrolmentService.start({
    dir,
    ...(typeof v['https-port'] === 'string' ? { httpsPort: Number(v['https-port']) } : {}),
    ...(typeof v['broker-port'] === 'string' ? { brokerPort: Number(v['broker-port']) } : {}),
    ...(typeof v.host === 'string' ? { host: v.host } : {}),
    clientCertificates: v['client-certs'] === true,
    defaultGroups: groups,
    ...(firstTarget ? { firstTarget } : {}),
    ...(v['auto-approve'] === true ? { autoApprove: () => ({}) } : {}),
    log: out,
  });
  out('serving', { enrolment: service.url, broker: service.brokerUrl, caFile: service.caFile, caFingerprint: service.caFingerprint, provisionCommand: `loa provision --province ${service.url} --ca-fingerprint ${service.caFingerprint.replace(/:/g, '')}` });
  await new Promise<void>((done) => {
    const rl = createInterface({ input: process.stdin });
    // Lines on stdin: "approve CODE [ID]", "quit".
    rl.on('line', (line) => {
      const [verb, code, station] = line.trim().split(/\s+/);
      if (verb === 'quit') return rl.close();
      if (verb === 'approve' && code) {
        try {
          service.approve(code, station ? { station } : {});
        } catch (err) {
          out('error', { line, error: (err as Error).message });
        }
      }
    });
    rl.on('close', () => done());
    process.once('SIGINT', () => rl.close());
    process.once('SIGTERM', () => rl.close());
  });
  await service.close();
  await content.close();
  return 0;
}
