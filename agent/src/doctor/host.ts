import { readFileSync, rmSync, statfsSync, writeFileSync, existsSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Probes } from './probes.js';
import { both, finding, same, type Finding } from './finding.js';

/**
 * The machine under the station: storage, power, network. The parsers are
 * plain functions of the tools' own output (tested as data); the checks
 * read through `Probes`.
 */

/** `vcgencmd get_throttled` → its bits (`throttled=0x50005`); null when the line is not that. */
export function parseThrottled(out: string): number | null {
  const m = /throttled=(0x[0-9a-f]+|\d+)/i.exec(out);
  return m ? Number(m[1]) : null;
}

/** The firmware's bits (Raspberry Pi documentation, vcgencmd). */
export const THROTTLE_BITS = { underVoltage: 0x1, freqCapped: 0x2, throttled: 0x4, softTempLimit: 0x8, underVoltageOccurred: 0x10000, freqCappedOccurred: 0x20000, throttledOccurred: 0x40000, softTempLimitOccurred: 0x80000 } as const;

export function throttleFindings(bits: number): Finding[] {
  const b = THROTTLE_BITS;
  const hex = `0x${bits.toString(16)}`;
  if (bits & b.underVoltage) return [finding('power', 'power.under-voltage', 'fail', both('underVoltageNow', { hex }), both('underVoltageFix'))];
  const out: Finding[] = [];
  if (bits & (b.throttled | b.freqCapped | b.softTempLimit)) out.push(finding('power', 'power.throttled', 'warn', both('throttledNow', { hex }), both('throttledFix')));
  if (bits & b.underVoltageOccurred) out.push(finding('power', 'power.under-voltage-occurred', 'warn', both('underVoltageOccurred', { hex }), both('underVoltageFix')));
  else if (bits & (b.throttledOccurred | b.freqCappedOccurred | b.softTempLimitOccurred)) out.push(finding('power', 'power.throttled-occurred', 'warn', both('throttledOccurred', { hex }), both('throttledFix')));
  return out.length > 0 ? out : [finding('power', 'power.ok', 'ok', both('powerOk', { hex }))];
}

