/**
 * A national CAP feed, polled: an Atom or RSS index over http(s) whose
 * entries point at CAP 1.2 documents signed with XML-DSig by a pinned key.
 *
 * Public API (stable):
 *   new CapFeed(opts).start() / .stop() / .pollOnce() / .status() / .seenKeys()
 *   capSeenKey(alert) — "sender,identifier,sent" as CAP references name a message
 *   parseFeedIndex(xml, baseUrl) — the entries of an Atom or RSS index (pure)
 *   nextPollDelayMs(failures, intervalMs, maxBackoffMs) — the backoff (pure)
 *
 * Each new entry's document is downloaded (bounded in bytes and time),
 * verified against the pinned keys, and only what the signature covers is
 * parsed and handed to onAlert. Messages are remembered by CAP's own triple
 * (sender, identifier, sent) in a bounded set the caller may preload and
 * persist; index entries are remembered by id, update time and link, so an
 * unchanged index costs one request. A document refused for its content is
 * not fetched again until its entry changes; one that failed in transport is
 * retried on the next poll. Index failures back off exponentially. Nothing
 * escapes the timer; logs say transitions, not repeats.
 */
import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import type { CapAlert } from '../alert.js';
import type { Logger } from '../../lib/logger.js';
import { DEFAULT_MAX_CAP_BYTES, parseCap, prepareCapText } from './parse.js';
import { verifyCapSignature, type PinnedKeys } from './signature.js';

export interface CapFeedAlertMeta {
  origin: 'cap-feed';
  /** The document's URL. */
  url: string;
}

export interface CapFeedOptions {
  /** The Atom or RSS index, http: or https:. */
  url: string;
  pinned: PinnedKeys;
  onAlert: (alert: CapAlert, meta: CapFeedAlertMeta) => void | Promise<void>;
  /** A document refused for what it is (unsigned, forged, invalid, too large): for the operator's events. */
  onRefused?: (refusal: { url: string; errors: string[] }) => void;
  log: Logger;
  intervalMs?: number;
  maxBackoffMs?: number;
  /** Per request: connection, headers and body together. */
  timeoutMs?: number;
  maxIndexBytes?: number;
  maxDocumentBytes?: number;
  /** Decoded bytes of one inline resource (parseCap's maxResourceBytes). */
  maxResourceBytes?: number;
  /** Keys (capSeenKey) already handled, e.g. persisted by the caller. */
  seen?: Iterable<string>;
  /** Bound of the remembered messages and entries (oldest forgotten first). */
  maxSeen?: number;
  /**
   * Origins documents may come from (after redirects), e.g. "https://cdn.example.vn".
   * Default: the index's own origin only, so an unauthenticated index cannot send the
   * station to fetch from anywhere else.
   */
  documentOrigins?: string[];
  signal?: AbortSignal;
}

export interface CapFeedEntry {
  /** Atom id / RSS guid, or the link when there is none. */
  id: string;
  /** Atom updated / RSS pubDate, as sent ('' when absent). */
  updated: string;
  /** The CAP document, absolute. */
  url: string;
}

export interface CapFeedStatus {
  state: 'idle' | 'ok' | 'failing' | 'stopped';
  url: string;
  consecutiveFailures: number;
  lastError?: string;
  /** Monotonic ms (performance.now) of the last good index. */
  lastOkAt?: number;
  nextPollInMs?: number;
  delivered: number;
  refused: number;
}

export interface CapPollResult {
  delivered: number;
  refused: number;
  /** Documents whose download failed (retried next poll). */
  failed: number;
  /** Why the index itself failed, when it did. */
  error?: string;
}

export const DEFAULT_FEED_INTERVAL_MS = 60_000;
export const DEFAULT_FEED_MAX_BACKOFF_MS = 15 * 60_000;
export const DEFAULT_FEED_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_INDEX_BYTES = 1024 * 1024;
const DEFAULT_MAX_SEEN = 4096;
const MAX_ENTRIES_PER_POLL = 200;

export function capSeenKey(alert: Pick<CapAlert, 'sender' | 'identifier' | 'sentMs'>): string {
  return `${alert.sender},${alert.identifier},${new Date(alert.sentMs).toISOString()}`;
}

/** intervalMs after a good poll; then doubling per consecutive failure, capped. */
export function nextPollDelayMs(failures: number, intervalMs: number, maxBackoffMs: number): number {
  if (failures <= 0) return intervalMs;
  return Math.min(maxBackoffMs, intervalMs * 2 ** Math.min(failures, 30));
}

