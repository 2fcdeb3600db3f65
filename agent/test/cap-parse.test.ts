import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { parseCap, parseCapDateTime, prepareCapText, type CapParseResult } from '../src/alerts/cap/parse.js';
import type { CapAlert } from '../src/alerts/alert.js';
import { SchemaValidator } from '../src/alerts/cap/schema.js';

const fixture = (p: string): Buffer => readFileSync(new URL(`./fixtures/cap/${p}`, import.meta.url));

async function parsed(t: Test, xml: string | Buffer, opts?: Parameters<typeof parseCap>[1]): Promise<CapAlert> {
  const r = await parseCap(xml, opts);
  if (!r.ok) t.fail(`refused: ${r.errors.join('; ')}`);
  return (r as Extract<CapParseResult, { ok: true }>).alert;
}
async function refused(xml: string | Buffer, opts?: Parameters<typeof parseCap>[1]): Promise<string[]> {
  const r = await parseCap(xml, opts);
  return r.ok ? ['(accepted)'] : r.errors;
}
const utc = (s: string): number => Date.parse(s);

t.test('CAP dateTime: the offset is mandatory, fields in range', async (t) => {
  t.equal(parseCapDateTime('2003-06-17T14:57:00-07:00'), utc('2003-06-17T21:57:00Z'));
  t.equal(parseCapDateTime('2026-11-21T05:30:00+07:00'), utc('2026-11-20T22:30:00Z'));
  t.equal(parseCapDateTime('2026-01-01T00:00:00-00:00'), utc('2026-01-01T00:00:00Z'));
  t.equal(parseCapDateTime('2026-11-21T05:30:00'), undefined, 'no offset');
  t.equal(parseCapDateTime('2026-11-21T05:30:00Z'), undefined, 'Z is not CAP');
  t.equal(parseCapDateTime('2026-11-21T05:30:00.5+07:00'), undefined, 'fractions are not CAP');
  t.equal(parseCapDateTime('2026-02-30T05:30:00+07:00'), undefined, '30 February');
  t.equal(parseCapDateTime('2026-11-21T24:00:00+07:00'), undefined, 'hour 24');
  t.equal(parseCapDateTime('2026-11-21T05:30:00+15:00'), undefined, 'offset beyond 14 h');
  t.equal(parseCapDateTime('2026-11-21T05:30:00,07:00'), undefined, "the schema's pattern allows ',' as a sign; CAP does not");
  t.equal(parseCapDateTime('2024-02-29T00:00:00+00:00'), utc('2024-02-29T00:00:00Z'), 'leap day');
});

t.test('OASIS CAP 1.2 Appendix A examples', async (t) => {
  const hsas = await parsed(t, fixture('oasis/homeland-security.xml'));
  t.match(hsas, {
    identifier: '43b080713727', sender: 'hsas@dhs.gov', sentMs: utc('2003-04-02T19:39:01Z'),
    status: 'Actual', msgType: 'Alert', scope: 'Public', references: [], codes: [], incidents: [],
  });
  t.equal(hsas.info.length, 1);
  t.match(hsas.info[0], {
    language: 'en-US', categories: ['Security'], urgency: 'Immediate', severity: 'Severe', certainty: 'Likely',
    headline: 'Homeland Security Sets Code ORANGE', parameters: [{ valueName: 'HSAS', value: 'ORANGE' }],
    resources: [{ description: 'Image file (GIF)', mimeType: 'image/gif', uri: 'http://www.dhs.gov/dhspublic/getAdvisoryImage' }],
    areas: [{ areaDesc: 'U.S. nationwide and interests worldwide', polygons: [], circles: [], geocodes: [] }],
  });
  t.equal(hsas.info[0]!.expiresMs, undefined, 'no expires in the example');
  t.equal(hsas.info[0]!.language, 'en-US', "CAP's default language");

  const svr = await parsed(t, fixture('oasis/severe-thunderstorm.xml'));
  t.equal(svr.sentMs, utc('2003-06-17T21:57:00Z'));
  t.same(svr.info[0]!.responseTypes, ['Shelter']);
  t.same(svr.info[0]!.eventCodes, [{ valueName: 'SAME', value: 'SVR' }]);
  t.equal(svr.info[0]!.expiresMs, utc('2003-06-17T23:00:00Z'));
  t.same(svr.info[0]!.areas[0]!.polygons, ['38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14']);
  t.same(svr.info[0]!.areas[0]!.geocodes.map((g) => g.value), ['006109', '006009', '006003'], 'leading zeros kept');

  const eq = await parsed(t, fixture('oasis/earthquake.xml'));
  t.equal(eq.msgType, 'Update');
  t.same(eq.references, [{ sender: 'trinet@caltech.edu', identifier: 'TRI13970876.1', sentMs: utc('2003-06-12T03:30:00Z') }]);
  t.same(eq.info[0]!.areas[0]!.circles, ['32.9525,-115.5527 0']);
  t.same(eq.info[0]!.parameters.map((p) => p.value), ['13970876', '1', '3.4 Ml', '11.8 mi.', 'Excellent'], 'numbers stay strings');

  const amber = await parsed(t, fixture('oasis/amber-alert.xml'));
  t.equal(amber.source, 'SW');
  t.same(amber.info.map((i) => i.language), ['en-US', 'es-US']);
  t.equal(amber.info[1]!.event, 'Abducción de Niño');
  t.equal(amber.info[1]!.areas[0]!.geocodes[0]!.value, '006037');
});

