import type { Logger } from 'pino';
import {
  bridgeClock,
  bridgeInputs,
  bridgeRelay,
  bridgeStatus,
  bridgeWatchdog,
  clockAtBoot,
  createBridgeClient,
  syncRtcFromSystem,
  BridgeRelayDriver,
  type BridgeClient,
  type BridgeConfig,
  type InputChange,
} from '../../../firmware-bridge/src/index.js';
import { OperatorError } from './control-server.js';
import { setClockThroughHelper } from '../clock/rtc-handover.js';
import { isOnAt, type RelayBank } from '../relays/bank.js';
import type { FmTuner } from '../audio/live/types.js';

/** How often the RTC is compared with NTP time (it drifts seconds a month). */
const RTC_SYNC_EVERY_MS = 60 * 60_000;

/**
 * The station microcontroller as the agent uses it: relays (when
 * `relays.driver` is "bridge"), the RTC at boot, the hardware watchdog fed
 * from the main loop, and the physical buttons.
 */
export class BridgeLink {
  private rtcTrusted = false;
  private lastRtcSyncMs = -Infinity;

  private constructor(
    readonly client: BridgeClient,
    private readonly cfg: BridgeConfig,
    private readonly log: Logger,
  ) {}

  static async open(
    cfg: BridgeConfig,
    deps: {
      log: Logger;
      lastSeenMs: number | null;
      ntpSynchronized: () => Promise<boolean>;
      onInput: (name: string, level: 0 | 1) => void;
      /** The link came up or went down: the province and `loa status` must hear of it. */
      onLink: (up: boolean, detail: string) => void;
    },
  ): Promise<BridgeLink> {
    const client = createBridgeClient(cfg, deps.log);
    const link = new BridgeLink(client, cfg, deps.log);
    let reportedUp: boolean | null = null;
    const report = (up: boolean, detail: string): void => {
      if (reportedUp === up) return;
      reportedUp = up;
      deps.onLink(up, detail);
    };
    client.on('open', (info) => report(true, `microcontroller ${info.firmware} answers on ${cfg.path}`));
    client.on('link-lost', ({ reason }) => report(false, reason));
    client.on('input', (change: InputChange) => {
      for (let ch = 0; ch < 16; ch++) {
        if (!((change.changed >> ch) & 1)) continue;
        deps.onInput(cfg.inputs[String(ch)] ?? `input-${ch}`, ((change.levels >> ch) & 1) as 0 | 1);
      }
    });
    client.start();
    // Not fatal: the client keeps reconnecting with backoff; sync, board and CLI work without it, and the relays switch once it answers.
    await client.whenOpen(3000).catch(() => {
      deps.log.error({ path: cfg.path, err: client.error }, 'firmware bridge not reachable: the station runs without relays and keeps trying');
      report(false, client.error ?? 'no answer at start');
    });
    if (client.state === 'open') {
      // Armed first: the clock step below may wait on the clock helper, and the watchdog must not.
      if (cfg.watchdog.enabled) await client.enableWatchdog(cfg.watchdog.timeoutMs, cfg.watchdog.warnMs).catch((err: Error) => deps.log.error({ err: err.message }, 'could not enable the hardware watchdog'));
      const boot = await clockAtBoot(client, {
        ntpSynchronized: deps.ntpSynchronized,
        lastSeenMs: deps.lastSeenMs,
        // The agent may not set the clock (ProtectClock, no capability): loa-clock-set.service does, within bounds; a refusal leaves the RTC untrusted.
        setSystemClock: (ms) => setClockThroughHelper(ms),
      }).catch((err: Error) => {
        deps.log.error({ err: err.message }, 'could not take the time from the RTC');
        return null;
      });
      link.rtcTrusted = boot !== null && boot.plan.rtcTrusted && (boot.applied || boot.plan.reason === 'rtc-agrees');
      deps.log.info({ rtc: boot?.rtc?.ms, plan: boot?.plan, trusted: link.rtcTrusted }, 'RTC read at boot');
    }
    return link;
  }

  relayDriver(): BridgeRelayDriver {
    return new BridgeRelayDriver(this.client, { requireLink: false, log: this.log });
  }

