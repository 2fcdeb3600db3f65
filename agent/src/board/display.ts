import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';

/**
 * Switching the board's screen (the HDMI panel) on and off. Drivers:
 * cec-ctl (v4l-utils, the kernel's CEC framework: /dev/cecN on a Pi),
 * cec-client (libcec, also USB adapters), blank (no CEC: nothing to
 * switch, the controller's black page is all there is) and sim (records
 * every transition, for tests and the demo).
 *
 * The CEC tools run as child processes with a time limit: a hung tool is
 * killed, never waited for. Argument vectors and the reading of the tools'
 * output are pure functions, tested without a CEC adapter.
 */
export type DisplayDriverKind = 'cec-ctl' | 'cec-client' | 'blank' | 'sim';

export interface DisplayPower {
  readonly kind: DisplayDriverKind;
  /** Switches the panel; rejects with an operator-readable Error when it could not. */
  setPower(on: boolean): Promise<void>;
}

/** A CEC command that takes longer has hung (cec-client alone needs a few seconds to open its adapter). */
export const DEFAULT_CEC_TIMEOUT_MS = 15_000;
/** The name the TV lists for us among its sources. */
export const CEC_OSD_NAME = 'loa';
/** What a tool may print before we stop keeping it: enough for any error, bounded for a runaway one. */
const OUTPUT_LIMIT = 64 * 1024;

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed by us for running past its time limit. */
  timedOut: boolean;
  /** The program could not be started (ENOENT: not installed). */
  spawnError: NodeJS.ErrnoException | null;
}

/** Runs a CEC tool to completion, or kills it (SIGKILL) after `timeoutMs`. Never rejects. */
export function runTool(command: string, args: readonly string[], opts: { input?: string; timeoutMs: number }): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | null = null;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => { if (stdout.length < OUTPUT_LIMIT) stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { if (stderr.length < OUTPUT_LIMIT) stderr += c; });
    // A tool that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.on('error', (err: NodeJS.ErrnoException) => { spawnError = err; });
    // 'close' follows both a normal exit and a failed spawn.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, spawnError });
    });
  });
}

/**
 * cec-ctl's arguments. `configure` first claims a playback logical address
 * (cec-ctl sends nothing from an unconfigured adapter); verbose makes it
 * print the transmit status even on success, so success is read, not assumed.
 */
export function cecCtlArgs(device: string, on: boolean, configure: boolean): string[] {
  return [
    '--device', device, '--skip-info', '--verbose',
    ...(configure ? ['--playback', '--osd-name', CEC_OSD_NAME] : []),
    // Logical address 0 is always the TV.
    '--to', '0', on ? '--image-view-on' : '--standby',
  ];
}

/**
 * What went wrong in a cec-ctl run, or null if the TV acknowledged the
 * message. cec-ctl exits 0 even when nothing was sent (unconfigured
 * adapter, message not acknowledged), so its output is read as well.
 */
export function cecCtlProblem(run: ToolRun, device: string, timeoutMs: number): string | null {
  const common = toolProblem('cec-ctl', 'v4l-utils', run, timeoutMs);
  if (common) return `${common} (CEC adapter ${device})`;
  if (run.code !== 0) {
    const line = firstLine(run.stderr) || firstLine(run.stdout) || `exit status ${run.code}`;
    const hint = /No such file/.test(line)
      ? '; list the adapters with `cec-ctl --list-devices`'
      : /Permission denied/.test(line) ? '; the loa user needs the video group' : '';
    return `CEC adapter ${device}: ${line}${hint}`;
  }
  if (/Adapter is unconfigured/.test(run.stderr)) {
    return `CEC adapter ${device} could not claim a logical address: is the screen plugged in (HDMI) and powered at the wall?`;
  }
  const status = run.stdout.split('\n').map((l) => l.trim()).filter((l) => /^Tx\b/.test(l));
  if (status.some((l) => /^Tx, OK\b/.test(l))) return null;
  if (status.length > 0) {
    return `the screen did not answer on CEC adapter ${device} (${status.join('; ')}): is HDMI-CEC enabled in its menu (Anynet+, SimpLink, Bravia Sync...)?`;
  }
  return `cec-ctl sent nothing on CEC adapter ${device}: ${lastLine(run.stdout) || lastLine(run.stderr) || 'no output'}`;
}

/** cec-client (libcec) in single-command mode: the command is read from its input, logging errors only. */
export function cecClientCommand(on: boolean): { args: string[]; input: string } {
  return { args: ['-s', '-d', '1'], input: on ? 'on 0\n' : 'standby 0\n' };
}

