import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import { Backoff } from '../lib/backoff.js';
import { MAX_TARGET_PARTS, type EventBody, type Reported, type TargetHead } from './protocol.js';
import { assembleTarget } from './target.js';
import type { Downloader } from './download.js';
import { activateTarget, readAppliedTarget, type AppliedTarget, type StationPort } from './station-port.js';
import { contentInUse, planApply, type ApplyStep, type WantedTarget } from './apply-plan.js';

/**
 * The target applier: parts and heads in, the station running the newest
 * valid target out. Invariants:
 * - a target is validated whole, its content downloaded, and only then
 *   committed in one transaction; until then the last good one stays in force;
 * - it is level-triggered: whatever the wanted target needs and the cache
 *   lacks is fetched again, at start, on every head, on `resync`, after a
 *   content problem, and on a backoff timer after a failure, until nothing differs;
 * - content of the wanted and the applied target is reported as in use, so
 *   eviction never deletes what a download in progress has already fetched.
 */

export interface TargetApplierOptions {
  db: Db;
  port: StationPort;
  log: Logger;
  downloader: Downloader;
  now: () => number;
  /** Delay before a failed run is tried again (full-jitter backoff). */
  retry: { initialMs: number; maxMs: number };
  random?: () => number;
  refuse: (reason: string, detail: Record<string, unknown>) => void;
  event: (event: string, level: EventBody['level'], message: string, data?: Record<string, unknown>) => void;
  /** Something the province sees in `reported` changed (0: report now). */
  changed: (delayMs?: number) => void;
  onPending: (p: NonNullable<Reported['pending']>) => void;
  onApplied: (version: number) => void;
}

export class TargetApplier {
  private applied: AppliedTarget | undefined;
  private wanted: WantedTarget | undefined;
  private head?: TargetHead;
  private pending?: Reported['pending'];
  private readonly parts = new Map<string, Buffer>();
  private readonly downloading = new Map<string, Reported['downloading'][number]>();
  private readonly backoff: Backoff;
  private running?: Promise<void>;
  private again = false;
  private abort?: { version: number; controller: AbortController };
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;
  /** Failures already reported in this streak, so a retry that fails the same way is not reported again. */
  private readonly reportedFailures = new Set<string>();
  lastSyncMs?: number;

  constructor(private readonly o: TargetApplierOptions) {
    this.applied = readAppliedTarget(o.db);
    // Half the ceiling at least: the content server just failed, trying again at once helps nobody; the other half spreads the fleet.
    const random = o.random ?? Math.random;
    this.backoff = new Backoff({ ...o.retry, random: () => 0.5 + 0.5 * random() });
  }

  status(): { applied?: AppliedTarget; pending?: Reported['pending']; downloading: Reported['downloading'] } {
    return {
      ...(this.applied ? { applied: this.applied } : {}),
      ...(this.pending ? { pending: this.pending } : {}),
      downloading: [...this.downloading.values()],
    };
  }

  get appliedTarget(): AppliedTarget | undefined {
    return this.applied;
  }

