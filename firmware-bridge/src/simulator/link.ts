import { realpath } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import type { Logger } from '../../../agent/src/lib/logger.js';
import type { McuSimulator } from './mcu.js';

/**
 * Puts a simulated microcontroller on a serial line (one end of a socat pty
 * pair) and impairs the line on the way in and out. The microcontroller
 * keeps running while the line is gone; the link reattaches when the path
 * comes back (a replugged USB adapter is a new device behind the same link).
 */
export interface Impairments {
  /** Probability per byte, each direction, that the byte arrives corrupted. */
  noise: number;
  /** Probability per byte, each direction, that the byte is lost. */
  drop: number;
  /** No byte in or out: a hung microcontroller or a cut wire with the port still open. */
  mute: boolean;
}

export interface SimulatorLinkOptions {
  path: string;
  mcu: McuSimulator;
  log: Logger;
  baudRate?: number;
  impairments?: Partial<Impairments>;
  /** How often the path is checked for a replug. */
  pollMs?: number;
  random?: () => number;
}

export class SimulatorLink {
  readonly impairments: Impairments;
  private port: SerialPort | null = null;
  private device: string | null = null;
  private stopped = false;
  private checking = false;
  private poll: NodeJS.Timeout | null = null;
  private readonly random: () => number;

  constructor(private readonly opts: SimulatorLinkOptions) {
    this.impairments = { noise: 0, drop: 0, mute: false, ...opts.impairments };
    this.random = opts.random ?? Math.random;
  }

  get attached(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** Opens the line now if it is there, and keeps watching it. */
  async start(): Promise<void> {
    await this.check();
    this.poll = setInterval(() => void this.check(), this.opts.pollMs ?? 100);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    await this.detach();
  }

  /** Reattaches when the path is missing or now names another device. */
  private async check(): Promise<void> {
    if (this.stopped || this.checking) return;
    this.checking = true;
    try {
      await this.checkOnce();
    } finally {
      this.checking = false;
    }
  }

  private async checkOnce(): Promise<void> {
    const device = await realpath(this.opts.path).catch(() => null);
    if (device === this.device && this.attached) return;
    if (this.port || this.device) {
      this.opts.log.info({ path: this.opts.path }, 'simulated microcontroller lost the line');
      await this.detach();
    }
    if (device === null || this.stopped) return;
    await this.attach(device);
  }

  private async attach(device: string): Promise<void> {
    const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate ?? 115200, autoOpen: false });
    const opened = await new Promise<boolean>((resolve) => port.open((err) => resolve(!err)));
    if (!opened || this.stopped) {
      if (opened) port.close();
      return;
    }
    this.port = port;
    this.device = device;
    port.on('data', (d: Buffer) => {
      if (this.impairments.mute) return;
      this.opts.mcu.receive(this.impair(d));
    });
    port.on('error', () => undefined);
    port.on('close', () => {
      if (this.port === port) {
        this.port = null;
        this.opts.mcu.attach(null);
      }
    });
    this.opts.mcu.attach((bytes) => {
      if (this.impairments.mute || !port.isOpen) return;
      port.write(this.impair(bytes));
    });
    this.opts.log.info({ path: this.opts.path, device }, 'simulated microcontroller attached to the line');
  }

  private async detach(): Promise<void> {
    const port = this.port;
    this.port = null;
    this.device = null;
    this.opts.mcu.attach(null);
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private impair(bytes: Uint8Array): Uint8Array {
    const { noise, drop } = this.impairments;
    if (noise === 0 && drop === 0) return bytes;
    const out: number[] = [];
    for (const b of bytes) {
      if (drop > 0 && this.random() < drop) continue;
      out.push(noise > 0 && this.random() < noise ? b ^ (1 + Math.floor(this.random() * 255)) : b);
    }
    return Uint8Array.from(out);
  }
}
