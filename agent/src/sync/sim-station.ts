import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandOutcome, ContentStore, StationCommand, StationPort, StationSnapshot } from './station-port.js';
import type { ValidatedTarget } from './target.js';

/**
 * A station with simulated hardware behind the real sync code: for the sync
 * tests, the provincial simulator's demo and the fleet bench. What it does
 * is observable (events, `commands`, `activated`), and it refuses what a
 * real station would refuse (unknown content or zone).
 */

/** Content kept as files named by SHA-256, checked on import. */
export class DirContentStore implements ContentStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  has(sha256: string): boolean {
    return existsSync(join(this.dir, sha256));
  }

  async import(srcPath: string, _name: string, expectedSha256: string): Promise<void> {
    const digest = createHash('sha256').update(await readFile(srcPath)).digest('hex');
    if (digest !== expectedSha256) throw new Error(`content hash is ${digest}, expected ${expectedSha256}`);
    await copyFile(srcPath, join(this.dir, expectedSha256));
  }

  count(): number {
    return readdirSync(this.dir).length;
  }
}

export interface SimulatedStationOptions {
  zones?: string[];
  cacheDir: string;
  clockTrusted?: boolean;
  software?: string;
}

export interface SeenCommand {
  cmd: StationCommand;
  /** performance.now() when it reached the station (for fan-out latency). */
  atMono: number;
}

export class SimulatedStation extends EventEmitter implements StationPort {
  readonly contentCache: DirContentStore;
  readonly activated: ValidatedTarget[] = [];
  readonly commands: SeenCommand[] = [];
  playing: StationSnapshot['playing'] = [];
  volume = 80;
  rebootRequested = false;
  /** What an `update` command does here (the rollout simulation plays a station's outcome); absent: refused. */
  onUpdate?: (commandId: string, a: Extract<StationCommand['action'], { action: 'update' }>) => CommandOutcome;
  faults: string[] = [];
  clockTrusted: boolean;
  private readonly zones: string[];

  constructor(private readonly opts: SimulatedStationOptions) {
    super();
    this.zones = opts.zones ?? ['zone-1', 'zone-2'];
    this.contentCache = new DirContentStore(opts.cacheDir);
    this.clockTrusted = opts.clockTrusted ?? true;
  }

  describe(): { zones: string[]; capabilities: string[]; software: string } {
    return { zones: this.zones, capabilities: ['play', 'stop', 'volume', 'relay-test', 'reboot', 'simulated'], software: this.opts.software ?? 'loa-sim' };
  }

  onTargetActivated(target: ValidatedTarget): void {
    this.activated.push(target);
    this.emit('activated', target);
  }

  async runCommand(cmd: StationCommand): Promise<CommandOutcome> {
    this.commands.push({ cmd, atMono: performance.now() });
    this.emit('command', cmd);
    const a = cmd.action;
    const zones = 'zones' in a && a.zones ? a.zones : this.zones;
    const unknown = zones.filter((z) => !this.zones.includes(z));
    if (unknown.length) return { status: 'rejected', reason: `no zone named ${unknown.join(', ')} on this station` };
    switch (a.action) {
      case 'play':
        if (!this.contentCache.has(a.content)) return { status: 'rejected', reason: `content ${a.content} is not in the cache` };
        this.playing = [{ source: 'province', id: cmd.id, content: a.content, priority: a.priority, zones: a.priority >= 9 ? this.zones : zones, startedMs: Date.now() }];
        return { status: 'done' };
      case 'live':
        this.playing = [{ source: 'province', id: cmd.id, priority: a.priority, zones: a.priority >= 9 ? this.zones : zones, startedMs: Date.now() }];
        return { status: 'done' };
      case 'stop':
        this.playing = a.commandId ? this.playing.filter((p) => p.id !== a.commandId) : [];
        return { status: 'done' };
      case 'volume':
        this.volume = a.volume;
        return { status: 'done' };
      case 'relay-test':
        // The zones stay switched on for the test's duration, as on a real station.
        await new Promise((r) => setTimeout(r, a.durationMs));
        return { status: 'done', result: { zones, durationMs: a.durationMs } };
      case 'reboot':
        this.rebootRequested = true;
        return { status: 'done' };
      case 'board-screenshot':
        return { status: 'rejected', reason: 'a simulated station has no board' };
      case 'report':
        return { status: 'rejected', reason: 'a simulated station keeps no records to report' };
      case 'alert':
        return { status: 'rejected', reason: 'a simulated station has no alert path' };
      case 'update':
        return this.onUpdate ? this.onUpdate(cmd.id, a) : { status: 'rejected', reason: 'a simulated station has no releases to switch' };
    }
  }

  snapshot(): StationSnapshot {
    return {
      playing: this.playing,
      faults: this.faults,
      clock: { trusted: this.clockTrusted, reason: this.clockTrusted ? 'ntp' : 'never-synced' },
    };
  }
}
