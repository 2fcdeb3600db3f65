/**
 * XML-DSig on CAP documents from a national feed: enveloped, whole-document,
 * pinned keys only.
 *
 * Public API (stable):
 *   verifyCapSignature(xml, { publicKeysPem }, opts?) → { ok: true; signedXml; keyIndex } | { ok: false; errors }
 *   parseSignedCap(xml, { publicKeysPem }, opts?) → Promise<CapParseResult> (verify, then parseCap on what was signed)
 *   ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512 (signature method URIs, RFC 6931); withEcdsa(signedXml) registers
 *   them on an xml-crypto SignedXml (for signers, e.g. the province or tests)
 *
 * What is accepted: exactly one ds:Signature, a direct child of the root
 * `alert`; one Reference with URI="" (the whole document); transforms only
 * enveloped-signature and a C14N; SHA-256/512 digests; RSA (PKCS#1 v1.5 or
 * PSS) or ECDSA signatures. SHA-1 anywhere is refused. The key is one of the
 * pinned ones: KeyInfo and certificates in the document are never used. The
 * caller gets the canonical XML that the signature actually covers (xml-crypto's
 * getSignedReferences()) and must parse that, never the original bytes, so a
 * valid signature over some other node or copy (signature wrapping) can never
 * lend its authority to unsigned content.
 */
import { sign as cryptoSign, verify as cryptoVerify, type BinaryLike, type KeyLike } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { CAP_NAMESPACE, DEFAULT_MAX_CAP_BYTES, parseCap, prepareCapText, type CapParseOptions, type CapParseResult } from './parse.js';

export const DSIG_NAMESPACE = 'http://www.w3.org/2000/09/xmldsig#';
export const ECDSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256';
export const ECDSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384';
export const ECDSA_SHA512 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512';

export interface PinnedKeys {
  /** SPKI public keys or X.509 certificates, PEM. */
  publicKeysPem: string[];
}

export type CapSignatureResult =
  | { ok: true; signedXml: string; keyIndex: number }
  | { ok: false; errors: string[] };

const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const C14N = new Set([
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/2001/10/xml-exc-c14n#WithComments',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments',
]);
const DIGESTS = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']);
const SIGNATURES = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1',
  ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512,
]);

/** ECDSA for xml-crypto: XML-DSig carries r||s (IEEE P1363), not DER (RFC 4050 / RFC 6931). */
export class EcdsaSignature {
  constructor(private readonly uri: string, private readonly hash: 'sha256' | 'sha384' | 'sha512') {}
  getSignature(signedInfo: BinaryLike, privateKey: KeyLike): string {
    return cryptoSign(this.hash, Buffer.from(signedInfo as string), { key: privateKey as string | Buffer, dsaEncoding: 'ieee-p1363' }).toString('base64');
  }
  verifySignature(material: string, key: KeyLike, signatureValue: string): boolean {
    return cryptoVerify(this.hash, Buffer.from(material), { key: key as string | Buffer, dsaEncoding: 'ieee-p1363' }, Buffer.from(signatureValue, 'base64'));
  }
  getAlgorithmName(): string {
    return this.uri;
  }
}

/** Registers the ECDSA methods on a SignedXml (xml-crypto 6 ships RSA and HMAC only). */
export function withEcdsa(sig: SignedXml): SignedXml {
  const algorithms = sig.SignatureAlgorithms as unknown as Record<string, new () => unknown>;
  algorithms[ECDSA_SHA256] = class extends EcdsaSignature { constructor() { super(ECDSA_SHA256, 'sha256'); } };
  algorithms[ECDSA_SHA384] = class extends EcdsaSignature { constructor() { super(ECDSA_SHA384, 'sha384'); } };
  algorithms[ECDSA_SHA512] = class extends EcdsaSignature { constructor() { super(ECDSA_SHA512, 'sha512'); } };
  return sig;
}

