import type { SyncConfig } from '../config/schema.js';
import { brokerSecrets } from '../sync/link.js';
import { both, finding, type Finding } from './finding.js';

/** A broker that has not answered CONNECT by then is reported unreachable. */
export const BROKER_PROBE_TIMEOUT_MS = 8000;

export type BrokerVerdict = { ok: true } | { ok: false; kind: 'auth' | 'tls' | 'unreachable' | 'timeout'; message: string };

/** How an mqtt.js connect error reads to a technician. Pure. */
export function classifyBrokerError(err: { message: string; code?: string | number }): BrokerVerdict & { ok: false } {
  const m = err.message;
  const code = err.code;
  // MQTT 3.1.1 CONNACK 4/5, MQTT 5 reason codes 0x86 (bad user name or password) and 0x87 (not authorized).
  if (code === 4 || code === 5 || code === 134 || code === 135 || /not authori[sz]ed|bad user ?name or password/i.test(m)) return { ok: false, kind: 'auth', message: m };
  if (/certificate|self[- ]signed|CERT_|SSL|TLS|altnames|unable to verify|wrong version number/i.test(m) || (typeof code === 'string' && /CERT|SSL|TLS/.test(code))) return { ok: false, kind: 'tls', message: m };
  return { ok: false, kind: 'unreachable', message: m };
}

/**
 * Connects once as the station (its TLS files, user and password) and
 * disconnects at the CONNACK. The station's broker session is kept as it
 * is: the same session expiry, no clean start, and nothing queued for it
 * acknowledged (the agent still gets every command). Only run while the
 * agent is down: the broker names the client after its user, so a second
 * connection would take the agent's place.
 */
export async function probeBroker(url: string, config: SyncConfig, stationId: string, timeoutMs = BROKER_PROBE_TIMEOUT_MS): Promise<BrokerVerdict> {
  let secrets: ReturnType<typeof brokerSecrets>;
  try {
    secrets = brokerSecrets(config);
  } catch (err) {
    return { ok: false, kind: 'tls', message: (err as Error).message };
  }
  const { connect } = await import('mqtt');
  const user = config.username ?? stationId;
  return new Promise((resolve) => {
    let settled = false;
    const client = connect(url, {
      clientId: user,
      username: user,
      ...(secrets.password !== undefined ? { password: secrets.password } : {}),
      protocolVersion: config.protocolVersion,
      clean: false,
      ...(config.protocolVersion === 5 ? { properties: { sessionExpiryInterval: config.sessionExpiryS } } : {}),
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      rejectUnauthorized: true,
      // Never acknowledge: what the broker kept for the station stays queued for the agent.
      customHandleAcks: () => undefined,
      ...secrets.tls,
    });
    const settle = (v: BrokerVerdict): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      resolve(v);
    };
    const timer = setTimeout(() => settle({ ok: false, kind: 'timeout', message: `no CONNACK within ${timeoutMs / 1000} s` }), timeoutMs);
    client.on('connect', () => settle({ ok: true }));
    client.on('error', (err: Error & { code?: string | number }) => settle(classifyBrokerError(err)));
    client.on('close', () => settle({ ok: false, kind: 'unreachable', message: 'connection closed before CONNACK' }));
  });
}

export function brokerFinding(url: string, v: BrokerVerdict): Finding {
  if (v.ok) return finding('broker', 'broker.ok', 'ok', both('brokerOk', { url }));
  const vars = { url, error: v.message };
  switch (v.kind) {
    case 'auth':
      return finding('broker', 'broker.auth', 'fail', both('brokerAuth', vars), both('brokerAuthFix'));
    case 'tls':
      return finding('broker', 'broker.tls', 'fail', both('brokerTls', vars), both('brokerTlsFix'));
    default:
      return finding('broker', 'broker.unreachable', 'fail', both('brokerUnreachable', vars), both('brokerUnreachableFix'));
  }
}
