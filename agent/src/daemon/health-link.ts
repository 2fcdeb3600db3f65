import type { Logger } from 'pino';
import type { HealthConfig } from '../health/config.js';
import { evaluateHealth, healthTransitions, type HealthAlarm, type HealthReadings } from '../health/thresholds.js';
import type { Probes } from '../doctor/probes.js';
import { readPower, underVoltageNow } from '../doctor/host.js';
import type { BridgeLink } from './bridge-link.js';

export interface HealthTransitionEvent {
  alarm: HealthAlarm;
  state: 'raised' | 'cleared';
}

/**
 * The station's health readings as the agent follows them: the
 * microcontroller's faults and inputs as they change (its events), its
 * analogue readings and the host's supply every `pollS`. Each alarm is
 * reported when it is raised and when it clears, never in between.
 */
export class HealthWatch {
  private readonly active = new Map<string, HealthAlarm>();
  private readings: HealthReadings = { faults: [], analog: [], inputs: {}, underVoltage: null };
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    private readonly d: {
      config: HealthConfig;
      bridge: BridgeLink | null;
      /** Input names by channel (bridge.inputs). */
      inputNames: Readonly<Record<string, string>>;
      probes: Probes;
      onTransition: (e: HealthTransitionEvent) => void;
      log: Logger;
    },
  ) {}

  start(): void {
    const client = this.d.bridge?.client;
    client?.on('fault', (f) => this.update({ faults: f.faults }));
    client?.on('input', (c) => this.update({ inputs: this.named(c.levels) }));
    client?.on('open', () => void this.poll());
    this.timer = setInterval(() => void this.poll(), this.d.config.pollS * 1000);
    void this.poll();
  }

  /** One look at everything: for the timer, and for a test or `loa doctor` that wants it now. */
  poll(): Promise<void> {
    this.polling ??= this.read()
      .then((r) => this.update(r))
      .catch((err: unknown) => this.d.log.warn({ err }, 'health readings failed'))
      .finally(() => (this.polling = null));
    return this.polling;
  }

  alarms(): HealthAlarm[] {
    return [...this.active.values()];
  }

  /** What `loa status`, the doctor and the province's health show while an alarm stands. */
  problems(): string[] {
    return this.alarms().map((a) => `health: ${a.text.en}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async read(): Promise<Partial<HealthReadings>> {
    const out: Partial<HealthReadings> = { underVoltage: underVoltageNow(await readPower(this.d.probes)) };
    const client = this.d.bridge?.client;
    if (client && client.state === 'open') {
      out.faults = client.activeFaults;
      if (client.has('analog')) out.analog = await client.readAnalog();
      if (client.has('inputs')) out.inputs = this.named(await client.readInputs());
    }
    return out;
  }

  private named(levels: number): Record<string, 0 | 1> {
    const out: Record<string, 0 | 1> = {};
    for (let ch = 0; ch < 16; ch++) {
      const name = this.d.inputNames[String(ch)];
      if (name) out[name] = ((levels >> ch) & 1) as 0 | 1;
    }
    return out;
  }

  private update(r: Partial<HealthReadings>): void {
    this.readings = { ...this.readings, ...r };
    const next = evaluateHealth(this.readings, this.d.config, new Set(this.active.keys()));
    const t = healthTransitions(this.active, next);
    for (const a of t.raised) {
      this.active.set(a.id, a);
      this.d.onTransition({ alarm: a, state: 'raised' });
    }
    for (const id of t.cleared) {
      const a = this.active.get(id)!;
      this.active.delete(id);
      this.d.onTransition({ alarm: a, state: 'cleared' });
    }
  }
}