/** Checks the document's signature against the pinned keys; returns the XML it covers. Never throws. */
export function verifyCapSignature(xml: string | Buffer, pinned: PinnedKeys, opts: { maxBytes?: number } = {}): CapSignatureResult {
  const prepared = prepareCapText(xml, opts.maxBytes ?? DEFAULT_MAX_CAP_BYTES);
  if (!prepared.ok) return prepared;
  const text = prepared.text;
  if (pinned.publicKeysPem.length === 0) return fail('no pinned key is configured');

  const parseErrors: string[] = [];
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level: string, msg: string) => { if (level !== 'warning') parseErrors.push(msg); },
    }).parseFromString(text, 'text/xml') as unknown as Document;
  } catch (err) {
    return fail(`not well-formed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parseErrors.length || !doc.documentElement) return fail(`not well-formed XML: ${(parseErrors[0] ?? 'no root element').split('\n')[0]}`);
  const root = doc.documentElement;
  if (root.localName !== 'alert' || root.namespaceURI !== CAP_NAMESPACE) {
    return fail(`root element is '${root.localName}' in namespace '${root.namespaceURI ?? '(none)'}', expected 'alert' in ${CAP_NAMESPACE}`);
  }

  const signatures = Array.from(doc.getElementsByTagNameNS(DSIG_NAMESPACE, 'Signature'));
  if (signatures.length === 0) return fail('document is not signed (no ds:Signature)');
  if (signatures.length > 1) return fail(`document has ${signatures.length} ds:Signature elements; exactly one is accepted`);
  const signature = signatures[0]!;
  if (signature.parentNode !== root) return fail('ds:Signature is not a direct child of the root alert (only an enveloped signature is accepted)');

  const shapeErrors = checkSignedInfo(signature);
  if (shapeErrors.length) return { ok: false, errors: shapeErrors };

  for (const [keyIndex, key] of pinned.publicKeysPem.entries()) {
    // KeyInfo would outrank publicCert in xml-crypto: never read a key from the document.
    const sig = withEcdsa(new SignedXml({ publicCert: key, getCertFromKeyInfo: () => null }));
    try {
      sig.loadSignature(signature);
      // false: a Reference digest does not match, whatever the key (xml-crypto checks digests first).
      if (!sig.checkSignature(text)) return fail('signed content was altered (digest mismatch)');
    } catch {
      // The SignatureValue does not verify with this key (or the key does not fit the method): try the next.
      continue;
    }
    const refs = sig.getReferences();
    const signed = sig.getSignedReferences();
    if (refs.length !== 1 || signed.length !== 1 || refs[0]!.uri !== '') return fail('signature must cover exactly the whole document (one Reference, URI="")');
    const covered = new DOMParser().parseFromString(signed[0]!, 'text/xml').documentElement;
    if (!covered || covered.localName !== 'alert' || covered.namespaceURI !== CAP_NAMESPACE) return fail('signed content is not the CAP alert');
    return { ok: true, signedXml: signed[0]!, keyIndex };
  }
  return fail('signature does not verify with any pinned key');
}

/** verifyCapSignature, then parseCap on exactly the XML the signature covers. */
export async function parseSignedCap(xml: string | Buffer, pinned: PinnedKeys, opts: CapParseOptions = {}): Promise<CapParseResult> {
  const verified = verifyCapSignature(xml, pinned, { maxBytes: opts.maxBytes ?? DEFAULT_MAX_CAP_BYTES });
  if (!verified.ok) return verified;
  return parseCap(verified.signedXml, opts);
}

/** SignedInfo as the station accepts it, read from the document before any cryptography. */
function checkSignedInfo(signature: Element): string[] {
  const children = (el: Element, name: string): Element[] =>
    Array.from(el.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).localName === name && (n as Element).namespaceURI === DSIG_NAMESPACE);
  const algorithm = (el: Element | undefined): string => el?.getAttribute('Algorithm') ?? '';
  const signedInfo = children(signature, 'SignedInfo');
  if (signedInfo.length !== 1) return ['ds:Signature must hold exactly one SignedInfo'];
  const si = signedInfo[0]!;
  const errors: string[] = [];
  const c14n = algorithm(children(si, 'CanonicalizationMethod')[0]);
  if (!C14N.has(c14n)) errors.push(`SignedInfo canonicalization '${c14n}' is not accepted`);
  const method = algorithm(children(si, 'SignatureMethod')[0]);
  if (/sha1$/i.test(method)) errors.push(`signature method '${method}' uses SHA-1, which is refused`);
  else if (!SIGNATURES.has(method)) errors.push(`signature method '${method}' is not accepted`);
  const references = children(si, 'Reference');
  if (references.length !== 1) return [...errors, `SignedInfo has ${references.length} References; exactly one (URI="") is accepted`];
  const ref = references[0]!;
  if (!ref.hasAttribute('URI') || ref.getAttribute('URI') !== '') errors.push(`Reference URI is '${ref.getAttribute('URI') ?? '(absent)'}'; only URI="" (the whole document) is accepted`);
  const transforms = children(ref, 'Transforms')[0];
  const steps = transforms ? children(transforms, 'Transform').map((t) => algorithm(t)) : [];
  if (!steps.includes(ENVELOPED)) errors.push('Reference lacks the enveloped-signature transform');
  for (const step of steps) if (step !== ENVELOPED && !C14N.has(step)) errors.push(`transform '${step}' is not accepted`);
  const digest = algorithm(children(ref, 'DigestMethod')[0]);
  if (/sha1$/i.test(digest)) errors.push(`digest method '${digest}' uses SHA-1, which is refused`);
  else if (!DIGESTS.has(digest)) errors.push(`digest method '${digest}' is not accepted`);
  return errors;
}

function fail(error: string): { ok: false; errors: string[] } {
  return { ok: false, errors: [error] };
}