  /** Content the wanted and the applied target name: never to be evicted. */
  neededContent(): Set<string> {
    return contentInUse([this.wanted, this.applied]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.abort?.controller.abort(new Error('sync stopped'));
    await this.running;
  }

  onPart(name: string, payload: Buffer): void {
    const referenced = this.head?.parts.some((r) => r.name === name) ?? false;
    // Bounded: parts of versions nobody asks for are not hoarded.
    if (!referenced && !this.parts.has(name) && this.parts.size >= MAX_TARGET_PARTS) return this.o.refuse('part-overflow', { part: name });
    this.parts.set(name, payload);
    if (this.head && referenced && this.wanted?.version !== this.head.version && !this.refused(this.head.version)) this.tryAssemble();
  }

  /** A retained part cleared by the province. */
  onPartCleared(name: string): void {
    this.parts.delete(name);
  }

  onHead(head: TargetHead): void {
    const appliedVersion = this.applied?.version ?? 0;
    if (head.version < appliedVersion) return this.o.refuse('old-target', { version: head.version, applied: appliedVersion });
    if (this.head && head.version < this.head.version) return this.o.refuse('old-target', { version: head.version, pending: this.head.version });
    if (head.version === appliedVersion) this.lastSyncMs = this.o.now();
    // A newer head supersedes a target still downloading at once, before its own parts are in.
    if (this.abort && this.abort.version > appliedVersion && this.abort.version < head.version) this.abort.controller.abort(new Error(`superseded by version ${head.version}`));
    this.head = head;
    // Every head is a reason to look again, the same version included (retained, redelivered on reconnect).
    if (this.wanted?.version === head.version) this.reconcile(`target ${head.version} seen again`);
    else if (!this.refused(head.version)) this.tryAssemble();
  }

  /** A version already refused whole stays refused (reported once) until `resync`. */
  private refused(version: number): boolean {
    return this.pending?.state === 'rejected' && this.pending.version === version;
  }

  /** The province asked for everything again: forget what was received and compare at once. */
  resync(): void {
    this.parts.clear();
    delete this.head;
    delete this.pending;
    if (this.wanted && this.wanted.version > (this.applied?.version ?? 0)) this.wanted = undefined;
    this.backoff.reset();
    this.reconcile('resync');
  }

  /** Compares what the wanted target needs with what the station has, and fixes the difference. */
  reconcile(reason: string): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.again = true;
    if (this.running) return;
    this.running = this.run(reason)
      .catch((err: unknown) => this.o.log.error({ err }, 'target applier run failed'))
      .finally(() => {
        this.running = undefined;
        // A run that ended early (aborted) while another was asked for.
        if (this.again && !this.stopped) this.reconcile('asked again during a run');
      });
  }

  private tryAssemble(): void {
    const head = this.head;
    if (!head) return;
    const appliedVersion = this.applied?.version ?? 0;
    const isNew = head.version > appliedVersion;
    const r = assembleTarget(head, this.parts, this.o.port.describe().zones);
    if (r.state === 'incomplete') {
      if (isNew) this.setPending({ version: head.version, state: 'waiting-parts', errors: [`waiting for parts: ${r.missing.join(', ')}`] });
      else this.reconcile(`target ${head.version} seen again`);
      return;
    }
    if (r.state === 'invalid') {
      if (!isNew) return this.o.log.warn({ version: head.version, errors: r.errors.slice(0, 20) }, 'the applied target no longer validates; it stays in force');
      this.o.log.warn({ version: head.version, errors: r.errors.slice(0, 20) }, 'target refused; the last good one stays in force');
      this.setPending({ version: head.version, state: 'rejected', errors: r.errors.slice(0, 50) });
      this.o.event('target.rejected', 'error', `target version ${head.version} refused: ${r.errors.length} problem(s)`, { version: head.version, errors: r.errors.slice(0, 50) });
      return;
    }
    // Parts no longer referenced are dropped; the head pins what matters.
    for (const name of this.parts.keys()) if (!head.parts.some((p) => p.name === name)) this.parts.delete(name);
    this.want(isNew ? { version: head.version, content: r.target.content, target: r.target } : { version: head.version, content: r.target.content });
  }

  private want(w: WantedTarget): void {
    if (this.wanted?.version !== w.version) {
      this.backoff.reset();
      this.reportedFailures.clear();
      if (this.abort && this.abort.version !== w.version) this.abort.controller.abort(new Error(`superseded by version ${w.version}`));
    }
    this.wanted = w;
    this.reconcile(`target ${w.version}`);
  }

  private wantedNow(): WantedTarget | undefined {
    if (this.wanted) return this.wanted;
    return this.applied ? { version: this.applied.version, content: this.applied.content ?? [] } : undefined;
  }

