import { isIP } from 'node:net';
import type { Msg } from '../config/check.js';

/**
 * Which broker URLs may carry the station's password. TLS (mqtts://, wss://)
 * always; plaintext (mqtt://, ws://) puts the password and every command in
 * clear on the 3G/4G path, so it is refused unless the broker is on this
 * machine (the demo, the tests) or `sync.allowInsecure` says so, and then it
 * is warned about at every start, in `loa status`, `loa doctor` and health.
 */

export type PlaintextVerdict = { index: number; url: string; verdict: 'refused' | 'loopback' | 'allowed' };

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/** Pure: the plaintext URLs among `brokers`, each with what the policy makes of it. */
export function plaintextBrokers(brokers: readonly string[], allowInsecure: boolean): PlaintextVerdict[] {
  return brokers.flatMap((url, index): PlaintextVerdict[] => {
    if (!URL.canParse(url)) return [];
    const u = new URL(url);
    if (u.protocol !== 'mqtt:' && u.protocol !== 'ws:') return [];
    return [{ index, url, verdict: isLoopbackHost(u.hostname) ? 'loopback' : allowInsecure ? 'allowed' : 'refused' }];
  });
}

/** The operator-facing warning for the plaintext URLs the policy lets through. */
export function insecureLinkWarnings(brokers: readonly string[], allowInsecure: boolean): Msg[] {
  return plaintextBrokers(brokers, allowInsecure)
    .filter((v) => v.verdict !== 'refused')
    .map((v) =>
      v.verdict === 'loopback'
        ? { en: `INSECURE: broker ${v.url} is plaintext (on this machine only); use mqtts:// for a real province`, vi: `KHÔNG AN TOÀN: máy chủ ${v.url} không mã hóa (chỉ trên máy này); dùng mqtts:// cho tỉnh thật` }
        : { en: `INSECURE: broker ${v.url} is plaintext and sync.allowInsecure is true: the password and commands cross the network in clear`, vi: `KHÔNG AN TOÀN: máy chủ ${v.url} không mã hóa và sync.allowInsecure là true: mật khẩu và lệnh đi qua mạng không mã hóa` },
    );
}
