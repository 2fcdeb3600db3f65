/**
 * The interface every relay driver serves: sysfs GPIO (onoff), libgpiod
 * tools, the firmware bridge's microcontroller, and the simulated bank.
 * Drivers speak physical levels; active-low and the safe state are the
 * RelayBank's business, so every driver gets them right the same way.
 */
export type Level = 0 | 1;

export interface RelayDriver {
  /** Short name for logs and `loa doctor`, e.g. `sim`, `sysfs`, `gpiod`, `bridge`. */
  readonly kind: string;
  /**
   * Claims the lines and drives each to its given initial level before
   * anything else happens (the safe state).
   */
  open(lines: ReadonlyArray<{ line: number; initial: Level }>): Promise<void>;
  write(line: number, level: Level): Promise<void>;
  /** Reads the level back from the hardware, not from a cache (where the hardware cannot say, see `readsLine`). */
  read(line: number): Promise<Level>;
  /**
   * False when `read()` can only say what the driver set, not what the line
   * is (gpiod: reading an output line would switch it): the play log then
   * claims no read-back evidence. Absent means true.
   */
  readonly readsLine?: boolean;
  /** Releases the lines. The bank drives them safe first. */
  close(): Promise<void>;
}