t.test('real published alerts: NWS 2017 (CAP 1.1 as published)', async (t) => {
  for (const name of ['nws-winter-weather-advisory-2017', 'nws-winter-storm-warning-2017', 'nws-air-quality-alert-2017']) {
    const original = fixture(`real/${name}.xml`);
    const errors = await refused(original);
    t.equal(errors.length, 1, `${name}: one error`);
    t.match(errors[0], /namespace 'urn:oasis:names:tc:emergency:cap:1\.1', expected 'alert' in urn:oasis:names:tc:emergency:cap:1\.2/, `${name}: CAP 1.1 is refused by name`);
  }
  // The same documents, declared CAP 1.2 (what NWS's 1.2 feed carries is the same content): the real text survives.
  const as12 = (name: string): string => fixture(`real/${name}.xml`).toString('utf8').replace('emergency:cap:1.1', 'emergency:cap:1.2');
  const storm = await parsed(t, as12('nws-winter-storm-warning-2017'));
  t.equal(storm.identifier, 'NOAA-NWS-ALERTS-WA125843C0AE38.WinterStormWarning.125843CF4880WA.SEWWSWSEW.64b531dc35ffdbfe7d1d2aebe5604882');
  t.equal(storm.note, 'Alert for West Slopes North Central Cascades and Passes (Washington) Issued by the National Weather Service');
  t.equal(storm.info[0]!.expiresMs, utc('2017-03-04T08:00:00Z'));
  t.same(storm.info[0]!.areas[0]!.geocodes.filter((g) => g.valueName === 'FIPS6').map((g) => g.value), ['053033', '053053', '053061', '053067']);
  t.same(storm.info[0]!.areas[0]!.polygons, [''], 'an empty polygon element is kept as sent');
  t.match(storm.info[0]!.description, /^\.\.\.WINTER STORM WARNING REMAINS IN EFFECT UNTIL MIDNIGHT PST\nTONIGHT\.\.\./, 'line breaks kept');
  t.same(storm.info[0]!.parameters.find((p) => p.valueName === 'VTEC'), { valueName: 'VTEC', value: '/O.CON.KSEW.WS.W.0007.000000T0000Z-170304T0800Z/' });
  const advisory = await parsed(t, as12('nws-winter-weather-advisory-2017'));
  t.same(advisory.info[0]!.eventCodes, [{ valueName: 'SAME', value: '' }], 'an empty value stays an empty string');
  t.equal(advisory.info[0]!.expiresMs, utc('2017-03-03T18:00:00Z'));
  const air = await parsed(t, as12('nws-air-quality-alert-2017'));
  t.equal(air.info[0]!.instruction, undefined, 'an empty optional element is absent');
  t.same([air.info[0]!.urgency, air.info[0]!.severity, air.info[0]!.certainty], ['Unknown', 'Unknown', 'Unknown']);
});

