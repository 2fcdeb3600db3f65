import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.js';
import { loadPublicKey } from '../sync/signing.js';
import { plaintextBrokers } from '../sync/transport-policy.js';

/**
 * What the configuration points at, checked against the machine: files
 * that must be readable files, folders that must exist or be creatable,
 * keys and certificates that must parse. Mistakes here cannot be fixed by
 * a restart, so the daemon refuses to start on any of them (exit 78) and
 * `loa doctor` shows the very same list: both call `checkConfig`.
 */

export interface Msg {
  en: string;
  vi: string;
}

export interface ConfigFinding {
  /** The configuration field, as a dotted path: `sync.tls.caFile`. */
  field: string;
  problem: Msg;
  fix: Msg;
}

/** One line, for stderr and the journal: `field: problem; fix`. */
export function formatFinding(f: ConfigFinding, locale: keyof Msg = 'en'): string {
  return `${f.field}: ${f.problem[locale]}; ${f.fix[locale]}`;
}

export function checkConfig(config: Config): ConfigFinding[] {
  const findings: ConfigFinding[] = [];
  const add = (field: string, problem: Msg, fix: Msg): void => void findings.push({ field, problem, fix });

  const stateProblem = folderProblem(config.paths.state);
  if (stateProblem) add('paths.state', stateProblem, { en: 'point paths.state at a folder user loa can write, or create it', vi: 'đặt paths.state là thư mục mà người dùng loa ghi được, hoặc tạo thư mục đó' });
  const socketProblem = folderProblem(dirname(resolve(config.paths.socket)));
  if (socketProblem) add('paths.socket', socketProblem, { en: 'put the socket in a folder user loa can write (systemd makes /run/loa)', vi: 'đặt socket trong thư mục mà người dùng loa ghi được (systemd tạo /run/loa)' });
  // sockaddr_un holds 108 bytes with the final NUL: a longer path fails at listen(), every restart.
  if (Buffer.byteLength(resolve(config.paths.socket)) > 107) {
    add('paths.socket', { en: `${resolve(config.paths.socket)} is longer than the 107 bytes a Unix socket path may have`, vi: `${resolve(config.paths.socket)} dài quá 107 byte, giới hạn của đường dẫn socket Unix` }, { en: 'use a shorter path, e.g. /run/loa/loa.sock', vi: 'dùng đường dẫn ngắn hơn, ví dụ /run/loa/loa.sock' });
  }
  if (isDirectory(config.paths.socket)) {
    add('paths.socket', { en: `${config.paths.socket} is a folder`, vi: `${config.paths.socket} là một thư mục` }, { en: 'give the path of the socket file, e.g. /run/loa/loa.sock', vi: 'ghi đường dẫn tệp socket, ví dụ /run/loa/loa.sock' });
  }

  const sink = config.audio.sink;
  if (sink.kind === 'file') {
    const dir = dirname(resolve(sink.path));
    const problem = isDirectory(sink.path)
      ? { en: `${sink.path} is a folder`, vi: `${sink.path} là một thư mục` }
      : existingFolderProblem(dir);
    if (problem) add('audio.sink.path', problem, { en: 'give a file path in an existing folder user loa can write', vi: 'ghi đường dẫn tệp trong một thư mục có sẵn mà người dùng loa ghi được' });
  }

  const sync = config.sync;
  if (sync) {
    const fileFix = (field: string): Msg => ({ en: `point ${field} at a file user loa may read`, vi: `đặt ${field} là một tệp mà người dùng loa đọc được` });
    const readable = (field: string, path: string | undefined): Buffer | null => {
      if (path === undefined) return null;
      const problem = readableFileProblem(path);
      if (problem) {
        add(field, problem, fileFix(field));
        return null;
      }
      return readFileSync(path);
    };
    for (const v of plaintextBrokers(sync.brokers, sync.allowInsecure)) {
      if (v.verdict !== 'refused') continue;
      add(
        `sync.brokers.${v.index}`,
        { en: `${v.url} is plaintext: the station's password and every command would cross the network in clear`, vi: `${v.url} không mã hóa: mật khẩu của đài và mọi lệnh sẽ đi qua mạng không mã hóa` },
        { en: 'use mqtts:// (or wss://) with sync.tls.caFile; for a development rig only, set sync.allowInsecure: true', vi: 'dùng mqtts:// (hoặc wss://) với sync.tls.caFile; chỉ khi thử nghiệm mới đặt sync.allowInsecure: true' },
      );
    }
    const password = readable('sync.passwordFile', sync.passwordFile);
    if (password && password.toString('utf8').trim() === '') {
      add('sync.passwordFile', { en: `${sync.passwordFile} is empty`, vi: `${sync.passwordFile} trống` }, { en: "put this station's broker password in the file", vi: 'ghi mật khẩu máy chủ MQTT của đài vào tệp' });
    }
    const ca = readable('sync.tls.caFile', sync.tls.caFile);
    if (ca) {
      const bad = certificatesProblem(ca);
      if (bad) add('sync.tls.caFile', bad, { en: "put the province CA's certificate (PEM) in the file", vi: 'đặt chứng chỉ CA của tỉnh (PEM) vào tệp' });
    }
    const certPem = readable('sync.tls.certFile', sync.tls.certFile);
    const keyPem = readable('sync.tls.keyFile', sync.tls.keyFile);
    let cert: X509Certificate | null = null;
    let key: KeyObject | null = null;
    if (certPem) {
      try {
        cert = new X509Certificate(certPem);
      } catch (err) {
        add('sync.tls.certFile', { en: `not a certificate: ${(err as Error).message}`, vi: `không phải chứng chỉ: ${(err as Error).message}` }, { en: "put this station's client certificate (PEM) in the file", vi: 'đặt chứng chỉ máy khách của đài (PEM) vào tệp' });
      }
    }
    if (keyPem) {
      try {
        key = createPrivateKey(keyPem);
      } catch (err) {
        add('sync.tls.keyFile', { en: `not a private key: ${(err as Error).message}`, vi: `không phải khóa riêng: ${(err as Error).message}` }, { en: "put this station's unencrypted private key (PEM) in the file", vi: 'đặt khóa riêng không mã hóa của đài (PEM) vào tệp' });
      }
    }
    if (Boolean(sync.tls.certFile) !== Boolean(sync.tls.keyFile)) {
      const missing = sync.tls.certFile ? 'sync.tls.keyFile' : 'sync.tls.certFile';
      add(missing, { en: 'a client certificate needs both certFile and keyFile', vi: 'chứng chỉ máy khách cần cả certFile và keyFile' }, { en: `set ${missing}, or remove the other one`, vi: `đặt ${missing}, hoặc bỏ trường còn lại` });
    } else if (cert && key && !cert.checkPrivateKey(key)) {
      add('sync.tls.keyFile', { en: 'the key does not belong to the certificate in sync.tls.certFile', vi: 'khóa không khớp với chứng chỉ trong sync.tls.certFile' }, { en: 'use the key the certificate was issued for', vi: 'dùng đúng khóa của chứng chỉ đó' });
    }
    sync.provinceKeys.forEach((text, i) => {
      try {
        loadPublicKey(text);
      } catch (err) {
        add(`sync.provinceKeys.${i}`, { en: `not an Ed25519 public key: ${(err as Error).message}`, vi: `không phải khóa công khai Ed25519: ${(err as Error).message}` }, {
          en: 'paste the province public key as PEM (-----BEGIN PUBLIC KEY-----) or its 32 raw bytes in base64',
          vi: 'dán khóa công khai của tỉnh dạng PEM (-----BEGIN PUBLIC KEY-----) hoặc 32 byte thô dạng base64',
        });
      }
    });
  }

  if (config.bridge) {
    const path = config.bridge.path;
    const kind = stat(path);
    // Absent is fine (the microcontroller may be unplugged at boot); a folder or a plain file never becomes a serial port.
    const problem = !isAbsolute(path)
      ? { en: `${path} is not an absolute path`, vi: `${path} không phải đường dẫn tuyệt đối` }
      : kind && !kind.isCharacterDevice()
        ? { en: `${path} is ${kind.isDirectory() ? 'a folder' : 'not a serial device'}`, vi: `${path} ${kind.isDirectory() ? 'là một thư mục' : 'không phải cổng nối tiếp'}` }
        : null;
    if (problem) add('bridge.path', problem, { en: 'use the serial device, e.g. /dev/serial/by-id/usb-...', vi: 'dùng thiết bị nối tiếp, ví dụ /dev/serial/by-id/usb-...' });
  }
  return findings;
}

