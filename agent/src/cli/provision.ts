import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, parseConfig } from '../config/load.js';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { createLogger } from '../lib/logger.js';
import { rawPublicKey } from '../sync/signing.js';
import { enrolmentCode } from '../provision/code.js';
import { buildProvisionedConfig, type ProvisionFiles } from '../provision/config-build.js';
import { EnrolRefused, PinMismatch, caByFingerprint, enrol, normaliseFingerprint, type EnrolProgress } from '../provision/enrol-client.js';
import { identityPaths, loadOrCreateIdentity, ownerOf, privateDir, tlsClientRequest } from '../provision/keys.js';
import { ENROL_PAGE_PATH, type ProvisionBundle } from '../provision/protocol.js';
import { showCodeOnBoard } from '../provision/board-screen.js';
import { fillIn, type Locale } from './messages.js';
import type { Out } from './render.js';

const run = promisify(execFile);

/**
 * `loa provision`: a blank controller becomes an enrolled station in one
 * command. Makes the station's keys, shows its enrolment code (terminal and
 * board), waits for the province's approval (or spends a one-time token),
 * writes the configuration and secrets atomically, mode 0600, and restarts
 * the agent, which then fetches its first signed target.
 */

export interface ProvisionArgs {
  configPath: string;
  locale: Locale;
  json: boolean;
  province?: string;
  ca?: string;
  caFingerprint?: string;
  token?: string;
  tokenFile?: string;
  stateDir?: string;
  noStart: boolean;
  signal?: AbortSignal;
}

const TEXT = {
  noProvince: { vi: 'thiếu địa chỉ tỉnh: thêm --province https://MÁY-CHỦ:CỔNG', en: 'no province given: add --province https://HOST:PORT' },
  noPin: {
    vi: 'chưa ghim CA của tỉnh: thêm --ca TỆP.pem hoặc --ca-fingerprint SHA256 (tỉnh cung cấp)',
    en: "the province's CA is not pinned: add --ca FILE.pem or --ca-fingerprint SHA256 (from the province)",
  },
  badFingerprint: { vi: '--ca-fingerprint: cần 64 chữ số hex (SHA-256)', en: '--ca-fingerprint: expected 64 hex digits (SHA-256)' },
  badUrl: { vi: '--province: không phải địa chỉ https://', en: '--province: not an https:// URL' },
  code: { vi: 'Mã đăng ký của đài:', en: "This station's enrolment code:" },
  readOut: {
    vi: 'Đọc mã này cho cán bộ tỉnh để họ duyệt.',
    en: 'Read this code to the province operator, who approves it.',
  },
  waiting: { vi: 'Đang chờ tỉnh duyệt... Ctrl-C để dừng; chạy lại sẽ tiếp tục, cùng mã.', en: 'Waiting for approval... Ctrl-C stops; run again to resume, same code.' },
  stillWaiting: { vi: 'vẫn đang chờ duyệt ({min} phút)', en: 'still waiting for approval ({min} min)' },
  contacting: { vi: 'liên hệ tỉnh: {url}', en: 'contacting the province: {url}' },
  unreachable: { vi: 'không liên lạc được tỉnh ({error}); thử lại sau {s} giây', en: 'cannot reach the province ({error}); retrying in {s} s' },
  board: { vi: 'mã cũng hiện trên bảng tin, kèm mã QR cho điện thoại', en: 'the code is on the board too, with a QR code for a phone' },
  boardBusy: { vi: 'bảng tin đang do tác tử dùng: mã chỉ hiện ở đây', en: 'the board is held by the agent: the code shows here only' },
  approved: { vi: 'Đã duyệt: đài {id}', en: 'Approved: station {id}' },
  written: { vi: 'đã ghi cấu hình {path} (0600)', en: 'configuration written: {path} (0600)' },
  restarted: { vi: 'đã khởi động lại loa-agent; lịch đầu tiên sẽ về qua MQTT', en: 'loa-agent restarted; the first target follows over MQTT' },
  startIt: { vi: 'tiếp theo: khởi động tác tử (systemctl restart loa-agent)', en: 'next: start the agent (systemctl restart loa-agent)' },
  cancelled: { vi: 'đã dừng. Chạy lại loa provision để tiếp tục (cùng mã).', en: 'stopped. Run loa provision again to resume (same code).' },
  refused: { vi: 'tỉnh từ chối: {message}', en: 'the province refused: {message}' },
  pin: { vi: 'chứng chỉ của tỉnh không khớp với CA đã ghim: {message}', en: "the province's certificate does not match the pinned CA: {message}" },
  failed: { vi: 'lỗi: {message}', en: 'failed: {message}' },
} as const;
type Key = keyof typeof TEXT;