  /**
   * The microcontroller's FM receiver as a live item's last source: tuned,
   * then routed to the amplifier input (its audio never passes the sound
   * card). A microcontroller without the capability refuses, so the chain
   * moves on.
   */
  fmTuner(): FmTuner {
    return {
      tune: async (kHz) => {
        await this.client.fmTune(kHz / 1000);
        await this.client.fmPlay(true);
      },
      release: async () => {
        if (this.client.has('fm')) await this.client.fmPlay(false);
      },
    };
  }

  /** The amplifier current the microcontroller measures, mA; null if it measures none. */
  async amplifierCurrentMa(): Promise<number | null> {
    if (!this.client.has('analog')) return null;
    return (await this.client.readAnalog()).find((a) => a.kind === 'current')?.milli ?? null;
  }

  /** What an operator must see while the microcontroller does not answer. */
  problems(): string[] {
    if (this.client.state === 'open') return [];
    return [`firmware bridge on ${this.cfg.path} is not connected (${this.client.error ?? this.client.state}): relays cannot switch, nothing reaches the horns until it answers`];
  }

  get rtcValid(): boolean {
    return this.rtcTrusted;
  }

  /** From the main loop: feeds the hardware watchdog (proof the loop runs) and keeps the RTC on NTP time. */
  async tick(ntpSynchronized: boolean): Promise<void> {
    if (this.client.state !== 'open') return;
    if (this.cfg.watchdog.enabled) await this.client.feedWatchdog().catch((err: Error) => this.log.warn({ err: err.message }, 'watchdog feed failed'));
    if (ntpSynchronized && Date.now() - this.lastRtcSyncMs >= RTC_SYNC_EVERY_MS) {
      this.lastRtcSyncMs = Date.now();
      const r = await syncRtcFromSystem(this.client, { ntpSynchronized }).catch(() => null);
      if (r?.updated) this.log.info({ driftMs: r.driftMs }, 'RTC set from NTP time');
    }
  }

  /**
   * `relays.bank` and `relays.lane` make `loa bridge relay CH on|off` one more
   * hand on the relay bank, in the conductor's queue: a channel that is a
   * configured output is switched by the bank (active-low respected, its
   * record kept), any other channel directly, both refused while on air.
   */
  handlers(
    ntpSynchronized: () => boolean,
    lastSeenMs: () => number | null,
    relays: { bank: RelayBank; lane: <T>(what: string, op: () => Promise<T>) => Promise<{ done: Promise<T> }> },
  ): Record<string, (p: Record<string, unknown>) => Promise<unknown>> {
    const c = this.client;
    const guard = async <T>(f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (err) {
        throw new OperatorError('bridge', `firmware bridge (${this.cfg.path}): ${(err as Error).message}`, { path: this.cfg.path, detail: (err as Error).message });
      }
    };
    return {
      'bridge.status': () => guard(() => bridgeStatus(c)),
      'bridge.relay': async (p) => {
        if (typeof p.channel !== 'number' || (p.level !== 0 && p.level !== 1)) return guard(() => bridgeRelay(c));
        const channel = p.channel;
        const level = p.level;
        const output = relays.bank.outputs().find((o) => o.line === channel);
        const switched = await relays.lane(`loa bridge relay ${channel}`, () =>
          guard(async () => (output && relays.bank.driverKind === 'bridge' ? relays.bank.set(output.name, isOnAt(output, level)) : bridgeRelay(c, { channel, level }))),
        );
        await switched.done;
        return guard(() => bridgeRelay(c));
      },
      'bridge.inputs': () => guard(() => bridgeInputs(c, Object.fromEntries(Object.entries(this.cfg.inputs).map(([k, v]) => [Number(k), v])))),
      'bridge.clock': (p) => guard(() => bridgeClock(c, { lastSeenMs: lastSeenMs(), ...(p.set === true ? { setFromSystem: { ntpSynchronized: ntpSynchronized() } } : {}) })),
      'bridge.watchdog': (p) =>
        guard(() => bridgeWatchdog(c, p.action === 'enable' ? { action: 'enable', timeoutMs: this.cfg.watchdog.timeoutMs, warnMs: this.cfg.watchdog.warnMs } : p.action === 'feed' || p.action === 'disable' ? { action: p.action } : { action: 'status' })),
    };
  }

  async close(): Promise<void> {
    if (this.cfg.watchdog.enabled && this.client.state === 'open') await this.client.disableWatchdog().catch(() => undefined);
    await this.client.close();
  }
}