t.test('Vietnamese alerts: vi-VN first, geocodes as strings, inline audio', async (t) => {
  const warning = await parsed(t, fixture('vi/flood-warning.xml'));
  t.match(warning, {
    identifier: 'VN-QT-PCTT-2026-1121-001', sender: 'canhbao@pctt.quangtri.gov.vn', sentMs: utc('2026-11-20T22:30:00Z'),
    status: 'Actual', msgType: 'Alert', scope: 'Public', codes: ['VN-PCTT'], incidents: ['LU-2026-11'],
  });
  const vi = warning.info[0]!;
  t.equal(vi.language, 'vi-VN');
  t.equal(vi.event, 'Lũ quét và sạt lở đất');
  t.equal(vi.headline, 'Cảnh báo lũ quét tại thôn Tà Rụt và thôn A Vao');
  t.same(vi.categories, ['Met', 'Safety']);
  t.same(vi.eventCodes, [{ valueName: 'VN-PCTT-EVENT', value: '0103' }]);
  t.same([vi.effectiveMs, vi.onsetMs, vi.expiresMs], [utc('2026-11-20T22:30:00Z'), utc('2026-11-20T23:00:00Z'), utc('2026-11-21T11:00:00Z')]);
  t.same(vi.areas.map((a) => a.geocodes), [[{ valueName: 'VN-ADMIN', value: '19645' }], [{ valueName: 'VN-ADMIN', value: '00292' }]]);
  t.same(vi.parameters, [{ valueName: 'VN-REPEAT-MINUTES', value: '15' }]);
  t.equal(vi.resources.length, 1);
  const audio = vi.resources[0]!;
  t.match(audio, { mimeType: 'audio/mpeg', size: 24, digest: 'e3ca79a5e746e4f790cdb07cedc7fb9e9fe4b6ad' });
  t.equal(Buffer.from(audio.derefUri!, 'base64').toString('latin1'), 'ID3\x03\x00\x00\x00\x00\x00\x00loa-test-audio');
  t.equal(warning.info[1]!.language, 'en-US');

  const update = await parsed(t, fixture('vi/flood-update.xml'));
  t.equal(update.msgType, 'Update');
  t.same(update.references, [{ sender: 'canhbao@pctt.quangtri.gov.vn', identifier: 'VN-QT-PCTT-2026-1121-001', sentMs: utc('2026-11-20T22:30:00Z') }]);

  const cancel = await parsed(t, fixture('vi/flood-cancel.xml'));
  t.match(cancel, { msgType: 'Cancel', info: [], note: 'Nước đã rút, huỷ cảnh báo lũ quét.' }, 'a Cancel without info is valid');
  t.same(cancel.references.map((r) => r.identifier), ['VN-QT-PCTT-2026-1121-001', 'VN-QT-PCTT-2026-1121-002']);

  const storm = await parsed(t, fixture('vi/storm-minority-languages.xml'));
  t.equal(storm.status, 'Exercise', 'a prefixed cap: namespace parses the same');
  t.same(storm.info.map((i) => i.language), ['vi-VN', 'hmn']);
  t.same(storm.info[0]!.areas[0]!.circles, ['20.5290,104.6130 15']);
  t.equal(storm.info[0]!.areas[0]!.geocodes[0]!.value, '01006');
});

t.test('UTF-16 and byte order marks', async (t) => {
  const text = fixture('vi/flood-warning.xml').toString('utf8');
  const utf16 = text.replace('encoding="UTF-8"', 'encoding="UTF-16"');
  const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(utf16, 'utf16le')]);
  t.equal((await parsed(t, le)).info[0]!.headline, 'Cảnh báo lũ quét tại thôn Tà Rụt và thôn A Vao', 'UTF-16LE with BOM');
  const be = Buffer.from(utf16, 'utf16le').swap16();
  t.equal((await parsed(t, Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).info[0]!.event, 'Lũ quét và sạt lở đất', 'UTF-16BE with BOM');
  t.equal((await parsed(t, Buffer.from(utf16, 'utf16le'))).info[0]!.instruction!.startsWith('Người dân thôn Tà Rụt'), true, 'UTF-16LE without BOM, told by its "<?"');
  t.equal((await parsed(t, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('vi/flood-warning.xml')]))).identifier, 'VN-QT-PCTT-2026-1121-001', 'UTF-8 BOM');
  t.equal((await parsed(t, '\ufeff' + text)).identifier, 'VN-QT-PCTT-2026-1121-001', 'BOM in a string');
  const latin1 = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
  t.same(await refused(latin1), ["encoding 'ISO-8859-1' is not supported (UTF-8 or UTF-16 only)"]);
  const broken = Buffer.concat([Buffer.from(text.slice(0, 200), 'utf8'), Buffer.from([0xc3, 0x28]), Buffer.from(text.slice(200), 'utf8')]);
  t.same(await refused(broken), ['document is not valid UTF-8 text'], 'invalid UTF-8 bytes');
});