function tr(locale: Locale, key: Key, vars: Record<string, string | number> = {}): string {
  return fillIn(TEXT[key][locale], vars);
}

/** What the enrolment needs from a USB stick: the token alone on a line, or JSON {token, province?, caFingerprint?}. */
export function parseTokenFile(text: string): { token: string; province?: string; caFingerprint?: string } {
  const t = text.trim();
  if (t.startsWith('{')) {
    const j = JSON.parse(t) as Record<string, unknown>;
    if (typeof j.token !== 'string') throw new Error('the token file has no "token"');
    return { token: j.token, ...(typeof j.province === 'string' ? { province: j.province } : {}), ...(typeof j.caFingerprint === 'string' ? { caFingerprint: j.caFingerprint } : {}) };
  }
  const line = t.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
  if (!line) throw new Error('the token file is empty');
  return { token: line };
}

/** The code in a box, centred on an 80-column terminal. */
export function codeBox(code: string): string {
  const inner = `   ${code}   `;
  const pad = ' '.repeat(Math.floor((80 - inner.length - 2) / 2));
  return [`${pad}┌${'─'.repeat(inner.length)}┐`, `${pad}│${inner}│`, `${pad}└${'─'.repeat(inner.length)}┘`].join('\n');
}

interface Resume {
  province: string;
  caPem: string;
}