/**
 * What went wrong in a cec-client run, or null. cec-client reports only a
 * failure to reach an adapter (exit status 1); whether the TV acknowledged
 * is not in its single-command output.
 */
export function cecClientProblem(run: ToolRun, timeoutMs: number): string | null {
  const common = toolProblem('cec-client', 'cec-utils', run, timeoutMs);
  if (common) return common;
  if (run.code === 0) return null;
  const line = lastLine(run.stdout) || lastLine(run.stderr) || `exit status ${run.code}`;
  return /autodetect FAILED/.test(line) ? `cec-client found no CEC adapter (${line})` : `cec-client failed: ${line}`;
}

/** The failures every tool shares: not installed, hung, killed. */
function toolProblem(tool: string, debianPackage: string, run: ToolRun, timeoutMs: number): string | null {
  if (run.spawnError?.code === 'ENOENT') return `${tool} is not installed (Debian package ${debianPackage})`;
  if (run.spawnError) return `cannot run ${tool}: ${run.spawnError.message}`;
  if (run.timedOut) return `${tool} did not finish within ${timeoutMs} ms and was killed`;
  if (run.signal) return `${tool} was killed by ${run.signal}`;
  return null;
}

const firstLine = (s: string): string => s.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
const lastLine = (s: string): string => s.split('\n').map((l) => l.trim()).filter((l) => l !== '').at(-1) ?? '';

export class CecCtlDisplay implements DisplayPower {
  readonly kind = 'cec-ctl';
  private configured = false;
  private readonly timeoutMs: number;

  constructor(private readonly o: { device: string; timeoutMs?: number }) {
    this.timeoutMs = o.timeoutMs ?? DEFAULT_CEC_TIMEOUT_MS;
  }

  async setPower(on: boolean): Promise<void> {
    const run = await runTool('cec-ctl', cecCtlArgs(this.o.device, on, !this.configured), { timeoutMs: this.timeoutMs });
    const problem = cecCtlProblem(run, this.o.device, this.timeoutMs);
    // After any failure (a replugged screen, a reset adapter) the address is claimed again.
    this.configured = problem === null;
    if (problem) throw new Error(problem);
  }
}

export class CecClientDisplay implements DisplayPower {
  readonly kind = 'cec-client';
  private readonly timeoutMs: number;

  constructor(o: { timeoutMs?: number } = {}) {
    this.timeoutMs = o.timeoutMs ?? DEFAULT_CEC_TIMEOUT_MS;
  }

  async setPower(on: boolean): Promise<void> {
    const { args, input } = cecClientCommand(on);
    const problem = cecClientProblem(await runTool('cec-client', args, { input, timeoutMs: this.timeoutMs }), this.timeoutMs);
    if (problem) throw new Error(problem);
  }
}

/** A screen without CEC: there is nothing to switch; the black page is the whole of "off". */
export class BlankDisplay implements DisplayPower {
  readonly kind = 'blank';
  async setPower(): Promise<void> {}
}

export interface DisplayTransition {
  atMs: number;
  on: boolean;
}

/**
 * A simulated CEC screen. Each change of power is a transition, timestamped,
 * kept in memory and emitted; switching to the state it is already in is
 * none. `fail()` makes it stop answering, as an unplugged or CEC-disabled
 * panel does.
 */
export class SimDisplay extends EventEmitter<{ transition: [DisplayTransition] }> implements DisplayPower {
  readonly kind = 'sim';
  private readonly recorded: DisplayTransition[] = [];
  private power: boolean | null = null;
  private fault: string | null = null;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  get transitions(): readonly DisplayTransition[] {
    return this.recorded;
  }

  /** The panel's power; null until first switched. */
  get isOn(): boolean | null {
    return this.power;
  }

  /** From now on every command fails with `reason`; null makes the panel answer again. */
  fail(reason: string | null): void {
    this.fault = reason;
  }

  async setPower(on: boolean): Promise<void> {
    if (this.fault !== null) throw new Error(`simulated screen did not answer: ${this.fault}`);
    if (this.power === on) return;
    this.power = on;
    const t = { atMs: this.now(), on };
    this.recorded.push(t);
    this.emit('transition', t);
  }
}

/** The driver for `config.board.display`. */
export function createDisplayPower(c: { driver: DisplayDriverKind; device: string }, opts: { timeoutMs?: number } = {}): DisplayPower {
  switch (c.driver) {
    case 'cec-ctl': return new CecCtlDisplay({ device: c.device, ...opts });
    case 'cec-client': return new CecClientDisplay(opts);
    case 'blank': return new BlankDisplay();
    case 'sim': return new SimDisplay();
  }
}
