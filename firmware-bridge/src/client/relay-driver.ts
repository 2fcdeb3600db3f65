import type { Level, RelayDriver } from '../../../agent/src/relays/driver.js';
import type { Logger } from '../../../agent/src/lib/logger.js';
import type { BridgeClient } from './client.js';

function missingLines(lines: ReadonlyArray<{ line: number }>, relayCount: number): number[] | null {
  const beyond = lines.filter((l) => l.line >= relayCount).map((l) => l.line);
  return beyond.length > 0 ? beyond : null;
}

/**
 * The agent's relay bank served by the microcontroller: line numbers are
 * relay channels (0-15), levels are coil levels (1 = energised; the
 * microcontroller boots with every coil at 0). The client remembers every
 * level written and restores it after a reconnect or a microcontroller
 * reset; a write while the link is down fails, and the level is still
 * applied when the link returns.
 *
 * The agent opens it without waiting for the link (the station starts
 * without its microcontroller and switches as soon as the link is up);
 * `loa safe-off` requires the link, since it must know the outputs are off.
 */
export class BridgeRelayDriver implements RelayDriver {
  readonly kind = 'bridge';
  private claimed = new Set<number>();

  constructor(
    private readonly client: BridgeClient,
    private readonly opts: { requireLink: boolean; openTimeoutMs?: number; log?: Logger } = { requireLink: false },
  ) {}

  async open(lines: ReadonlyArray<{ line: number; initial: Level }>): Promise<void> {
    for (const { line } of lines) {
      if (!Number.isInteger(line) || line < 0 || line > 15) throw new Error(`relay line ${line} is not a microcontroller relay channel (0-15); with relays.driver "bridge", lines are channel numbers`);
    }
    this.claimed = new Set(lines.map((l) => l.line));
    const mask = lines.reduce((m, l) => m | (1 << l.line), 0);
    const levels = lines.reduce((m, l) => m | (l.initial << l.line), 0);
    // Even if the link is down now, these are the levels it gets when it comes up.
    this.client.setDesiredRelays(mask, levels);
    if (!this.opts.requireLink && this.client.state !== 'open') {
      this.client.once('open', (info) => {
        const beyond = missingLines(lines, info.relayCount);
        if (beyond) this.opts.log?.error({ lines: beyond, firmware: info.firmware, relayCount: info.relayCount }, 'configured relay lines do not exist on the microcontroller');
      });
      return;
    }
    const info = await this.client.whenOpen(this.opts.openTimeoutMs ?? 5000);
    const beyond = missingLines(lines, info.relayCount);
    if (beyond) throw new Error(`relay lines ${beyond.join(', ')} do not exist on the microcontroller (${info.firmware} has ${info.relayCount}: 0-${info.relayCount - 1})`);
    await this.client.setRelays(mask, levels);
  }

  async write(line: number, level: Level): Promise<void> {
    this.assertClaimed(line);
    await this.client.setRelay(line, level);
  }

  async read(line: number): Promise<Level> {
    this.assertClaimed(line);
    return ((await this.client.readRelays()) >> line) & 1 ? 1 : 0;
  }

  async close(): Promise<void> {
    this.claimed.clear();
  }

  private assertClaimed(line: number): void {
    if (!this.claimed.has(line)) throw new Error(`bridge relay line ${line} was not opened as an output`);
  }
}