const INDEX_PARSER = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name) => name === 'entry' || name === 'item' || name === 'link' || name === 'enclosure',
});

/** Entries of an Atom feed or RSS 2.0 channel, their CAP links made absolute. Throws on what is not a feed. */
export function parseFeedIndex(xml: string, baseUrl: string): CapFeedEntry[] {
  const doc = INDEX_PARSER.parse(xml) as Record<string, unknown>;
  const text = (v: unknown): string => (typeof v === 'string' ? v.trim() : isRecord(v) && typeof v['#text'] === 'string' ? v['#text'].trim() : '');
  const entries: CapFeedEntry[] = [];
  const push = (id: string, updated: string, href: string): void => {
    if (!href) return;
    let url: string;
    try {
      url = new URL(href, baseUrl).href;
    } catch {
      return;
    }
    entries.push({ id: id || url, updated, url });
  };
  if (isRecord(doc.feed)) {
    for (const e of asRecords(doc.feed.entry)) {
      const links = asRecords(e.link);
      const href = (l: Record<string, unknown> | undefined): string => (typeof l?.['@_href'] === 'string' ? l['@_href'].trim() : '');
      const rel = (l: Record<string, unknown>): string => (typeof l['@_rel'] === 'string' ? l['@_rel'] : 'alternate');
      const capType = (l: Record<string, unknown>): boolean => typeof l['@_type'] === 'string' && /cap\+xml|xml/i.test(l['@_type']);
      const chosen = links.find((l) => rel(l) === 'alternate' && capType(l)) ?? links.find((l) => rel(l) === 'alternate') ?? links.find((l) => rel(l) === 'enclosure') ?? links[0];
      push(text(e.id), text(e.updated), href(chosen));
    }
    return entries;
  }
  const channel = isRecord(doc.rss) ? doc.rss.channel : undefined;
  if (isRecord(channel)) {
    for (const item of asRecords(channel.item)) {
      const enclosure = asRecords(item.enclosure)[0];
      const linkText = text(Array.isArray(item.link) ? item.link[0] : item.link);
      const href = (typeof enclosure?.['@_url'] === 'string' ? enclosure['@_url'].trim() : '') || linkText;
      push(text(item.guid), text(item.pubDate), href);
    }
    return entries;
  }
  throw new Error('index is neither an Atom feed nor an RSS channel');
}

class TransportError extends Error {}
/** The answer itself is unacceptable (too large, another origin): deterministic, not retried until the entry changes. */
class RefusedAnswer extends Error {}

export class CapFeed {
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly maxIndexBytes: number;
  private readonly maxDocumentBytes: number;
  private readonly maxSeen: number;
  private readonly documentOrigins: Set<string>;
  /** capSeenKey → sha256 of the signed XML delivered ('' when preloaded). */
  private readonly seen = new Map<string, string>();
  /** Entry (id, updated, url) → handled; a changed entry is a new key. */
  private readonly entries = new Set<string>();
  /** Documents whose download is failing: their failure is logged once, not every poll. */
  private readonly failingDocuments = new Set<string>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private polling: Promise<CapPollResult> | undefined;
  private failures = 0;
  private state: CapFeedStatus['state'] = 'idle';
  private lastError: string | undefined;
  private lastOkAt: number | undefined;
  private nextPollAt: number | undefined;
  private delivered = 0;
  private refused = 0;

  constructor(private readonly opts: CapFeedOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`CAP feed URL must be http or https: ${opts.url}`);
    this.intervalMs = opts.intervalMs ?? DEFAULT_FEED_INTERVAL_MS;
    this.maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_FEED_MAX_BACKOFF_MS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_FEED_TIMEOUT_MS;
    this.maxIndexBytes = opts.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES;
    this.maxDocumentBytes = opts.maxDocumentBytes ?? DEFAULT_MAX_CAP_BYTES;
    this.maxSeen = opts.maxSeen ?? DEFAULT_MAX_SEEN;
    this.documentOrigins = new Set((opts.documentOrigins ?? [url.origin]).map((o) => {
      const origin = new URL(o);
      if (origin.protocol !== 'http:' && origin.protocol !== 'https:') throw new Error(`CAP feed document origin must be http or https: ${o}`);
      return origin.origin;
    }));
    for (const key of opts.seen ?? []) this.remember(this.seen, key, '');
    if (opts.signal?.aborted) this.stop();
    else opts.signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** Polls now, then every interval (longer after failures) until stop(). */
  start(): void {
    if (this.running || this.abort.signal.aborted) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops polling and aborts a download in flight. Idempotent. */
  stop(): void {
    this.running = false;
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextPollAt = undefined;
    this.abort.abort();
  }

  status(): CapFeedStatus {
    return {
      state: this.state,
      url: this.opts.url,
      consecutiveFailures: this.failures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.lastOkAt !== undefined ? { lastOkAt: this.lastOkAt } : {}),
      ...(this.nextPollAt !== undefined ? { nextPollInMs: Math.max(0, Math.round(this.nextPollAt - performance.now())) } : {}),
      delivered: this.delivered,
      refused: this.refused,
    };
  }

