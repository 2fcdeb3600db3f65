import { EventEmitter } from 'node:events';
import { isStorageFailure } from '../store/write-behind.js';
import { appendFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import type { Logger } from '../lib/logger.js';
import type { Level, RelayDriver } from './driver.js';

/**
 * A simulated GPIO bank for the demo, the tests and bench rigs without
 * relays. It behaves like real pins where it matters:
 *
 * - The levels live in a state file (the "hardware"), not in the process:
 *   they survive a crash or `kill -9` of the agent exactly as a latched pin
 *   does, and `read()` reads the file back, so a level changed by another
 *   process (`loa safe-off` after a crash) is what the agent sees.
 * - Every change of level is a transition, timestamped (wall clock,
 *   fractional milliseconds) when `write()` is called: kept in memory,
 *   emitted as a `transition` event, and appended to an optional journal
 *   (JSON lines) that the demo and `loa relay` show.
 * - Writing the level a line already has is not a transition.
 * - Faults can be injected from outside, as a broken line would show them:
 *   while the faults file (`relays-sim.faults.json`, `{"failWrites": [3]}`)
 *   names a line, every write to it fails with EIO and changes nothing.
 */
export interface Transition {
  /** Wall clock, fractional milliseconds. */
  atMs: number;
  line: number;
  level: Level;
  /** The output's name, when the driver was told it (journal readability). */
  name?: string;
}

export interface SimRelayDriverOptions {
  statePath: string;
  /** Appends each transition as one JSON line; rotated to `.1` past `journalMaxBytes`. */
  journalPath?: string;
  journalMaxBytes?: number;
  /** Output names by line, written into journal entries. */
  names?: ReadonlyMap<number, string>;
  /** Wall clock in fractional milliseconds; injectable for tests. */
  now?: () => number;
  /** Transitions kept in memory (oldest dropped first). */
  memoryLimit?: number;
  /** Where a failed journal append is reported (the journal never fails a write). */
  log?: Logger;
  /** Injected faults (`{"failWrites": [line, ...]}`), read at every write; absent file: none. */
  faultsPath?: string;
}

interface StateFile {
  version: 1;
  levels: Record<string, Level>;
}

export const DEFAULT_JOURNAL_MAX_BYTES = 256 * 1024;

export function simStatePath(stateDir: string): string {
  return join(stateDir, 'relays-sim.json');
}

export function simJournalPath(stateDir: string): string {
  return join(stateDir, 'relays-sim.jsonl');
}

export function simFaultsPath(stateDir: string): string {
  return join(stateDir, 'relays-sim.faults.json');
}

/** Wall clock with sub-millisecond resolution. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export class SimRelayDriver extends EventEmitter<{ transition: [Transition] }> implements RelayDriver {
  readonly kind = 'sim';
  private readonly opts: Required<Pick<SimRelayDriverOptions, 'now' | 'memoryLimit' | 'journalMaxBytes'>> & SimRelayDriverOptions;
  private readonly recorded: Transition[] = [];
  private claimed = new Set<number>();
  /** Serialises read-modify-write of the state file: transitions are applied in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The levels, while the state disk refuses the file (full, read-only). */
  private journalFailing = false;
  private unwritten: StateFile | null = null;

  constructor(opts: SimRelayDriverOptions) {
    super();
    this.opts = { now: preciseNow, memoryLimit: 10_000, journalMaxBytes: DEFAULT_JOURNAL_MAX_BYTES, ...opts };
  }

  /** Transitions recorded by this instance, oldest first. */
  get transitions(): readonly Transition[] {
    return this.recorded;
  }

  async open(lines: ReadonlyArray<{ line: number; initial: Level }>): Promise<void> {
    this.claimed = new Set(lines.map((l) => l.line));
    await this.serial(async () => {
      const state = await this.load();
      // A line never driven before has no level yet; claiming it as an
      // output and driving it is its first transition.
      const changed = lines.filter(({ line, initial }) => state.levels[line] !== initial).map(({ line, initial }) => this.transition(line, initial));
      if (changed.length > 0) await this.save(state, changed);
    });
  }

  async write(line: number, level: Level): Promise<void> {
    this.assertClaimed(line);
    const atMs = this.opts.now();
    await this.serial(async () => {
      if (this.opts.faultsPath && (await injectedWriteFaults(this.opts.faultsPath)).includes(line)) {
        throw Object.assign(new Error(`simulated GPIO line ${line}: write failed (EIO, fault injected by ${this.opts.faultsPath})`), { code: 'EIO' });
      }
      const state = await this.load();
      if (state.levels[line] === level) return;
      await this.save(state, [this.transition(line, level, atMs)]);
    });
  }

  async read(line: number): Promise<Level> {
    this.assertClaimed(line);
    // Waits for writes in flight, as a read after a write on a real pin would.
    return this.serial(async () => {
      const level = (await this.load()).levels[line];
      if (level === undefined) throw new Error(`simulated GPIO state file ${this.opts.statePath} has no level for line ${line} (deleted or damaged while the agent ran); the next write sets it again`);
      return level;
    });
  }

  async close(): Promise<void> {
    await this.queue;
    this.claimed.clear();
  }

  private assertClaimed(line: number): void {
    if (!this.claimed.has(line)) throw new Error(`simulated GPIO line ${line} was not opened as an output`);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transition(line: number, level: Level, atMs = this.opts.now()): Transition {
    const name = this.opts.names?.get(line);
    return name === undefined ? { atMs, line, level } : { atMs, line, level, name };
  }

  /** Reads the "hardware". A missing or unreadable file means no line has a level yet. */
  private async load(): Promise<StateFile> {
    // Real pins do not need the disk: while it refuses the file, the levels live here.
    if (this.unwritten) return structuredClone(this.unwritten);
    let text: string;
    try {
      text = await readFile(this.opts.statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, levels: {} };
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as Partial<StateFile>;
      const levels: Record<string, Level> = {};
      for (const [k, v] of Object.entries(parsed.levels ?? {})) if (v === 0 || v === 1) levels[k] = v;
      return { version: 1, levels };
    } catch {
      // Only reachable if something other than writeFileAtomic wrote it;
      // the pins are then unknown, and the next write replaces the file.
      return { version: 1, levels: {} };
    }
  }

  private async save(state: StateFile, changes: Transition[]): Promise<void> {
    for (const { line, level } of changes) state.levels[line] = level;
    try {
      await writeFileAtomic(this.opts.statePath, `${JSON.stringify(state)}\n`);
      this.unwritten = null;
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      if (!this.unwritten) this.opts.log?.warn({ err: (err as Error).message, path: this.opts.statePath }, 'relay simulator: its state file cannot be written (the disk); the levels are kept in memory');
      this.unwritten = structuredClone(state);
    }
    // Recorded only once the "hardware" holds the level: a failed write is no transition.
    for (const t of changes) {
      this.recorded.push(t);
      if (this.recorded.length > this.opts.memoryLimit) this.recorded.shift();
      this.emit('transition', t);
    }
    if (this.opts.journalPath) {
      // Said when appends start failing (a full disk fails every one), and when they work again.
      await this.journal(this.opts.journalPath, changes).then(
        () => {
          if (this.journalFailing) this.opts.log?.info({ path: this.opts.journalPath }, 'relay simulator journal appends work again');
          this.journalFailing = false;
        },
        (err: Error) => {
          if (!this.journalFailing) this.opts.log?.warn({ err: err.message, path: this.opts.journalPath }, 'relay simulator journal append failed');
          this.journalFailing = true;
        },
      );
    }
  }

  private async journal(path: string, changes: Transition[]): Promise<void> {
    const lines = changes.map((t) => `${JSON.stringify(t)}\n`).join('');
    const size = await stat(path).then((s) => s.size, () => 0);
    if (size + lines.length > this.opts.journalMaxBytes) await rename(path, `${path}.1`).catch(() => undefined);
    await appendFile(path, lines);
  }
}

/** Lines whose writes fail now, per the faults file; an absent or unreadable file injects nothing. */
async function injectedWriteFaults(path: string): Promise<number[]> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { failWrites?: unknown };
    return Array.isArray(parsed.failWrites) ? parsed.failWrites.filter((n): n is number => typeof n === 'number') : [];
  } catch {
    return [];
  }
}

/** Reads a simulator journal (current file only), oldest first; malformed lines are skipped. */
export async function readSimJournal(path: string): Promise<Transition[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Transition[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const t = JSON.parse(line) as Transition;
      if (typeof t.atMs === 'number' && typeof t.line === 'number' && (t.level === 0 || t.level === 1)) out.push(t);
    } catch {
      // A line cut short by a power loss.
    }
  }
  return out;
}
