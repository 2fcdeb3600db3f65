/**
 * The sysfs and libgpiod drivers. This machine has no GPIO at all (no
 * /sys/class/gpio, no /dev/gpiochip*), so what is tested here is what can
 * be without hardware: chip lookup on a sysfs tree laid out like a Pi 4's
 * on kernel 6.6, line numbering, gpioset command lines as data, the holder
 * processes' life cycle (with a stand-in gpioset that records its runs),
 * the real gpioset's own error reaching the operator, and the message when
 * the hardware is missing.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger } from '../src/lib/logger.js';
import { GpiodRelayDriver, chipDevicePath, holdArgs, parseGpiodVersion } from '../src/relays/gpiod-driver.js';
import { SysfsRelayDriver, findSysfsChip, listSysfsChips, sysfsNumber } from '../src/relays/sysfs-driver.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'loa-gpio-'));

/** Polls until `probe` returns something truthy: the stand-in gpioset logs a moment after it starts. */
async function eventually<T>(probe: () => T | undefined | false): Promise<T> {
  for (let i = 0; i < 250; i++) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not reached within 5 s');
}

t.test('libgpiod: version and command lines', async (t) => {
  t.equal(parseGpiodVersion(execFileSync('gpioset', ['--version'], { encoding: 'utf8' })), 1, "Debian 12's gpioset is v1");
  t.equal(parseGpiodVersion('gpioset (libgpiod) v2.1.3\nCopyright (C) 2017-2023 Bartosz Golaszewski\n'), 2);
  t.throws(() => parseGpiodVersion('gpioset (libgpiod) v3.0'), /v3 is not supported/);
  t.throws(() => parseGpiodVersion('command not found'), /cannot tell the libgpiod version/);
  t.same(holdArgs(1, 'gpiochip0', 17, 1), ['--mode=signal', 'gpiochip0', '17=1']);
  t.same(holdArgs(2, 'gpiochip0', 17, 0), ['-c', 'gpiochip0', '-C', 'loa', '17=0']);
  t.equal(chipDevicePath('0'), '/dev/gpiochip0');
  t.equal(chipDevicePath('gpiochip4'), '/dev/gpiochip4');
  t.equal(chipDevicePath('/dev/gpiochip1'), '/dev/gpiochip1');
});

t.test('libgpiod: without GPIO hardware the error says which chip and what to check', async (t) => {
  const driver = new GpiodRelayDriver({ chip: 'gpiochip0' });
  await t.rejects(driver.open([{ line: 17, initial: 1 }]), /GPIO chip \/dev\/gpiochip0 does not exist \(relays\.chip is "gpiochip0"\)\. List the chips with `gpiodetect`/);
});

t.test("libgpiod: the real gpioset's refusal reaches the operator", async (t) => {
  // /dev/null exists but is no GPIO chip: gpioset starts and fails at once.
  const driver = new GpiodRelayDriver({ chip: '/dev/null' });
  await t.rejects(driver.open([{ line: 17, initial: 1 }]), /cannot drive GPIO line 17 on \/dev\/null: gpioset exited with code 1: gpioset: error setting the GPIO line values: Inappropriate ioctl/);
  await driver.close();
});

/** Stands in for gpioset on a machine without GPIO: logs each run and holds until SIGTERM. */
function fakeGpioset(dir: string, version: string): { path: string; runs: () => string[] } {
  const log = join(dir, 'runs.log');
  const path = join(dir, 'gpioset');
  writeFileSync(
    path,
    `#!/bin/bash
if [ "$1" = --version ]; then echo "gpioset (libgpiod) ${version}"; exit 0; fi
echo "start $$ $*" >> ${log}
trap 'echo "stop $$" >> ${log}; exit 0' TERM
while true; do sleep 0.05; done
`,
  );
  chmodSync(path, 0o755);
  writeFileSync(log, '');
  return { path, runs: () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) };
}

t.test('libgpiod: one holder per line, replaced on a change, stopped on close', async (t) => {
  const dir = tmp();
  const chip = join(dir, 'gpiochip0');
  writeFileSync(chip, '');
  const fake = fakeGpioset(dir, 'v2.1.3');
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const driver = new GpiodRelayDriver({ chip, gpiosetPath: fake.path, confirmMs: 100, log });
  await driver.open([
    { line: 17, initial: 1 },
    { line: 22, initial: 1 },
  ]);
  const started = (): string[] => fake.runs().filter((r) => r.startsWith('start')).map((r) => r.split(' ').slice(2).join(' '));
  t.same(await eventually(() => started().length >= 2 && started()), [`-c ${chip} -C loa 17=1`, `-c ${chip} -C loa 22=1`]);
  await driver.write(17, 0);
  await driver.write(17, 0);
  t.equal(await driver.read(17), 0);
  t.equal(await driver.read(22), 1);
  await eventually(() => started().length >= 3);
  await new Promise((r) => setTimeout(r, 200));
  t.same(started().slice(2), [`-c ${chip} -C loa 17=0`], 'a repeat starts nothing');
  const runs = fake.runs();
  const firstPid = runs[0]!.split(' ')[1];
  t.ok(runs.indexOf(`stop ${firstPid}`) < runs.length - 1 && runs.indexOf(`stop ${firstPid}`) > 1, 'the old holder let go before the new one started');

  // A holder that dies leaves the level unknown until the next change.
  const pid22 = Number(fake.runs()[1]!.split(' ')[1]);
  process.kill(pid22, 'SIGKILL');
  t.match(await eventually(() => lines.find((l) => l.msg === 'GPIO line holder died; relay level unknown')), { line: 22 });
  await t.rejects(driver.read(22), /line 22 .* is no longer held \(gpioset exited SIGKILL\); its level is unknown/);
  await driver.write(22, 1);
  t.equal(await driver.read(22), 1, 'even the same level is driven again after the holder died');

  await driver.close();
  await eventually(() => fake.runs().filter((r) => r.startsWith('stop')).length >= 2);
  const after = fake.runs();
  const startedPids = after.filter((r) => r.startsWith('start')).map((r) => r.split(' ')[1]);
  const stopped = new Set(after.filter((r) => r.startsWith('stop')).map((r) => r.split(' ')[1]));
  t.same(startedPids.filter((p) => !stopped.has(p)), [String(pid22)], 'every holder stopped on close (the killed one could not say so)');
});

