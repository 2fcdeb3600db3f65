import { readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Gpio } from 'onoff';
import type { Level, RelayDriver } from './driver.js';

/**
 * GPIO through the kernel's sysfs interface, via `onoff`.
 *
 * Line numbers in the configuration are offsets on one chip (BCM numbers
 * on a Raspberry Pi). Sysfs numbers are the chip's base plus the offset,
 * and since Raspberry Pi kernel 6.6 the base is no longer 0 (512 on a Pi 4,
 * other values on a Pi 5), so it is read at run time from
 * `/sys/class/gpio/gpiochip*\/{base,label,ngpio}`.
 *
 * Two deliberate choices:
 * - onoff's `activeLow` is forced to false: the RelayBank owns active-low,
 *   and a line left with `active_low=1` by another tool would otherwise
 *   silently invert every relay.
 * - `close()` does not unexport. An unexported line becomes an input, and
 *   an input on a pin with the Pi's default pull-down switches an
 *   active-low relay board ON. The lines keep driving the safe level.
 *
 * onoff hard-codes `/sys/class/gpio`; `sysfsRoot` only moves the chip
 * lookup, so the lookup can be tested on a machine without GPIO.
 */
export const SYSFS_GPIO_ROOT = '/sys/class/gpio';

export interface SysfsChip {
  /** Directory name under /sys/class/gpio, e.g. `gpiochip512`. */
  dir: string;
  base: number;
  label: string;
  ngpio: number;
  /** The matching character device (`gpiochip0`), when the sysfs layout tells. */
  chardev?: string;
}

export async function listSysfsChips(root = SYSFS_GPIO_ROOT): Promise<SysfsChip[]> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `no sysfs GPIO interface at ${root}: this kernel has no CONFIG_GPIO_SYSFS or the machine has no GPIO. ` +
          'On a Raspberry Pi use relays.driver "gpiod"; without relays use "sim".',
      );
    }
    throw err;
  }
  const chips: SysfsChip[] = [];
  for (const dir of entries.filter((e) => /^gpiochip\d+$/.test(e)).sort()) {
    const path = join(root, dir);
    const read = async (f: string): Promise<string> => (await readFile(join(path, f), 'utf8')).trim();
    const chip: SysfsChip = { dir, base: Number(await read('base')), label: await read('label'), ngpio: Number(await read('ngpio')) };
    const chardev = await chardevOf(path);
    if (chardev) chip.chardev = chardev;
    chips.push(chip);
  }
  return chips;
}

/**
 * The sysfs chip device sits at `<parent>/gpio/gpiochipBASE`; its character
 * device is the parent's `gpiochipN` child. Undefined when that is not
 * exactly one (then the chip is found by label or directory name).
 */
async function chardevOf(sysfsChipPath: string): Promise<string | undefined> {
  try {
    const parent = dirname(dirname(await realpath(sysfsChipPath)));
    const devs = (await readdir(parent)).filter((e) => /^gpiochip\d+$/.test(e));
    return devs.length === 1 ? devs[0] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds the chip that `relays.chip` names: by label (`pinctrl-bcm2711`),
 * by character device (`gpiochip0`, as for the gpiod driver), or by sysfs
 * directory (`gpiochip512`).
 */
export function findSysfsChip(chips: readonly SysfsChip[], chip: string, root = SYSFS_GPIO_ROOT): SysfsChip {
  const found = chips.find((c) => c.label === chip) ?? chips.find((c) => c.chardev === chip) ?? chips.find((c) => c.dir === chip);
  if (found) return found;
  const known = chips.map((c) => `${c.dir} (label "${c.label}", base ${c.base}, ${c.ngpio} lines${c.chardev ? `, /dev/${c.chardev}` : ''})`);
  throw new Error(
    `GPIO chip "${chip}" not found under ${root}; ` +
      (known.length > 0 ? `chips there: ${known.join('; ')}. Set relays.chip to one of the labels.` : 'there are no chips at all: does this machine have GPIO?'),
  );
}

/** The sysfs number of a line offset on a chip, checked against the chip's size. */
export function sysfsNumber(chip: SysfsChip, line: number): number {
  if (line < 0 || line >= chip.ngpio) {
    throw new Error(`GPIO line ${line} is out of range for chip ${chip.dir} ("${chip.label}", ${chip.ngpio} lines: 0-${chip.ngpio - 1})`);
  }
  return chip.base + line;
}

export class SysfsRelayDriver implements RelayDriver {
  readonly kind = 'sysfs';
  private readonly gpios = new Map<number, Gpio>();

  constructor(private readonly opts: { chip: string; sysfsRoot?: string }) {}

  async open(lines: ReadonlyArray<{ line: number; initial: Level }>): Promise<void> {
    const root = this.opts.sysfsRoot ?? SYSFS_GPIO_ROOT;
    const chip = findSysfsChip(await listSysfsChips(root), this.opts.chip, root);
    const numbers = lines.map(({ line, initial }) => ({ line, initial, n: sysfsNumber(chip, line) }));
    // Loaded only here: its native epoll addon is not needed by other drivers.
    const { Gpio } = await import('onoff');
    for (const { line, initial, n } of numbers) {
      try {
        // 'high'/'low' makes the line an output already at that level, with no glitch.
        this.gpios.set(line, new Gpio(n, initial === 1 ? 'high' : 'low', 'none', { activeLow: false }));
      } catch (err) {
        throw new Error(
          `cannot claim GPIO line ${line} (sysfs ${n} on ${chip.dir}, "${chip.label}"): ${(err as Error).message}. ` +
            'Check that the agent is in the gpio group and no other program uses the line.',
          { cause: err },
        );
      }
    }
  }

  async write(line: number, level: Level): Promise<void> {
    await this.gpio(line).write(level);
  }

  async read(line: number): Promise<Level> {
    return this.gpio(line).read();
  }

  async close(): Promise<void> {
    // Not unexported (see above); the value files close when the process exits.
    this.gpios.clear();
  }

  private gpio(line: number): Gpio {
    const g = this.gpios.get(line);
    if (!g) throw new Error(`GPIO line ${line} was not opened as an output`);
    return g;
  }
}