t.test('hostile documents are refused with the reason', async (t) => {
  t.match(await refused(fixture('hostile/no-namespace.xml')), [/^root element is 'alert' in namespace '\(none\)', expected 'alert' in urn:oasis:names:tc:emergency:cap:1\.2$/]);
  t.match(await refused('<feed xmlns="http://www.w3.org/2005/Atom"/>'), [/^root element is 'feed' in namespace 'http:\/\/www\.w3\.org\/2005\/Atom'/]);
  t.match(await refused(fixture('hostile/sent-no-timezone.xml')), [/^line 5: sent: '2026-11-21T05:30:00' is not a CAP dateTime \(YYYY-MM-DDThh:mm:ss with a mandatory ±hh:mm offset\)$/]);
  t.match(await refused(fixture('hostile/sent-utc-z.xml')), [/^line 5: sent: '2026-11-20T22:30:00Z' is not a CAP dateTime/]);
  t.match(await refused(fixture('hostile/invalid-status.xml')), [/^line 6: Element 'status': \[facet 'enumeration'\] The value 'Real' is not an element of the set/]);
  t.same(await refused(fixture('hostile/identifier-with-comma.xml')), ["identifier: 'VN,QT 7' contains a space, comma, '<' or '&' (CAP 1.2 §3.2.1)"]);
  t.same(await refused(fixture('hostile/bad-reference.xml')), ["references: 'canhbao@pctt.quangtri.gov.vn,VN-QT-PCTT-2026-1121-001' is not sender,identifier,sent"]);
  t.match(await refused(fixture('hostile/not-well-formed.xml')), [/^not well-formed XML: line \d+: /]);
  t.same(await refused(fixture('hostile/billion-laughs.xml')), ['DOCTYPE declarations are not allowed (entity expansion and external entities)']);
  t.same(await refused(fixture('hostile/xxe.xml')), ['DOCTYPE declarations are not allowed (entity expansion and external entities)']);
  t.same(await refused('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><!ENTITY x "y"></alert>'), ['ENTITY declarations are not allowed']);
  t.same(await refused(Buffer.alloc(0)), ['document is empty']);
  // Random bytes: invalid UTF-8 or, by chance, text that is not XML. Either way a reason, never a throw.
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 251));
  const g = await refused(garbage);
  t.equal(g.length, 1);
  t.match(g[0], /^(document is not valid UTF-8 text|not well-formed XML: )/);
  t.match(await refused('hello, not xml'), [/^not well-formed XML: /]);
  t.same(await refused('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alert><alert/>'), ['document has more than one root element']);
});

t.test('CAP allows what the lifecycle decides: missing expires, unknown references', async (t) => {
  const noExpiry = await parsed(t, fixture('hostile/missing-expires.xml'));
  t.equal(noExpiry.info[0]!.expiresMs, undefined);
  t.notOk('expiresMs' in noExpiry.info[0]!, 'absent, not null');
  const unknown = await parsed(t, fixture('hostile/unknown-reference.xml'));
  t.same(unknown.references, [{ sender: 'someone@elsewhere.example', identifier: 'NEVER-SEEN-42', sentMs: utc('2026-01-01T00:00:00Z') }]);
});

t.test('elements are CAP\'s by namespace, not by name', async (t) => {
  // The schema admits any XML-DSig element at the end of alert: a ds:info or ds:references there is not CAP's.
  const cancel = fixture('vi/flood-cancel.xml').toString('utf8');
  const smuggled = cancel.replace('</alert>', `<ds:info xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:event>Giả mạo</ds:event></ds:info>
  <ds:incidents xmlns:ds="http://www.w3.org/2000/09/xmldsig#">FAKE-1</ds:incidents></alert>`);
  const parsedCancel = await parsed(t, smuggled);
  t.same(parsedCancel.info, [], 'no info appears');
  t.same(parsedCancel.incidents, [], 'no incidents appear');
  // Another prefix bound to the CAP namespace on a child is still CAP.
  const rebound = fixture('oasis/earthquake.xml').toString('utf8').replace('<info>', '<c:info xmlns:c="urn:oasis:names:tc:emergency:cap:1.2" xmlns="urn:oasis:names:tc:emergency:cap:1.2">').replace('</info>', '</c:info>');
  t.equal((await parsed(t, rebound)).info[0]!.headline, 'EQ 3.4 Imperial County CA');
});

