/**
 * CAP 1.2 documents in: bounded, validated against the OASIS schema, parsed
 * into a `CapAlert` (alerts/alert.ts).
 *
 * Public API (stable):
 *   parseCap(xml, opts?) → Promise<{ ok: true; alert } | { ok: false; errors }>
 *   prepareCapText(xml, maxBytes?) → the bounded, decoded, DOCTYPE-free text (or errors)
 *   parseCapDateTime(text) → epoch ms, or undefined when it is not a CAP dateTime
 *   CAP_NAMESPACE, DEFAULT_MAX_CAP_BYTES, DEFAULT_MAX_RESOURCE_BYTES
 *
 * Order matters for hostile input: the byte bound first, then the text
 * encoding, then any DOCTYPE/ENTITY declaration is refused (no entity is ever
 * expanded, nothing external is ever read), then well-formedness and the
 * namespace, then the inline resource bound, and only then the schema (which
 * runs libxml2 in WebAssembly, so its memory is bounded by the document's).
 * Errors are short English sentences naming the element and the value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type {
  AlertArea, AlertCertainty, AlertInfo, AlertMsgType, AlertReference, AlertResource, AlertScope,
  AlertSeverity, AlertStatus, AlertUrgency, CapAlert, NamedValue,
} from '../alert.js';
import { LOA_ROOT } from '../../version.js';
import { SchemaValidator } from './schema.js';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';
/** A CAP document larger than this is refused before it is looked at. */
export const DEFAULT_MAX_CAP_BYTES = 512 * 1024;
/** One inline resource (`derefUri`), decoded. */
export const DEFAULT_MAX_RESOURCE_BYTES = 8 * 1024 * 1024;

export interface CapParseOptions {
  /** Bytes of the whole document (default 512 KiB). */
  maxBytes?: number;
  /** Decoded bytes of one `derefUri` (default 8 MiB). */
  maxResourceBytes?: number;
}

export type CapParseResult = { ok: true; alert: CapAlert } | { ok: false; errors: string[] };
export type CapTextResult = { ok: true; text: string } | { ok: false; errors: string[] };

/** The schema is in the source tree next to this file; dist/ has only compiled .ts, so resolve from the package root. */
const XSD_PATH = join(LOA_ROOT, 'agent', 'src', 'alerts', 'cap', 'CAP-v1.2.xsd');
let xsdText: string | undefined;
function capSchema(): string {
  xsdText ??= readFileSync(XSD_PATH, 'utf8');
  return xsdText;
}
/** One warm validator for the process: loaded on first use, kept (see schema.ts). */
const validator = new SchemaValidator(capSchema);

const MAX_ERRORS = 10;

/**
 * The document as text, or why it is refused: over the byte bound, not
 * UTF-8/UTF-16, or carrying a DOCTYPE or ENTITY declaration. The XML
 * declaration's encoding is rewritten to UTF-8 since the text is decoded.
 */
export function prepareCapText(xml: string | Buffer, maxBytes: number = DEFAULT_MAX_CAP_BYTES): CapTextResult {
  const bytes = typeof xml === 'string' ? Buffer.byteLength(xml, 'utf8') : xml.length;
  if (bytes > maxBytes) return fail(`document is ${bytes} bytes, over the ${maxBytes}-byte bound`);
  if (bytes === 0) return fail('document is empty');
  let text: string;
  if (typeof xml === 'string') {
    text = xml;
  } else {
    const decoded = decodeBytes(xml);
    if (!decoded.ok) return decoded;
    text = decoded.text;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (/<!DOCTYPE/i.test(text)) return fail('DOCTYPE declarations are not allowed (entity expansion and external entities)');
  if (/<!ENTITY/i.test(text)) return fail('ENTITY declarations are not allowed');
  const declared = /^<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/.exec(text);
  if (declared) {
    const enc = declared[1]!.toLowerCase();
    if (enc !== 'utf-8' && enc !== 'utf8' && enc !== 'utf-16' && enc !== 'utf-16le' && enc !== 'utf-16be') {
      return fail(`encoding '${declared[1]}' is not supported (UTF-8 or UTF-16 only)`);
    }
    if (enc !== 'utf-8') text = text.replace(declared[0], declared[0].replace(declared[1]!, 'UTF-8'));
  }
  return { ok: true, text };
}

function decodeBytes(buf: Buffer): CapTextResult {
  let encoding: 'utf-8' | 'utf-16le' | 'utf-16be' = 'utf-8';
  let body = buf;
  if (buf[0] === 0xff && buf[1] === 0xfe) { encoding = 'utf-16le'; body = buf.subarray(2); }
  else if (buf[0] === 0xfe && buf[1] === 0xff) { encoding = 'utf-16be'; body = buf.subarray(2); }
  else if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) body = buf.subarray(3);
  // UTF-16 without a byte order mark: "<?" as 00 3C 00 3F or 3C 00 3F 00.
  else if (buf[0] === 0x00 && buf[1] === 0x3c) encoding = 'utf-16be';
  else if (buf[0] === 0x3c && buf[1] === 0x00) encoding = 'utf-16le';
  try {
    return { ok: true, text: new TextDecoder(encoding, { fatal: true }).decode(body) };
  } catch {
    return fail(`document is not valid ${encoding.toUpperCase()} text`);
  }
}

