/** CAP test helpers: fixtures from agent/test/fixtures/cap/, keys made here, XML-DSig signing as a national feed would. */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignedXml } from 'xml-crypto';
import { withEcdsa, ECDSA_SHA256 } from '../src/alerts/cap/signature.js';

export const capFixture = (p: string): Buffer => readFileSync(new URL(`./fixtures/cap/${p}`, import.meta.url));
export const capFixtureText = (p: string): string => capFixture(p).toString('utf8');

export interface TestKey {
  privateKeyPem: string;
  publicKeyPem: string;
  algorithm: string;
}

export function rsaKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    algorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  };
}

export function ecKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    algorithm: ECDSA_SHA256,
  };
}

export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';

export interface SignOptions {
  /** Reference target (default the whole document, URI=""). */
  xpath?: string;
  uri?: string;
  digestAlgorithm?: string;
  signatureAlgorithm?: string;
  /** KeyInfo content to embed (e.g. an attacker's certificate). */
  keyInfoContent?: string;
}

/** An enveloped XML-DSig signature appended to the root, as xml-crypto's SignedXml makes it. */
export function signCap(xml: string, key: TestKey, opts: SignOptions = {}): string {
  const whole = opts.xpath === undefined;
  const sig = withEcdsa(new SignedXml({
    privateKey: key.privateKeyPem,
    signatureAlgorithm: opts.signatureAlgorithm ?? key.algorithm,
    canonicalizationAlgorithm: EXC_C14N,
    ...(opts.keyInfoContent ? { getKeyInfoContent: () => opts.keyInfoContent! } : {}),
  }));
  sig.addReference({
    xpath: opts.xpath ?? '/*',
    transforms: [ENVELOPED, EXC_C14N],
    digestAlgorithm: opts.digestAlgorithm ?? SHA256,
    ...(whole ? { uri: '', isEmptyUri: true } : opts.uri !== undefined ? { uri: opts.uri } : {}),
  });
  sig.computeSignature(xml.replace(/^\uFEFF/, ''), { prefix: 'ds', location: { reference: '/*', action: 'append' } });
  return sig.getSignedXml();
}