  /** The remembered messages, oldest first, for the caller to persist and pass back as `seen`. */
  seenKeys(): string[] {
    return [...this.seen.keys()];
  }

  /** One poll; concurrent calls share it. Never rejects. */
  pollOnce(): Promise<CapPollResult> {
    this.polling ??= this.poll().finally(() => { this.polling = undefined; });
    return this.polling;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.nextPollAt = performance.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollOnce().then(() => this.schedule(nextPollDelayMs(this.failures, this.intervalMs, this.maxBackoffMs)));
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<CapPollResult> {
    const result: CapPollResult = { delivered: 0, refused: 0, failed: 0 };
    try {
      let entries: CapFeedEntry[];
      try {
        const body = await this.download(this.opts.url, this.maxIndexBytes, null);
        const prepared = prepareCapText(body, this.maxIndexBytes);
        if (!prepared.ok) throw new Error(prepared.errors[0]);
        entries = parseFeedIndex(prepared.text, this.opts.url);
      } catch (err) {
        if (this.abort.signal.aborted) return { ...result, error: 'stopped' };
        result.error = `index ${this.opts.url}: ${(err as Error).message}`;
        this.indexFailed(result.error);
        return result;
      }
      this.indexOk();
      const fresh = entries.map((entry) => ({ entry, entryKey: `${entry.id}\n${entry.updated}\n${entry.url}` }))
        .filter(({ entryKey }) => !this.entries.has(entryKey));
      // A flood of entries is worked through over several polls, not in one.
      for (const { entry, entryKey } of fresh.slice(0, MAX_ENTRIES_PER_POLL)) {
        if (this.abort.signal.aborted) break;
        const outcome = await this.handleEntry(entry);
        if (outcome === 'failed') { result.failed++; continue; }
        this.remember(this.entries, entryKey);
        if (outcome === 'delivered') result.delivered++;
        else if (outcome === 'refused') result.refused++;
      }
    } catch (err) {
      // Nothing from a poll may escape into the timer.
      this.opts.log.error({ err, feed: this.opts.url }, 'cap feed: poll failed unexpectedly');
      result.error = (err as Error).message;
    }
    return result;
  }

  private async handleEntry(entry: CapFeedEntry): Promise<'delivered' | 'refused' | 'duplicate' | 'failed'> {
    const { url } = entry;
    if (!this.documentOrigins.has(new URL(url).origin)) return this.refuse(url, [`document origin ${new URL(url).origin} is not one the feed may use`]);
    let body: Buffer;
    try {
      body = await this.download(url, this.maxDocumentBytes, this.documentOrigins);
    } catch (err) {
      if (err instanceof RefusedAnswer) return this.refuse(url, [err.message]);
      if (!this.abort.signal.aborted && !this.failingDocuments.has(url)) {
        this.remember(this.failingDocuments, url);
        this.opts.log.warn({ feed: this.opts.url, url, error: (err as Error).message }, 'cap feed: document download failed; retried next poll');
      }
      return 'failed';
    }
    if (this.failingDocuments.delete(url)) this.opts.log.info({ feed: this.opts.url, url }, 'cap feed: document downloaded again');
    const verified = verifyCapSignature(body, this.opts.pinned, { maxBytes: this.maxDocumentBytes });
    if (!verified.ok) return this.refuse(url, verified.errors);
    const parsed = await parseCap(verified.signedXml, {
      maxBytes: this.maxDocumentBytes,
      ...(this.opts.maxResourceBytes !== undefined ? { maxResourceBytes: this.opts.maxResourceBytes } : {}),
    });
    if (!parsed.ok) return this.refuse(url, parsed.errors);
    const key = capSeenKey(parsed.alert);
    const digest = createHash('sha256').update(verified.signedXml).digest('hex');
    const earlier = this.seen.get(key);
    if (earlier !== undefined) {
      if (earlier !== '' && earlier !== digest) {
        // CAP changes a message by a new one (Update/Cancel); new content under the old triple is not a message.
        return this.refuse(url, [`document changed under the same sender, identifier and sent (${key}); a change must be a new message`]);
      }
      return 'duplicate';
    }
    this.remember(this.seen, key, digest);
    this.delivered++;
    this.opts.log.info({ feed: this.opts.url, url, identifier: parsed.alert.identifier, msgType: parsed.alert.msgType, status: parsed.alert.status }, 'cap feed: alert received');
    try {
      await this.opts.onAlert(parsed.alert, { origin: 'cap-feed', url });
    } catch (err) {
      this.opts.log.error({ err, url, identifier: parsed.alert.identifier }, 'cap feed: alert handler failed');
    }
    return 'delivered';
  }

  private refuse(url: string, errors: string[]): 'refused' {
    this.refused++;
    this.opts.log.warn({ feed: this.opts.url, url, errors }, 'cap feed: document refused');
    try {
      this.opts.onRefused?.({ url, errors });
    } catch (err) {
      this.opts.log.error({ err, url }, 'cap feed: refusal handler failed');
    }
    return 'refused';
  }

  private indexOk(): void {
    if (this.state === 'failing') this.opts.log.info({ feed: this.opts.url, after: this.failures }, 'cap feed: index reachable again');
    else if (this.state === 'idle') this.opts.log.info({ feed: this.opts.url }, 'cap feed: polling');
    this.failures = 0;
    this.lastError = undefined;
    this.lastOkAt = performance.now();
    if (this.state !== 'stopped') this.state = 'ok';
  }

  private indexFailed(error: string): void {
    this.failures++;
    // A transition, or a different reason, is news; the same failure again is not.
    if (this.state !== 'failing' || this.lastError !== error) this.opts.log.warn({ feed: this.opts.url, error, failures: this.failures }, 'cap feed: index failed; backing off');
    this.lastError = error;
    if (this.state !== 'stopped') this.state = 'failing';
  }

  /**
   * GET with a byte bound (declared length refused up front, the stream cut at the bound; bytes
   * are counted after content decoding, so a gzip bomb is cut too) and one deadline; `origins`,
   * when given, bounds where redirects may end.
   */
  private async download(url: string, maxBytes: number, origins: Set<string> | null): Promise<Buffer> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([deadline, this.abort.signal]);
    try {
      const res = await fetch(url, { signal, redirect: 'follow', headers: { accept: 'application/cap+xml, application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.1' } });
      if (origins && !origins.has(new URL(res.url).origin)) {
        await res.body?.cancel().catch(() => undefined);
        throw new RefusedAnswer(`redirected to ${new URL(res.url).origin}, not an origin the feed may use`);
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new TransportError(`HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw new RefusedAnswer(`declared ${declared} bytes, over the ${maxBytes}-byte bound`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      if (res.body) {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > maxBytes) {
            await reader.cancel().catch(() => undefined);
            throw new RefusedAnswer(`more than ${maxBytes} bytes (cut at the bound)`);
          }
          chunks.push(Buffer.from(value));
        }
      }
      return Buffer.concat(chunks);
    } catch (err) {
      if (err instanceof RefusedAnswer || err instanceof TransportError) throw err;
      if (deadline.aborted) throw new TransportError(`no complete answer within ${this.timeoutMs} ms`);
      if (this.abort.signal.aborted) throw new TransportError('stopped');
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new TransportError(cause?.code ?? cause?.message ?? (err as Error).message);
    }
  }

  private remember(set: Map<string, string>, key: string, value: string): void;
  private remember(set: Set<string>, key: string): void;
  private remember(set: Map<string, string> | Set<string>, key: string, value?: string): void {
    if (set instanceof Map) set.set(key, value ?? '');
    else set.add(key);
    while (set.size > this.maxSeen) {
      const oldest = set.keys().next().value as string;
      set.delete(oldest);
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asRecords(v: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(v)) return v.filter(isRecord);
  return isRecord(v) ? [v] : [];
}
