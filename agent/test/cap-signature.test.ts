import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignedXml } from 'xml-crypto';
import { parseSignedCap, verifyCapSignature } from '../src/alerts/cap/signature.js';
import { capFixtureText, ecKey, rsaKey, signCap, ENVELOPED, EXC_C14N, SHA256 } from './cap-fixture.js';

const authority = rsaKey();
const pinned = { publicKeysPem: [authority.publicKeyPem] };
const warning = capFixtureText('vi/flood-warning.xml');
const signed = signCap(warning, authority);

const refusal = (r: ReturnType<typeof verifyCapSignature>): string[] => (r.ok ? ['(accepted)'] : r.errors);

t.test('a document signed by the pinned key verifies, and what was signed is what parses', async (t) => {
  const r = verifyCapSignature(signed, pinned);
  t.ok(r.ok, 'verified');
  if (!r.ok) return;
  t.equal(r.keyIndex, 0);
  t.notMatch(r.signedXml, /Signature/, 'the enveloped signature is not part of the signed content');
  const parsed = await parseSignedCap(signed, pinned);
  t.ok(parsed.ok);
  if (parsed.ok) {
    t.equal(parsed.alert.identifier, 'VN-QT-PCTT-2026-1121-001');
    t.equal(parsed.alert.info[0]!.headline, 'Cảnh báo lũ quét tại thôn Tà Rụt và thôn A Vao');
  }
  // A signed document is still a valid CAP 1.2 document (the schema admits ds:Signature at the end).
  const { parseCap } = await import('../src/alerts/cap/parse.js');
  t.ok((await parseCap(signed)).ok, 'the signed document validates against the CAP schema too');
  // The same signed bytes sent as UTF-16 with a byte order mark: the signature covers the characters, not the encoding.
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(signed.replace('encoding="UTF-8"', 'encoding="UTF-16"'), 'utf16le')]);
  t.ok(verifyCapSignature(utf16, pinned).ok, 'UTF-16 verifies');
  // The second of several pinned keys.
  const rotated = verifyCapSignature(signed, { publicKeysPem: [rsaKey().publicKeyPem, authority.publicKeyPem] });
  t.same(rotated.ok && rotated.keyIndex, 1);
});

t.test('a real published alert: Environment Canada, signed by its own certificate', async (t) => {
  const eccc = capFixtureText('real/eccc-wind-warning-2022-signed.xml');
  const ecccPinned = { publicKeysPem: [capFixtureText('real/eccc-weather-gc-ca-2021.pem')] };
  const r = verifyCapSignature(eccc, ecccPinned);
  t.ok(r.ok, "ECCC's own XML-DSig verifies with the pinned certificate");
  const parsed = await parseSignedCap(eccc, ecccPinned);
  t.ok(parsed.ok);
  if (parsed.ok) {
    const a = parsed.alert;
    t.match(a, { identifier: 'urn:oid:2.49.0.1.124.1596751993.2022', sender: 'cap-pac@canada.ca', msgType: 'Update', source: 'Env. Can. - Can. Met. Ctr. – Montréal' });
    t.equal(a.sentMs, Date.parse('2022-10-10T10:40:09Z'), "'-00:00' is UTC");
    t.same(a.references, [{ sender: 'cap-pac@canada.ca', identifier: 'urn:oid:2.49.0.1.124.2075275656.2022', sentMs: Date.parse('2022-10-10T04:49:30Z') }]);
    t.same(a.codes, ['profile:CAP-CP:0.4', 'layer:SOREM:1.0', 'layer:EC-MSC-SMC:1.0', 'layer:WPAM:1.0', 'layer:EC-MSC-SMC:1.1', 'layer:SOREM:2.0']);
    t.same(a.info.map((i) => [i.language, i.headline, i.areas.length]), [['en-CA', 'wind warning in effect', 6], ['fr-CA', 'avertissement de vent en vigueur', 6]]);
    t.same(a.info[0]!.areas[0]!.geocodes.map((g) => g.value), ['077210', '4818005', '4818015'], 'leading zeros kept');
    t.equal(a.info[0]!.instruction, undefined, '<instruction/> is absent');
    t.same(a.info[0]!.parameters.at(-1), { valueName: 'layer:EC-MSC-SMC:1.1:Newly_Active_Areas', value: '' });
    t.equal(a.info[1]!.expiresMs, Date.parse('2022-10-10T20:59:09Z'));
  }
  t.same(refusal(verifyCapSignature(eccc.replace('gusts near 90 km/h', 'gusts near 190 km/h'), ecccPinned)), ['signed content was altered (digest mismatch)']);
  t.same(refusal(verifyCapSignature(eccc, pinned)), ['signature does not verify with any pinned key'], 'the certificate in KeyInfo is not trusted by itself');
});