/**
 * CAP dateTime to epoch ms: "2003-06-17T14:57:00-07:00". The offset is
 * mandatory (CAP 1.2 §3.3.2; "Z" is not allowed, UTC is "-00:00" or
 * "+00:00"); a time without one, or any out-of-range field, is undefined.
 */
export function parseCapDateTime(text: string): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, sign, oh, om] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), m[7], Number(m[8]), Number(m[9])];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59 || oh > 14 || om > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d > daysInMonth) return undefined;
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const offsetMs = (oh * 60 + om) * 60_000;
  return sign === '+' ? local - offsetMs : local + offsetMs;
}

/** Parses, validates and converts one CAP 1.2 document. Never throws. */
export async function parseCap(xml: string | Buffer, opts: CapParseOptions = {}): Promise<CapParseResult> {
  try {
    return await parseCapUnguarded(xml, opts);
  } catch (err) {
    // A parser bug must not become an exception in a listener: it is one more refusal.
    return fail(`CAP document could not be processed: ${(err as Error).message.split('\n')[0]}`);
  }
}

async function parseCapUnguarded(xml: string | Buffer, opts: CapParseOptions): Promise<CapParseResult> {
  const prepared = prepareCapText(xml, opts.maxBytes ?? DEFAULT_MAX_CAP_BYTES);
  if (!prepared.ok) return prepared;
  const text = prepared.text;

  const wellFormed = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (wellFormed !== true) return fail(`not well-formed XML: line ${wellFormed.err.line}: ${wellFormed.err.msg}`);

  const doc = XML_PARSER.parse(text) as Record<string, unknown>;
  const rootKeys = Object.keys(doc).filter((k) => !k.startsWith('?'));
  if (rootKeys.length !== 1) return fail('document has no single root element');
  const rootTag = rootKeys[0]!;
  const root = doc[rootTag];
  if (Array.isArray(root)) return fail('document has more than one root element');
  const [prefix, local] = splitTag(rootTag);
  const rootEl: El = { node: root, scope: scopeOf(root, new Map()) };
  const ns = rootEl.scope.get(prefix);
  if (local !== 'alert' || ns !== CAP_NAMESPACE) {
    return fail(`root element is '${local}' in namespace '${ns ?? '(none)'}', expected 'alert' in ${CAP_NAMESPACE}`);
  }

  const resourceErrors = checkInlineResources(rootEl, opts.maxResourceBytes ?? DEFAULT_MAX_RESOURCE_BYTES);
  if (resourceErrors.length) return { ok: false, errors: resourceErrors };

  const schemaErrors = await validateAgainstSchema(text);
  if (schemaErrors.length) return { ok: false, errors: schemaErrors };

  return convertAlert(rootEl);
}

const REPEATED = new Set(['code', 'info', 'category', 'responseType', 'eventCode', 'parameter', 'resource', 'area', 'polygon', 'circle', 'geocode']);

const XML_PARSER = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  // Only XML's five predefined entities and character references; a DOCTYPE never gets this far.
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
  isArray: (name) => REPEATED.has(localName(name)),
});

async function validateAgainstSchema(text: string): Promise<string[]> {
  const bytes = Buffer.byteLength(text, 'utf8');
  // libxml2 in wasm: room for the document several times over, at least 32 MiB.
  const pages = Math.max(512, Math.ceil((bytes * 8) / 65536) + 256);
  try {
    const result = await validator.validate(text, pages);
    if (result.valid) return [];
    const errors = result.errors.slice(0, MAX_ERRORS).map(schemaMessage);
    return errors.length ? errors : ['CAP 1.2 schema: document is not valid'];
  } catch (err) {
    return [`CAP 1.2 schema validation failed to run: ${(err as Error).message.split('\n')[0]}`];
  }
}