function stat(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function isDirectory(path: string): boolean {
  return stat(path)?.isDirectory() ?? false;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch (err) {
    // A disk remounted read-only is a fault the agent plays through and reports, not a wrong configuration.
    return (err as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/** A folder that exists and is writable, or can be created (its nearest existing ancestor is a writable folder). */
function folderProblem(path: string): Msg | null {
  const s = stat(path);
  if (s) return s.isDirectory() ? (writable(path) ? null : { en: `cannot write in ${path}`, vi: `không ghi được vào ${path}` }) : { en: `${path} is a file, not a folder`, vi: `${path} là một tệp, không phải thư mục` };
  let ancestor = dirname(resolve(path));
  while (!stat(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  const a = stat(ancestor);
  if (!a?.isDirectory()) return { en: `${path} cannot be created: ${ancestor} is a file, not a folder`, vi: `không tạo được ${path}: ${ancestor} là một tệp, không phải thư mục` };
  if (!writable(ancestor)) return { en: `${path} does not exist and cannot be created in ${ancestor}`, vi: `${path} không có và không tạo được trong ${ancestor}` };
  return null;
}

/** A folder that must already exist (nothing creates it). */
function existingFolderProblem(path: string): Msg | null {
  const s = stat(path);
  if (!s) return { en: `folder ${path} does not exist`, vi: `thư mục ${path} không tồn tại` };
  if (!s.isDirectory()) return { en: `${path} is a file, not a folder`, vi: `${path} là một tệp, không phải thư mục` };
  return writable(path) ? null : { en: `cannot write in ${path}`, vi: `không ghi được vào ${path}` };
}

function readableFileProblem(path: string): Msg | null {
  const s = stat(path);
  if (!s) return { en: `${path} does not exist`, vi: `${path} không tồn tại` };
  if (!s.isFile()) return { en: `${path} is ${s.isDirectory() ? 'a folder' : 'not a regular file'}`, vi: `${path} ${s.isDirectory() ? 'là một thư mục' : 'không phải tệp thường'}` };
  try {
    accessSync(path, constants.R_OK);
    return null;
  } catch (err) {
    return { en: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, vi: `không đọc được ${path} (${(err as NodeJS.ErrnoException).code ?? 'lỗi'})` };
  }
}

/** Every PEM certificate in a CA bundle must parse, and there must be one. */
function certificatesProblem(pem: Buffer): Msg | null {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { en: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file', vi: 'tệp không có chứng chỉ PEM (-----BEGIN CERTIFICATE-----)' };
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return { en: `certificate ${i + 1} does not parse: ${(err as Error).message}`, vi: `chứng chỉ thứ ${i + 1} không đọc được: ${(err as Error).message}` };
    }
  }
  return null;
}