export async function provisionCommand(a: ProvisionArgs, out: Out): Promise<number> {
  const say = (key: Key, vars?: Record<string, string | number>): void => void (a.json ? out.stderr : out.stdout).write(tr(a.locale, key, vars) + '\n');
  const fail = (key: Key, vars?: Record<string, string | number>): number => {
    if (a.json) out.stdout.write(JSON.stringify({ error: { code: key, message: tr('en', key, vars) } }) + '\n');
    else out.stderr.write(tr(a.locale, key, vars) + '\n');
    return 1;
  };
  let base: Record<string, unknown> | null = null;
  try {
    base = JSON.parse(readFileSync(a.configPath, 'utf8')) as Record<string, unknown>;
  } catch {
    base = null; // a blank controller, or a config so broken that only its replacement helps
  }
  const basePaths = (base?.paths ?? {}) as { state?: string };
  const stateDir = a.stateDir ?? basePaths.state ?? '/var/lib/loa';
  const resumePath = join(stateDir, 'provision', 'pending.json');
  const resume = await readFile(resumePath, 'utf8').then((t) => JSON.parse(t) as Resume).catch(() => undefined);

  let token = a.token;
  let fingerprint = a.caFingerprint;
  let provinceText = a.province;
  try {
    if (a.tokenFile) {
      const f = parseTokenFile(readFileSync(a.tokenFile, 'utf8'));
      token ??= f.token;
      fingerprint ??= f.caFingerprint;
      provinceText ??= f.province;
    }
  } catch (err) {
    return fail('failed', { message: `${a.tokenFile}: ${(err as Error).message}` });
  }
  provinceText ??= resume?.province;
  if (!provinceText) return fail('noProvince');
  const province = URL.canParse(provinceText) ? new URL(provinceText) : null;
  if (!province || province.protocol !== 'https:') return fail('badUrl');

  const controller = new AbortController();
  const onSigint = (): void => controller.abort(new Error('cancelled'));
  if (!a.signal) process.once('SIGINT', onSigint);
  const signal = a.signal ?? controller.signal;
  let board: Awaited<ReturnType<typeof showCodeOnBoard>> = null;
  try {
    let caPem: string;
    if (a.ca) caPem = readFileSync(a.ca, 'utf8');
    else if (fingerprint) {
      const fp = normaliseFingerprint(fingerprint);
      if (!fp) return fail('badFingerprint');
      caPem = await caByFingerprint(province, fp, signal);
    } else if (resume && resume.province === province.href) caPem = resume.caPem;
    else return fail('noPin');

    await mkdir(stateDir, { recursive: true });
    const owner = await ownerOf(stateDir);
    const secret = { mode: 0o600, ...(owner ? { owner } : {}) };
    const identity = await loadOrCreateIdentity(stateDir);
    const code = enrolmentCode(rawPublicKey(identity.publicKey));
    await privateDir(dirname(resumePath), stateDir);
    await writeFileAtomic(resumePath, JSON.stringify({ province: province.href, caPem } satisfies Resume), secret);

    if (!token) {
      say('code');
      (a.json ? out.stderr : out.stdout).write(codeBox(code) + '\n');
      say('readOut');
      const boardCfg = base?.board as { port?: number } | undefined;
      if (boardCfg) {
        const station = (base?.station ?? {}) as { timezone?: string };
        const url = new URL(ENROL_PAGE_PATH, province);
        url.searchParams.set('code', code);
        board = await showCodeOnBoard({ port: boardCfg.port ?? 8090, timezone: station.timezone ?? 'Asia/Ho_Chi_Minh', code, url: url.href, log: createLogger({ level: 'warn', name: 'provision' }) });
        say(board ? 'board' : 'boardBusy');
      }
      say('waiting');
    }
    let lastMinute = 0;
    const progress = (p: EnrolProgress): void => {
      if (p.kind === 'contacting') say('contacting', { url: p.url });
      if (p.kind === 'unreachable') say('unreachable', { error: p.error.slice(0, 400), s: Math.ceil(p.retryInMs / 1000) });
      if (p.kind === 'pending' && Math.floor(p.waitedMs / 60_000) > lastMinute) say('stillWaiting', { min: (lastMinute = Math.floor(p.waitedMs / 60_000)) });
    };
    const bundle = await enrol({
      province, caPem, key: identity.privateKey, signal, onProgress: progress, ...(token ? { token } : {}),
      makeCsr: () => tlsClientRequest(stateDir, identity.privateKey),
    });
    say('approved', { id: bundle.stationId });
    await writeStation(bundle, stateDir, a.configPath, base, secret);
    await rm(resumePath, { force: true });
    say('written', { path: a.configPath });
    const restarted = !a.noStart && (await restartAgent());
    say(restarted ? 'restarted' : 'startIt');
    if (a.json) out.stdout.write(JSON.stringify({ stationId: bundle.stationId, code, configPath: a.configPath, groups: bundle.groups, brokers: bundle.brokers, restarted }) + '\n');
    return 0;
  } catch (err) {
    if (signal.aborted) {
      say('cancelled');
      return 130;
    }
    if (err instanceof EnrolRefused) return fail('refused', { message: err.message });
    if (err instanceof PinMismatch) return fail('pin', { message: err.message });
    if (err instanceof ConfigError) return fail('failed', { message: err.message });
    return fail('failed', { message: (err as Error).message });
  } finally {
    process.off('SIGINT', onSigint);
    await board?.stop();
  }
}

/** Secrets first, then the configuration that names them: a cut in between leaves the old configuration whole. */
async function writeStation(bundle: ProvisionBundle, stateDir: string, configPath: string, base: unknown, secret: { mode: number; owner?: { uid: number; gid: number } }): Promise<void> {
  const dir = join(stateDir, 'sync');
  await privateDir(dir, stateDir);
  const files: ProvisionFiles = { passwordFile: join(dir, 'password'), caFile: join(dir, 'province-ca.pem') };
  if (bundle.clientCertPem) {
    files.certFile = join(dir, 'client.crt');
    files.keyFile = identityPaths(stateDir).tlsKey;
  }
  const config = buildProvisionedConfig(base, bundle, files, stateDir);
  parseConfig(config, configPath);
  await writeFileAtomic(files.passwordFile, bundle.password + '\n', secret);
  await writeFileAtomic(files.caFile, bundle.caPem, secret);
  if (files.certFile && bundle.clientCertPem) await writeFileAtomic(files.certFile, bundle.clientCertPem, secret);
  await mkdir(dirname(configPath), { recursive: true });
  await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n', secret);
}

/** Under systemd, the agent restarts on the new configuration; elsewhere (a test rig) the caller starts it. */
async function restartAgent(): Promise<boolean> {
  if (!existsSync('/run/systemd/system')) return false;
  try {
    await run('systemctl', ['restart', 'loa-agent.service'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}