const DATE_ELEMENTS = new Set(['sent', 'effective', 'onset', 'expires']);

/** libxml2's message, shortened: no namespace braces, the line, and plain words for a dateTime without offset. */
function schemaMessage(raw: string): string {
  const located = /^alert\.xml:(\d+):\s*(.*)$/.exec(raw);
  const at = located ? `line ${located[1]}: ` : '';
  const body = (located ? located[2]! : raw).replace(/^Schemas validity error\s*:\s*/, '').replaceAll(`{${CAP_NAMESPACE}}`, '');
  const dated = /^Element '([A-Za-z]+)': (?:\[facet 'pattern'\] The value '([^']*)'|'([^']*)' is not a valid value of the atomic type 'xs:dateTime')/.exec(body);
  if (dated && DATE_ELEMENTS.has(dated[1]!)) {
    return `${at}${dated[1]}: '${dated[2] ?? dated[3]}' is not a CAP dateTime (YYYY-MM-DDThh:mm:ss with a mandatory ±hh:mm offset)`;
  }
  return `${at}${body}`;
}

/** Each `derefUri` against the decoded bound, before the schema validator holds the whole document. */
function checkInlineResources(root: El, maxBytes: number): string[] {
  const errors: string[] = [];
  kids(root, 'info').forEach((info, i) => {
    kids(info, 'resource').forEach((res, j) => {
      const deref = kids(res, 'derefUri')[0];
      if (deref === undefined) return;
      const b64 = textOf(deref).replace(/\s+/g, '');
      const decoded = Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
      const path = `info[${i + 1}].resource[${j + 1}].derefUri`;
      if (decoded > maxBytes) errors.push(`${path}: ${decoded} bytes decoded, over the ${maxBytes}-byte bound`);
      else if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) errors.push(`${path}: not base64`);
    });
  });
  return errors.slice(0, MAX_ERRORS);
}

/** Schema-valid tree to CapAlert; what the schema cannot say (offsets, reference syntax, identifier characters) is checked here. */
function convertAlert(root: El): CapParseResult {
  const errors: string[] = [];
  const str = (el: El, name: string): string | undefined => {
    const first = kids(el, name)[0];
    const v = first === undefined ? '' : textOf(first);
    return v !== '' ? v : undefined;
  };
  const req = (el: El, name: string): string => {
    const first = kids(el, name)[0];
    return first === undefined ? '' : textOf(first);
  };
  const time = (el: El, name: string, path: string): number | undefined => {
    const v = str(el, name);
    if (v === undefined) return undefined;
    const ms = parseCapDateTime(v);
    if (ms === undefined) errors.push(`${path}: '${v}' is not a CAP dateTime with offset`);
    return ms;
  };
  const named = (el: El, name: string): NamedValue[] =>
    kids(el, name).map((nv) => ({ valueName: req(nv, 'valueName'), value: req(nv, 'value') }));
  const list = (el: El, name: string): string[] => kids(el, name).map(textOf);

  const identifier = req(root, 'identifier');
  const sender = req(root, 'sender');
  for (const [name, value] of [['identifier', identifier], ['sender', sender]] as const) {
    if (value === '') errors.push(`${name}: empty`);
    else if (/[\s,<&]/.test(value)) errors.push(`${name}: '${value}' contains a space, comma, '<' or '&' (CAP 1.2 §3.2.1)`);
  }
  const sentMs = time(root, 'sent', 'sent');

  const references: AlertReference[] = [];
  for (const triple of (str(root, 'references') ?? '').split(/\s+/).filter(Boolean)) {
    const parts = triple.split(',');
    const refSent = parts.length === 3 ? parseCapDateTime(parts[2]!) : undefined;
    if (parts.length !== 3 || !parts[0] || !parts[1] || refSent === undefined) {
      errors.push(`references: '${triple}' is not sender,identifier,sent`);
      continue;
    }
    references.push({ sender: parts[0], identifier: parts[1], sentMs: refSent });
  }

  const info: AlertInfo[] = kids(root, 'info').map((node, i) => {
    const at = `info[${i + 1}]`;
    const resources: AlertResource[] = kids(node, 'resource').map((r) => {
      const size = str(r, 'size');
      const deref = str(r, 'derefUri');
      return {
        description: req(r, 'resourceDesc'),
        mimeType: req(r, 'mimeType'),
        ...(size !== undefined ? { size: Number(size) } : {}),
        ...optional('uri', str(r, 'uri')),
        ...(deref !== undefined ? { derefUri: deref.replace(/\s+/g, '') } : {}),
        ...optional('digest', str(r, 'digest')),
      };
    });
    const areas: AlertArea[] = kids(node, 'area').map((a) => ({
      areaDesc: req(a, 'areaDesc'),
      polygons: list(a, 'polygon'),
      circles: list(a, 'circle'),
      geocodes: named(a, 'geocode'),
    }));
    return {
      language: str(node, 'language') ?? 'en-US',
      categories: list(node, 'category'),
      event: req(node, 'event'),
      responseTypes: list(node, 'responseType'),
      urgency: req(node, 'urgency') as AlertUrgency,
      severity: req(node, 'severity') as AlertSeverity,
      certainty: req(node, 'certainty') as AlertCertainty,
      eventCodes: named(node, 'eventCode'),
      ...optional('effectiveMs', time(node, 'effective', `${at}.effective`)),
      ...optional('onsetMs', time(node, 'onset', `${at}.onset`)),
      ...optional('expiresMs', time(node, 'expires', `${at}.expires`)),
      ...optional('senderName', str(node, 'senderName')),
      ...optional('headline', str(node, 'headline')),
      ...optional('description', str(node, 'description')),
      ...optional('instruction', str(node, 'instruction')),
      ...optional('web', str(node, 'web')),
      ...optional('contact', str(node, 'contact')),
      parameters: named(node, 'parameter'),
      resources,
      areas,
    };
  });

  if (errors.length || sentMs === undefined) return { ok: false, errors: errors.length ? errors.slice(0, MAX_ERRORS) : ['sent: missing'] };
  return {
    ok: true,
    alert: {
      identifier,
      sender,
      sentMs,
      status: req(root, 'status') as AlertStatus,
      msgType: req(root, 'msgType') as AlertMsgType,
      ...optional('source', str(root, 'source')),
      scope: req(root, 'scope') as AlertScope,
      ...optional('restriction', str(root, 'restriction')),
      ...optional('addresses', str(root, 'addresses')),
      codes: list(root, 'code'),
      ...optional('note', str(root, 'note')),
      references,
      incidents: (str(root, 'incidents') ?? '').split(/\s+/).filter(Boolean),
      info,
    },
  };
}