t.test('ECDSA P-256 and RSA-PSS', async (t) => {
  const ec = ecKey();
  const ecSigned = signCap(warning, ec);
  t.match(ecSigned, /Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#ecdsa-sha256"/);
  t.ok(verifyCapSignature(ecSigned, { publicKeysPem: [ec.publicKeyPem] }).ok, 'ECDSA verifies');
  t.same(refusal(verifyCapSignature(ecSigned, { publicKeysPem: [ecKey().publicKeyPem] })), ['signature does not verify with any pinned key']);
  const pss = signCap(warning, authority, { signatureAlgorithm: 'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1' });
  t.ok(verifyCapSignature(pss, pinned).ok, 'RSA-PSS verifies');
});

t.test('a tampered headline is refused', async (t) => {
  const tampered = signed.replace('Cảnh báo lũ quét tại thôn Tà Rụt và thôn A Vao', 'Cảnh báo giả: sơ tán toàn xã');
  t.not(tampered, signed);
  t.same(refusal(verifyCapSignature(tampered, pinned)), ['signed content was altered (digest mismatch)']);
  t.same(await parseSignedCap(tampered, pinned), { ok: false, errors: ['signed content was altered (digest mismatch)'] });
});

t.test('an unpinned key is refused, whatever KeyInfo says', async (t) => {
  const attacker = rsaKey();
  t.same(refusal(verifyCapSignature(signCap(warning, attacker), pinned)), ['signature does not verify with any pinned key']);

  // The attacker embeds their own certificate in KeyInfo. xml-crypto, left to read KeyInfo, believes it.
  const dir = mkdtempSync(join(tmpdir(), 'loa-cap-cert-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'key.pem'), attacker.privateKeyPem);
  execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, 'key.pem'), '-subj', '/CN=not-the-authority', '-days', '2', '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const certB64 = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const withKeyInfo = signCap(warning, attacker, { keyInfoContent: `<ds:X509Data><ds:X509Certificate>${certB64}</ds:X509Certificate></ds:X509Data>` });
  t.match(withKeyInfo, /<ds:KeyInfo><ds:X509Data><ds:X509Certificate>/);
  const naive = new SignedXml({ getCertFromKeyInfo: SignedXml.getCertFromKeyInfo });
  const sigNode = new (await import('@xmldom/xmldom')).DOMParser().parseFromString(withKeyInfo, 'text/xml').getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')[0]!;
  naive.loadSignature(sigNode as unknown as Node);
  t.equal(naive.checkSignature(withKeyInfo), true, 'control: trusting KeyInfo would accept the attacker');
  t.same(refusal(verifyCapSignature(withKeyInfo, pinned)), ['signature does not verify with any pinned key'], 'the station does not');
});

t.test('signature wrapping is refused', async (t) => {
  const sigStart = signed.indexOf('<ds:Signature');
  const sigEnd = signed.indexOf('</ds:Signature>') + '</ds:Signature>'.length;
  const signatureXml = signed.slice(sigStart, sigEnd);
  const originalAlert = signed.slice(signed.indexOf('<alert'), sigStart) + signed.slice(sigEnd);
  const forgedAlert = capFixtureText('vi/flood-update.xml').replace(/^<\?xml[^>]*>\s*/, '')
    .replace('Lũ quét đã xảy ra tại thôn Tà Rụt, mở rộng cảnh báo đến thôn Pa Nang', 'Vỡ đập: sơ tán toàn bộ xã ngay lập tức');

  // 1. The signed original moved into a ds:Object of its own signature, a forged alert as root.
  const inObject = forgedAlert.replace('</alert>', signatureXml.replace('</ds:Signature>', `<ds:Object>${originalAlert}</ds:Object></ds:Signature>`) + '</alert>');
  t.same(refusal(verifyCapSignature(inObject, pinned)), ['signed content was altered (digest mismatch)'], 'original inside ds:Object');

  // 2. The signed original wrapped in another root.
  t.same(refusal(verifyCapSignature(`<wrapper>${signed.replace(/^<\?xml[^>]*>/, '')}${forgedAlert}</wrapper>`, pinned)),
    ["root element is 'wrapper' in namespace '(none)', expected 'alert' in urn:oasis:names:tc:emergency:cap:1.2"]);

  // 3. The signed original kept whole inside a forged alert (its signature then no longer enveloped by the root).
  const nested = forgedAlert.replace('</info>', `</info>${signed.replace(/^<\?xml[^>]*>/, '')}`);
  t.same(refusal(verifyCapSignature(nested, pinned)), ['ds:Signature is not a direct child of the root alert (only an enveloped signature is accepted)']);

  // 4. A genuine signature by the pinned key, but over a different node: the original in a signed ds:Object,
  //    referenced by Id, a forged alert as the document. xml-crypto alone verifies it.
  const byId = new SignedXml({
    privateKey: authority.privateKeyPem,
    signatureAlgorithm: authority.algorithm,
    canonicalizationAlgorithm: EXC_C14N,
    objects: [{ content: originalAlert, attributes: { Id: 'genuine' } }],
  });
  byId.addReference({ xpath: "//*[local-name(.)='Object']", transforms: [EXC_C14N], digestAlgorithm: SHA256, uri: '#genuine' });
  byId.computeSignature(forgedAlert, { prefix: 'ds', location: { reference: '/*', action: 'append' } });
  const overObject = byId.getSignedXml();
  const control = new SignedXml({ publicCert: authority.publicKeyPem, getCertFromKeyInfo: () => null });
  const node = new (await import('@xmldom/xmldom')).DOMParser().parseFromString(overObject, 'text/xml').getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')[0]!;
  control.loadSignature(node as unknown as Node);
  t.equal(control.checkSignature(overObject), true, 'control: the signature itself is valid');
  t.match(control.getSignedReferences()[0], /Cảnh báo lũ quét/, 'control: what it signed is the original, not the root');
  t.match(refusal(verifyCapSignature(overObject, pinned)), [
    /^Reference URI is '#genuine'; only URI="" \(the whole document\) is accepted$/,
    /^Reference lacks the enveloped-signature transform$/,
  ]);
  const p = await parseSignedCap(overObject, pinned);
  t.notOk(p.ok, 'never parsed');
});

t.test('shapes the station does not accept', async (t) => {
  t.same(refusal(verifyCapSignature(warning, pinned)), ['document is not signed (no ds:Signature)'], 'unsigned');
  t.same(refusal(verifyCapSignature(signCap(signed, authority), pinned)), ['document has 2 ds:Signature elements; exactly one is accepted']);
  const sha1 = signCap(warning, authority, { signatureAlgorithm: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', digestAlgorithm: 'http://www.w3.org/2000/09/xmldsig#sha1' });
  t.same(refusal(verifyCapSignature(sha1, pinned)), [
    "signature method 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' uses SHA-1, which is refused",
    "digest method 'http://www.w3.org/2000/09/xmldsig#sha1' uses SHA-1, which is refused",
  ]);
  const sha1Digest = signCap(warning, authority, { digestAlgorithm: 'http://www.w3.org/2000/09/xmldsig#sha1' });
  t.same(refusal(verifyCapSignature(sha1Digest, pinned)), ["digest method 'http://www.w3.org/2000/09/xmldsig#sha1' uses SHA-1, which is refused"]);
  t.same(refusal(verifyCapSignature(signed, { publicKeysPem: [] })), ['no pinned key is configured']);
  t.same(refusal(verifyCapSignature(capFixtureText('hostile/billion-laughs.xml'), pinned)), ['DOCTYPE declarations are not allowed (entity expansion and external entities)']);
  t.same(refusal(verifyCapSignature(signed, pinned, { maxBytes: 1000 })), [`document is ${Buffer.byteLength(signed)} bytes, over the 1000-byte bound`]);
  t.match(refusal(verifyCapSignature('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><ds:Signature', pinned)), [/^not well-formed XML: /]);
  // Transforms beyond enveloped + C14N (XPath, XSLT) are refused before any processing.
  const xslt = signed.replace(`<ds:Transform Algorithm="${ENVELOPED}"/>`, `<ds:Transform Algorithm="${ENVELOPED}"/><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>`);
  t.not(xslt, signed);
  t.same(refusal(verifyCapSignature(xslt, pinned)), ["transform 'http://www.w3.org/TR/1999/REC-xslt-19991116' is not accepted"]);
});
