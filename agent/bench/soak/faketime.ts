import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian installs it under the architecture's library folder (x86_64-linux-gnu, aarch64-linux-gnu...). */
export function faketimeLibrary(): string {
  const found = readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime', 'libfaketimeMT.so.1')).find((p) => existsSync(p));
  if (!found) throw new Error('libfaketime missing: sudo apt-get install faketime');
  return found;
}

/**
 * libfaketime reading its offset from `file` (at most a second old), so a
 * running daemon's wall clock can be jumped by rewriting the file ("+40", "-40");
 * timers keep real (monotonic) time.
 */
export function jumpableClock(file: string): Record<string, string> {
  return { LD_PRELOAD: faketimeLibrary(), FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/**
 * Sets the offset a `jumpableClock` reads ("+40", "-40", seconds), by
 * rename: libfaketime re-reads the file by name, and a file it catches
 * truncated mid-write reads as no offset at all (the real clock for up to a
 * second, a jump the other way and back).
 */
export function setClockOffset(file: string, offset: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, offset);
  renameSync(tmp, file);
}