  private async run(reason: string): Promise<void> {
    while (this.again && !this.stopped) {
      this.again = false;
      const wanted = this.wantedNow();
      if (!wanted) return;
      const appliedVersion = this.applied?.version ?? 0;
      const steps = planApply(wanted, { version: appliedVersion, ...(this.applied?.content ? { content: this.applied.content } : {}) }, (sha) => this.o.port.contentCache.has(sha));
      if (steps.length === 0) continue;
      const controller = new AbortController();
      this.abort = { version: wanted.version, controller };
      let ok = false;
      try {
        ok = await this.execute(wanted, steps, reason, controller.signal);
      } catch (err) {
        this.downloading.clear();
        if (controller.signal.aborted) continue;
        this.failed(wanted.version, wanted.version > appliedVersion, [(err as Error).message]);
      } finally {
        if (this.abort?.controller === controller) delete this.abort;
      }
      if (ok) {
        this.backoff.reset();
        this.reportedFailures.clear();
      } else if (!this.again && !this.stopped) {
        const delayMs = this.backoff.next();
        this.o.log.debug({ version: wanted.version, retryInMs: delayMs }, 'target not complete; trying again later');
        this.retryTimer = setTimeout(() => this.reconcile('retry after a failure'), delayMs);
        this.retryTimer.unref();
      }
    }
  }

  /** Runs the steps in order; false when one failed (reported), true when all were done. */
  private async execute(wanted: WantedTarget, steps: ApplyStep[], reason: string, signal: AbortSignal): Promise<boolean> {
    const { log, port, db } = this.o;
    const appliedVersion = this.applied?.version ?? 0;
    const isNew = wanted.version > appliedVersion;
    let complete = true;
    for (const step of steps) {
      if (step.kind === 'heal' || step.kind === 'fetch') {
        const forApplied = step.kind === 'heal' || !isNew;
        if (!forApplied) this.setPending({ version: wanted.version, state: 'downloading', errors: [] });
        // Logged when it starts, not at every retry of a failing streak (failed() reports changes).
        else if (this.reportedFailures.size === 0) log.info({ version: appliedVersion, content: step.entries.map((e) => e.sha256), reason }, 'fetching again content the applied target needs and the cache lacks');
        const failures = await this.o.downloader.fetchAll(step.entries, port.contentCache, signal, (p) => {
          this.downloading.set(p.sha256, p);
          this.o.changed();
        });
        this.downloading.clear();
        this.o.changed();
        signal.throwIfAborted();
        if (failures.length > 0) {
          this.failed(forApplied ? appliedVersion : wanted.version, !forApplied, failures.map((f) => `content ${f.name} (${f.sha256}): ${f.error}`));
          complete = false;
          if (step.kind === 'fetch') return false;
        }
      } else {
        const target = step.target;
        this.setPending({ version: target.version, state: 'activating', errors: [] });
        this.applied = activateTarget(db, target, this.o.now(), port.snapshot().clock.trusted);
        this.wanted = { version: target.version, content: target.content };
        delete this.pending;
        this.lastSyncMs = this.o.now();
        log.info({ version: target.version, programmes: target.programmes.length, content: target.content.length }, 'target applied');
        this.o.event('target.applied', 'info', `target version ${target.version} applied`, { version: target.version });
        port.onTargetActivated(target);
        this.o.onApplied(target.version);
        this.o.changed(0);
      }
    }
    return complete;
  }

  /** Reported once per kind of failure: the retries that fail the same way stay quiet. */
  private failed(version: number, isNew: boolean, errors: string[]): void {
    if (isNew) this.setPending({ version, state: 'failed', errors: errors.slice(0, 50) });
    const key = `${version}:${errors.join('\n')}`;
    if (this.reportedFailures.has(key)) return;
    this.reportedFailures.add(key);
    if (isNew) {
      this.o.log.warn({ version, errors }, 'target content could not be downloaded; the last good target stays in force');
      this.o.event('target.failed', 'error', `target version ${version}: ${errors.length} content file(s) could not be downloaded`, { version, errors: errors.slice(0, 50) });
    } else {
      this.o.log.warn({ version, errors }, 'content the applied target needs could not be fetched again');
      this.o.event('content.fetch-failed', 'error', `target version ${version}: ${errors.length} content file(s) the station lacks could not be fetched again`, { version, errors: errors.slice(0, 50) });
    }
  }

  private setPending(p: NonNullable<Reported['pending']>): void {
    this.pending = p;
    this.o.onPending(p);
    this.o.changed();
  }
}