/** `mmcli -K` output (`key : value` lines, keys padded) → a map. */
export function parseMmcliKeys(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** Modem paths from `mmcli -L -K` (`modem-list.value[1] : /org/freedesktop/ModemManager1/Modem/0`). */
export function modemPaths(out: string): string[] {
  return [...parseMmcliKeys(out)].filter(([k, v]) => k.startsWith('modem-list.value') && v.startsWith('/')).map(([, v]) => v);
}

/** Below this the link to the province drops often (a bar or less on a phone). */
export const WEAK_SIGNAL_PERCENT = 20;

export function modemFinding(path: string, keys: Map<string, string>): Finding {
  const id = path.split('/').pop() ?? path;
  const state = keys.get('modem.generic.state') ?? 'unknown';
  const signal = Number(keys.get('modem.generic.signal-quality.value'));
  const tech = [...keys].filter(([k]) => k.startsWith('modem.generic.access-technologies.value')).map(([, v]) => v).join(',') || '--';
  const operator = keys.get('modem.3gpp.operator-name') || '--';
  const vars = { id, state, signal: Number.isFinite(signal) ? signal : '?', tech, operator };
  if (state === 'failed') return finding('mobile', 'mobile.failed', 'fail', both('modemFailed', { ...vars, reason: keys.get('modem.generic.state-failed-reason') ?? '--' }), both('modemFailedFix'));
  if (!['connected', 'registered'].includes(state)) return finding('mobile', 'mobile.not-registered', 'warn', both('modemNotRegistered', vars), both('modemNotRegisteredFix'));
  if (Number.isFinite(signal) && signal < WEAK_SIGNAL_PERCENT) return finding('mobile', 'mobile.weak-signal', 'warn', both('modemWeak', vars), both('modemWeakFix'));
  return finding('mobile', 'mobile.ok', 'ok', both('modemOk', vars));
}

export async function mobileFindings(p: Probes): Promise<Finding[]> {
  if (!p.has('mmcli')) return [finding('mobile', 'mobile.no-modemmanager', 'skip', both('noModemManager'))];
  const list = await p.run('mmcli', ['-L', '-K']);
  if (list === null) return [finding('mobile', 'mobile.modemmanager-down', 'warn', both('modemManagerDown'), both('modemManagerDownFix'))];
  const paths = modemPaths(list);
  if (paths.length === 0) return [finding('mobile', 'mobile.no-modem', 'skip', both('noModem'))];
  const out: Finding[] = [];
  for (const path of paths) {
    const detail = await p.run('mmcli', ['-K', '-m', path]);
    out.push(detail === null ? finding('mobile', 'mobile.unreadable', 'warn', both('modemUnreadable', { id: path }), both('modemManagerDownFix')) : modemFinding(path, parseMmcliKeys(detail)));
  }
  return out;
}

/** Interfaces from /sys/class/net: which carry a link. */
export function networkFindings(p: Probes): Finding[] {
  const dir = join(p.sysRoot, 'class/net');
  const ifaces = p.list(dir).filter((n) => n !== 'lo');
  if (ifaces.length === 0) return [finding('network', 'network.none', 'fail', both('noInterfaces'), both('noInterfacesFix'))];
  const up = ifaces.filter((n) => p.read(join(dir, n, 'operstate')) === 'up');
  const summary = ifaces.map((n) => `${n}:${p.read(join(dir, n, 'operstate')) ?? '?'}`).join(' ');
  return up.length > 0 ? [finding('network', 'network.ok', 'ok', same(summary))] : [finding('network', 'network.down', 'warn', both('allInterfacesDown', { list: summary }), both('allInterfacesDownFix'))];
}

/** The host board's supply as its sensors tell it: vcgencmd's throttling word, else the rpi_volt hwmon alarm. */
export type PowerReading = { source: 'vcgencmd'; bits: number } | { source: 'hwmon'; path: string; underVoltage: boolean } | null;

export async function readPower(p: Probes): Promise<PowerReading> {
  if (p.has('vcgencmd')) {
    const out = await p.run('vcgencmd', ['get_throttled']);
    const bits = out === null ? null : parseThrottled(out);
    if (bits !== null) return { source: 'vcgencmd', bits };
  }
  const hwmon = join(p.sysRoot, 'class/hwmon');
  const h = p.list(hwmon).find((x) => p.read(join(hwmon, x, 'name')) === 'rpi_volt');
  return h === undefined ? null : { source: 'hwmon', path: join(hwmon, h), underVoltage: p.read(join(hwmon, h, 'in0_lcrit_alarm')) === '1' };
}

/** Under-voltage now, for health; null where the board has no sensor. */
export const underVoltageNow = (r: PowerReading): boolean | null => (r === null ? null : r.source === 'vcgencmd' ? (r.bits & THROTTLE_BITS.underVoltage) !== 0 : r.underVoltage);

export async function powerFindings(p: Probes): Promise<Finding[]> {
  const r = await readPower(p);
  if (r === null) return [finding('power', 'power.no-sensor', 'skip', both('noPowerSensor'))];
  if (r.source === 'vcgencmd') return throttleFindings(r.bits);
  return r.underVoltage
    ? [finding('power', 'power.under-voltage', 'fail', both('underVoltageHwmon', { path: r.path }), both('underVoltageFix'))]
    : [finding('power', 'power.ok', 'ok', both('powerOkHwmon', { path: r.path }))];
}

/** ext4 error counters: a filesystem that recorded errors is an SD card on its way out. */
export function ext4Findings(p: Probes): Finding[] {
  const dir = join(p.sysRoot, 'fs/ext4');
  const devices = p.list(dir).filter((d) => p.read(join(dir, d, 'errors_count')) !== null);
  if (devices.length === 0) return [finding('storage', 'storage.no-ext4', 'skip', both('noExt4'))];
  const bad = devices.map((d) => ({ d, n: Number(p.read(join(dir, d, 'errors_count'))) })).filter((x) => x.n > 0);
  if (bad.length === 0) return [finding('storage', 'storage.ext4-ok', 'ok', both('ext4Ok', { list: devices.join(', ') }))];
  return bad.map(({ d, n }) => {
    const last = Number(p.read(join(dir, d, 'last_error_time')));
    const when = last > 0 ? new Date(last * 1000).toISOString() : '?';
    return finding('storage', 'storage.ext4-errors', 'fail', both('ext4Errors', { device: d, n, when }), both('ext4ErrorsFix', { device: d }));
  });
}

/** The nearest folder that exists (a state folder not made yet lives on its parent's filesystem). */
function existingAncestor(dir: string): string {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

export const MIN_FREE_BYTES = 200 * 1_048_576;

export function freeSpaceFinding(stateDir: string): Finding {
  try {
    const s = statfsSync(existingAncestor(stateDir));
    const free = Math.round((s.bavail * s.bsize) / 1_048_576);
    const total = Math.round((s.blocks * s.bsize) / 1_048_576);
    const vars = { dir: stateDir, free, total };
    return s.bavail * s.bsize < MIN_FREE_BYTES ? finding('storage', 'storage.low-space', 'fail', both('lowSpace', vars), both('lowSpaceFix')) : finding('storage', 'storage.space-ok', 'ok', both('spaceOk', vars));
  } catch (err) {
    return finding('storage', 'storage.unreadable', 'fail', both('stateUnreadable', { dir: stateDir, error: (err as Error).message }), both('stateMissingFix'));
  }
}

/**
 * Writes a small file in the state folder, syncs it, reads it back and
 * removes it: a card that has gone read-only or returns other bytes fails
 * here before it fails a broadcast.
 */
export function writeReadProbe(stateDir: string): Finding {
  if (!existsSync(stateDir)) return finding('storage', 'storage.state-missing', 'warn', both('stateMissing', { dir: stateDir }), both('stateMissingFix'));
  const path = join(stateDir, `.doctor-probe-${process.pid}`);
  const bytes = randomBytes(4096);
  try {
    writeFileSync(path, bytes);
    const fd = openSync(path, 'r');
    fsyncSync(fd);
    closeSync(fd);
    const back = readFileSync(path);
    if (!back.equals(bytes)) return finding('storage', 'storage.read-back-differs', 'fail', both('readBackDiffers', { dir: stateDir }), both('ext4ErrorsFix', { device: stateDir }));
    return finding('storage', 'storage.write-ok', 'ok', both('writeOk', { dir: stateDir }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return finding('storage', code === 'EROFS' ? 'storage.read-only' : 'storage.write-failed', 'fail', both('writeFailed', { dir: stateDir, error: code }), both(code === 'EACCES' || code === 'EPERM' ? 'writeFailedPermFix' : 'ext4ErrorsFix', { device: stateDir }));
  } finally {
    rmSync(path, { force: true });
  }
}
