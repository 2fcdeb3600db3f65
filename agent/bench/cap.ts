/**
 * scripts/bench cap [--n 200]
 *
 * What the CAP input layer adds between a document's arrival and a CapAlert:
 *
 * - cold_ms: the first parseCap in the process (the schema worker starts and
 *   compiles libxml2's wasm once);
 * - parse: parseCap on the Vietnamese flood warning (bounds, well-formedness,
 *   OASIS schema validation in the warm worker, conversion);
 * - signed: verifyCapSignature (RSA-2048, SHA-256, pinned key) then parseCap
 *   on what was signed, as the feed does.
 *
 * Last line: {"bench":"cap","n":..,"cold_ms":..,"parse_p50_ms":..,"parse_p99_ms":..,"signed_p50_ms":..,"signed_p99_ms":..}
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignedXml } from 'xml-crypto';
import { parseCap } from '../src/alerts/cap/parse.js';
import { parseSignedCap } from '../src/alerts/cap/signature.js';
import { LOA_ROOT } from '../src/version.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: 'string', default: '200' } } });
const n = Number(values.n);

const xml = readFileSync(join(LOA_ROOT, 'agent', 'test', 'fixtures', 'cap', 'vi', 'flood-warning.xml'), 'utf8');
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signer = new SignedXml({
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
});
signer.addReference({
  xpath: '/*', uri: '', isEmptyUri: true, digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
});
signer.computeSignature(xml, { prefix: 'ds', location: { reference: '/*', action: 'append' } });
const signed = signer.getSignedXml();
const pinned = { publicKeysPem: [publicKey.export({ type: 'spki', format: 'pem' }).toString()] };

const time = async (fn: () => Promise<{ ok: boolean }>): Promise<number> => {
  const start = performance.now();
  const r = await fn();
  const ms = performance.now() - start;
  if (!r.ok) throw new Error('bench document refused');
  return ms;
};

const coldMs = await time(() => parseCap(xml));
const parse: number[] = [];
const verified: number[] = [];
for (let i = 0; i < n; i++) {
  parse.push(await time(() => parseCap(xml)));
  verified.push(await time(() => parseSignedCap(signed, pinned)));
}
const r = (v: number): number => Math.round(v * 100) / 100;
console.log(JSON.stringify({
  bench: 'cap', n, cold_ms: r(coldMs),
  parse_p50_ms: r(percentile(parse, 50)), parse_p99_ms: r(percentile(parse, 99)),
  signed_p50_ms: r(percentile(verified, 50)), signed_p99_ms: r(percentile(verified, 99)),
}));
