import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlertResource } from './alert.js';

/**
 * An alert's audio made into files the content cache can import: a CAP
 * resource fetched by URL or decoded from its inline `derefUri`, bounded by
 * the size it declares and by a hard cap, and checked against its SHA-1
 * `digest` (CAP 1.2); or speech synthesised by espeak-ng, bounded in text
 * and time. Each file is written to a temp name, fsynced and renamed, so a
 * half file is never imported.
 */

export interface ResourceLimits {
  /** No resource larger than this, whatever it declares. */
  maxBytes: number;
  /** A download that has not finished in this long is abandoned. */
  timeoutMs: number;
}

export class AlertAudioError extends Error {}

/** Fetches (or decodes) a resource into `dir`; returns the file's path. Throws AlertAudioError naming what is wrong. */
export async function fetchResource(resource: AlertResource, dir: string, limits: ResourceLimits, signal?: AbortSignal): Promise<string> {
  const bound = Math.min(limits.maxBytes, resource.size ?? limits.maxBytes);
  let bytes: Buffer;
  if (resource.derefUri !== undefined) {
    // base64 is 4/3 of the bytes: refuse before decoding anything larger than allowed.
    if ((resource.derefUri.length * 3) / 4 > bound + 3) throw new AlertAudioError(`inline resource "${resource.description}" is larger than ${bound} bytes`);
    bytes = Buffer.from(resource.derefUri, 'base64');
  } else if (resource.uri !== undefined) {
    bytes = await download(resource.uri, bound, limits.timeoutMs, signal);
  } else {
    throw new AlertAudioError(`resource "${resource.description}" has neither uri nor derefUri`);
  }
  if (bytes.length > bound) throw new AlertAudioError(`resource "${resource.description}" is ${bytes.length} bytes, more than ${bound}`);
  if (resource.size !== undefined && bytes.length !== resource.size) throw new AlertAudioError(`resource "${resource.description}" is ${bytes.length} bytes, not the ${resource.size} it declares`);
  if (resource.digest !== undefined) {
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    if (sha1 !== resource.digest.toLowerCase()) throw new AlertAudioError(`resource "${resource.description}" does not match its digest (SHA-1 ${sha1}, declared ${resource.digest})`);
  }
  return writeDurably(dir, `resource-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`, bytes);
}

async function download(uri: string, bound: number, timeoutMs: number, outer?: AbortSignal): Promise<Buffer> {
  if (!/^https?:\/\//.test(uri)) throw new AlertAudioError(`resource URL ${uri.slice(0, 200)} is not http(s)`);
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(outer ? [outer] : [])]);
  let res: Response;
  try {
    res = await fetch(uri, { signal, redirect: 'follow' });
  } catch (err) {
    throw new AlertAudioError(`resource ${uri.slice(0, 200)} could not be fetched: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new AlertAudioError(`resource ${uri.slice(0, 200)}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length'));
  if (declared > bound) {
    await res.body.cancel();
    throw new AlertAudioError(`resource ${uri.slice(0, 200)} is ${declared} bytes, more than ${bound}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      // Stopped at the bound, whatever the server said: a 10 MB answer is never read whole.
      if (total > bound) throw new AlertAudioError(`resource ${uri.slice(0, 200)} is larger than ${bound} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof AlertAudioError) throw err;
    throw new AlertAudioError(`resource ${uri.slice(0, 200)} could not be fetched: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks);
}

export interface SpeechOptions {
  voice: string;
  maxChars: number;
  timeoutMs: number;
}

/** Speech for `text` by espeak-ng as a WAV file in `dir` (text cut to maxChars, at a word). */
export async function synthesise(text: string, dir: string, o: SpeechOptions): Promise<string> {
  const said = cutAtWord(text.replace(/\s+/g, ' ').trim(), o.maxChars);
  if (said === '') throw new AlertAudioError('nothing to say: the alert has no headline or text');
  await mkdir(dir, { recursive: true });
  const name = `speech-${createHash('sha256').update(`${o.voice}\n${said}`).digest('hex').slice(0, 16)}`;
  const tmp = join(dir, `${name}.tmp.wav`);
  await new Promise<void>((resolve, reject) => {
    // The text is an argument, never a shell string; "--" so a text starting with "-" is not an option.
    execFile('espeak-ng', ['-v', o.voice, '-w', tmp, '--', said], { timeout: o.timeoutMs }, (err, _out, stderr) => {
      if (err) reject(new AlertAudioError(`espeak-ng failed: ${(stderr || err.message).toString().trim().slice(0, 300)}`));
      else resolve();
    });
  });
  const path = join(dir, `${name}.wav`);
  await rename(tmp, path);
  return path;
}

function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return space > max / 2 ? cut.slice(0, space) : cut;
}

async function writeDurably(dir: string, name: string, bytes: Buffer): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  return path;
}

/** Removes a work file once the cache holds its content. */
export async function discard(path: string): Promise<void> {
  await rm(path, { force: true });
}
