/**
 * A stalled store, for tests: while closed, every call that passes through it waits (as calls
 * to a paused Redis or a ClickHouse that stopped sending do); `open()` lets them all go on.
 * `waiting` counts the calls held now.
 */
export class Valve {
  private gate: Promise<void> | null = null;
  private release: (() => void) | null = null;
  waiting = 0;

  close(): void {
    if (this.gate) return;
    this.gate = new Promise((r) => (this.release = r));
  }

  open(): void {
    this.release?.();
    this.gate = null;
    this.release = null;
  }

  get closed(): boolean {
    return this.gate !== null;
  }

  /** Resolves at once while open; while closed, once opened. */
  async pass(): Promise<void> {
    while (this.gate) {
      this.waiting++;
      try {
        await this.gate;
      } finally {
        this.waiting--;
      }
    }
  }
}