t.test('size bounds: the document, then each inline resource', async (t) => {
  const base = fixture('vi/flood-warning.xml').toString('utf8');
  // 2 MB: refused before any parsing, whatever it holds.
  const big = base.replace('<note>', '').replace('</description>', 'x'.repeat(2 * 1024 * 1024) + '</description>');
  t.same(await refused(big), [`document is ${Buffer.byteLength(big)} bytes, over the 524288-byte bound`]);
  t.equal((await parsed(t, big, { maxBytes: 4 * 1024 * 1024 })).info[0]!.description!.length > 2 * 1024 * 1024, true, 'a raised bound admits it');

  // A 10 MB resource inline: refused by the resource bound even when the document bound admits it.
  const tenMiB = Buffer.alloc(10 * 1024 * 1024, 7).toString('base64');
  const withResource = base.replace(/<derefUri>[^<]*<\/derefUri>/, `<derefUri>${tenMiB}</derefUri>`);
  t.same(await refused(withResource), [`document is ${Buffer.byteLength(withResource)} bytes, over the 524288-byte bound`], 'default document bound first');
  t.same(await refused(withResource, { maxBytes: 16 * 1024 * 1024 }), ['info[1].resource[1].derefUri: 10485760 bytes decoded, over the 8388608-byte bound']);
  t.same(await refused(base.replace(/<derefUri>[^<]*<\/derefUri>/, '<derefUri>not*base64!</derefUri>')), ['info[1].resource[1].derefUri: not base64']);
  const small = Buffer.alloc(300 * 1024, 1).toString('base64');
  const ok = await parsed(t, base.replace(/<derefUri>[^<]*<\/derefUri>/, `<derefUri>${small.replace(/(.{76})/g, '$1\n')}</derefUri>`));
  t.equal(Buffer.from(ok.info[0]!.resources[0]!.derefUri!, 'base64').length, 300 * 1024, 'line-wrapped base64 is joined');
});

t.test('prepareCapText is the shared guard', async (t) => {
  t.same(prepareCapText('<a/>', 3), { ok: false, errors: ['document is 4 bytes, over the 3-byte bound'] });
  t.same(prepareCapText('<?xml version="1.0" encoding="utf-16"?><a/>'), { ok: true, text: '<?xml version="1.0" encoding="UTF-8"?><a/>' });
});

t.test('the schema validator recovers from a run past its deadline', async (t) => {
  const xsd = readFileSync(new URL('../src/alerts/cap/CAP-v1.2.xsd', import.meta.url), 'utf8');
  const text = fixture('oasis/earthquake.xml').toString('utf8');
  const hurried = new SchemaValidator(() => xsd, 1);
  t.teardown(() => hurried.close());
  await t.rejects(hurried.validate(text, 512), /schema validation took over 1 ms/);
  const patient = new SchemaValidator(() => xsd);
  t.teardown(() => patient.close());
  t.same(await patient.validate(text, 512), { valid: true, errors: [] });
  const invalid = await patient.validate(text.replace('<status>Actual</status>', '<status>Real</status>'), 512);
  t.equal(invalid.valid, false);
  t.match(invalid.errors[0], /^alert\.xml:6: Schemas validity error : Element '\{urn:oasis:names:tc:emergency:cap:1\.2\}status'/);
  t.same(await patient.validate(text, 512), { valid: true, errors: [] }, 'the same worker goes on');
  const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => patient.validate(i % 2 ? text : text.replace('<status>Actual</status>', '<status>Real</status>'), 512)));
  t.same(burst.map((r) => r.valid), [false, true, false, true, false, true], 'a burst is answered in order, each its own');
  const closing = t.rejects(patient.validate(text, 512), /schema validator closed/);
  await patient.close();
  await closing;
  t.same(await patient.validate(text, 512), { valid: true, errors: [] }, 'usable again after close');
});