function fail(error: string): { ok: false; errors: string[] } {
  return { ok: false, errors: [error] };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function localName(tag: string): string {
  return splitTag(tag)[1];
}

/** [prefix ('' for none), local name]. */
function splitTag(tag: string): [string, string] {
  const i = tag.indexOf(':');
  return i < 0 ? ['', tag] : [tag.slice(0, i), tag.slice(i + 1)];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** In-scope namespace prefixes ('' is the default namespace). */
type Scope = ReadonlyMap<string, string>;
/** An element of the parsed tree with the namespaces in scope at it. */
interface El {
  node: unknown;
  scope: Scope;
}

function scopeOf(node: unknown, parent: Scope): Scope {
  if (!isRecord(node)) return parent;
  let scope: Map<string, string> | undefined;
  for (const key of Object.keys(node)) {
    if (key !== '@_xmlns' && !key.startsWith('@_xmlns:')) continue;
    scope ??= new Map(parent);
    scope.set(key === '@_xmlns' ? '' : key.slice('@_xmlns:'.length), String(node[key]));
  }
  return scope ?? parent;
}

/**
 * The children named `name` in the CAP namespace, resolved by prefix in scope:
 * the schema admits XML-DSig elements at the end of `alert`, and a ds:info or
 * ds:references there must never be read as CAP's.
 */
function kids(parent: El, name: string): El[] {
  const out: El[] = [];
  if (!isRecord(parent.node)) return out;
  for (const key of Object.keys(parent.node)) {
    if (key.startsWith('@_') || key === '#text') continue;
    const [prefix, local] = splitTag(key);
    if (local !== name) continue;
    const value = parent.node[key];
    for (const node of Array.isArray(value) ? value : [value]) {
      const scope = scopeOf(node, parent.scope);
      if (scope.get(prefix) === CAP_NAMESPACE) out.push({ node, scope });
    }
  }
  return out;
}

/** Text content of a simple element ('' when empty). */
function textOf(el: El): string {
  if (typeof el.node === 'string') return el.node;
  const text = isRecord(el.node) ? el.node['#text'] : undefined;
  return typeof text === 'string' ? text : '';
}
