import type { BridgeClient } from './client/client.js';
import { syncRtcFromSystem, assessRtc } from './client/rtc.js';
import type { Capability } from './protocol/messages.js';

/**
 * What `loa bridge status|relay|inputs|clock|watchdog` shows, as plain
 * JSON-able objects for the daemon's control socket. Each function asks the
 * microcontroller (never a cache) where the answer is about the hardware.
 */

const bits = (v: number, n: number): Array<0 | 1> => Array.from({ length: n }, (_, i) => ((v >> i) & 1) as 0 | 1);

export async function bridgeStatus(client: BridgeClient): Promise<Record<string, unknown>> {
  const info = client.info;
  const base = {
    path: client.path,
    device: client.device,
    state: client.state,
    error: client.error,
    firmware: info?.firmware ?? null,
    protocol: info?.version ?? null,
    bootId: info?.bootId ?? null,
    resetCause: info?.resetCause ?? null,
    capabilities: info?.capabilities ?? [],
    stats: { ...client.stats, decoder: { frames: client.stats.decoder.frames, errors: { ...client.stats.decoder.errors } } },
  };
  if (client.state !== 'open') return base;
  const s = await client.status();
  return { ...base, uptimeS: Math.round(s.uptimeMs / 1000), faults: client.activeFaults, analog: client.has('analog') ? await client.readAnalog() : [] };
}

/** Without `set`, reads every relay; with it, drives one relay and reads all back. */
export async function bridgeRelay(client: BridgeClient, set?: { channel: number; level: 0 | 1 }): Promise<Record<string, unknown>> {
  const levels = set ? await client.setRelay(set.channel, set.level) : await client.readRelays();
  const desired = client.desiredRelays;
  return {
    relays: bits(levels, client.info?.relayCount ?? 16).map((level, channel) => ({
      channel,
      level,
      desired: (desired.mask >> channel) & 1 ? ((desired.levels >> channel) & 1) : null,
    })),
  };
}

/** Digital inputs, named when the station's wiring is known (channel → name). */
export async function bridgeInputs(client: BridgeClient, names: Readonly<Record<number, string>> = {}): Promise<Record<string, unknown>> {
  const levels = await client.readInputs();
  return { inputs: bits(levels, client.info?.inputCount ?? 16).map((level, channel) => ({ channel, name: names[channel] ?? null, level })) };
}

/** Reads the RTC; with `setFromSystem` (only when NTP is synchronised) writes the system time into it if it drifted. */
export async function bridgeClock(client: BridgeClient, opts: { setFromSystem?: { ntpSynchronized: boolean }; lastSeenMs?: number | null } = {}): Promise<Record<string, unknown>> {
  const systemMs = Date.now();
  if (opts.setFromSystem) {
    if (!opts.setFromSystem.ntpSynchronized) throw new Error('refusing to set the RTC: the system clock is not synchronised by NTP, so it may be the wrong one');
    const r = await syncRtcFromSystem(client, { ntpSynchronized: true });
    return { rtc: { valid: r.rtc.valid, iso: new Date(r.rtc.ms).toISOString() }, driftMsBefore: r.driftMs, updated: r.updated };
  }
  const rtc = await client.readRtc();
  const a = assessRtc(rtc, opts.lastSeenMs ?? null);
  return { rtc: { valid: rtc.valid, iso: new Date(rtc.ms).toISOString() }, trusted: a.trusted, verdict: a.verdict, driftMs: rtc.ms - systemMs };
}

export type WatchdogAction = { action: 'status' } | { action: 'enable'; timeoutMs: number; warnMs?: number } | { action: 'feed' } | { action: 'disable' };

export async function bridgeWatchdog(client: BridgeClient, a: WatchdogAction = { action: 'status' }): Promise<Record<string, unknown>> {
  const need: Capability = 'watchdog';
  if (client.info && !client.has(need)) return { supported: false };
  const s =
    a.action === 'enable'
      ? await client.enableWatchdog(a.timeoutMs, a.warnMs)
      : a.action === 'feed'
        ? await client.feedWatchdog()
        : a.action === 'disable'
          ? await client.disableWatchdog()
          : await client.watchdogStatus();
  return { supported: true, ...s };
}