t.test('libgpiod v1 command line through the same holder', async (t) => {
  const dir = tmp();
  const chip = join(dir, 'gpiochip0');
  writeFileSync(chip, '');
  const fake = fakeGpioset(dir, 'v1.6.3');
  const driver = new GpiodRelayDriver({ chip, gpiosetPath: fake.path, confirmMs: 50, log: silentLogger() });
  await driver.open([{ line: 4, initial: 0 }]);
  await driver.close();
  t.same((await eventually(() => fake.runs()[0]))!.split(' ').slice(2), ['--mode=signal', chip, '4=0']);
});

/** A sysfs tree laid out like a Raspberry Pi 4's on kernel 6.6 (bases from 512). */
function fakeSysfs(): string {
  const sys = tmp();
  const classDir = join(sys, 'class/gpio');
  mkdirSync(classDir, { recursive: true });
  const chip = (platform: string, chardev: string, base: number, label: string, ngpio: number): void => {
    const dev = join(sys, 'devices/platform', platform);
    mkdirSync(join(dev, chardev), { recursive: true });
    const sysfsChip = join(dev, 'gpio', `gpiochip${base}`);
    mkdirSync(sysfsChip, { recursive: true });
    writeFileSync(join(sysfsChip, 'base'), `${base}\n`);
    writeFileSync(join(sysfsChip, 'label'), `${label}\n`);
    writeFileSync(join(sysfsChip, 'ngpio'), `${ngpio}\n`);
    symlinkSync(sysfsChip, join(classDir, `gpiochip${base}`));
  };
  chip('soc/fe200000.gpio', 'gpiochip0', 512, 'pinctrl-bcm2711', 58);
  chip('soc/firmware/soc:firmware:gpio', 'gpiochip1', 570, 'raspberrypi-exp-gpio', 8);
  writeFileSync(join(classDir, 'export'), '');
  return classDir;
}

t.test('sysfs: the chip base is looked up, by label, character device or directory', async (t) => {
  const root = fakeSysfs();
  const chips = await listSysfsChips(root);
  t.same(chips, [
    { dir: 'gpiochip512', base: 512, label: 'pinctrl-bcm2711', ngpio: 58, chardev: 'gpiochip0' },
    { dir: 'gpiochip570', base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8, chardev: 'gpiochip1' },
  ]);
  t.equal(findSysfsChip(chips, 'pinctrl-bcm2711').base, 512);
  t.equal(findSysfsChip(chips, 'gpiochip0').base, 512, 'the same name the gpiod driver uses');
  t.equal(findSysfsChip(chips, 'gpiochip570').label, 'raspberrypi-exp-gpio');
  t.equal(sysfsNumber(chips[0]!, 17), 529, 'BCM 17 is sysfs 529 on a Pi 4 with kernel 6.6');
  t.throws(() => sysfsNumber(chips[1]!, 8), /line 8 is out of range for chip gpiochip570 \("raspberrypi-exp-gpio", 8 lines: 0-7\)/);
  t.throws(
    () => findSysfsChip(chips, 'pinctrl-rp1', root),
    /GPIO chip "pinctrl-rp1" not found under .*; chips there: gpiochip512 \(label "pinctrl-bcm2711", base 512, 58 lines, \/dev\/gpiochip0\); gpiochip570 .*Set relays\.chip to one of the labels/,
  );
  t.throws(() => findSysfsChip([], 'gpiochip0'), /there are no chips at all/);
});

t.test('sysfs: without GPIO the error says what is missing and what to use', async (t) => {
  await t.rejects(new SysfsRelayDriver({ chip: 'gpiochip0' }).open([{ line: 17, initial: 1 }]), /no sysfs GPIO interface at \/sys\/class\/gpio.*use relays\.driver "gpiod"; without relays use "sim"/);
  // With the chip found, onoff (which always uses /sys/class/gpio) cannot export the line.
  const driver = new SysfsRelayDriver({ chip: 'pinctrl-bcm2711', sysfsRoot: fakeSysfs() });
  await t.rejects(driver.open([{ line: 17, initial: 1 }]), /cannot claim GPIO line 17 \(sysfs 529 on gpiochip512, "pinctrl-bcm2711"\): .*Check that the agent is in the gpio group/);
});
