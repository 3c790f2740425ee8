/**
 * Counts messages taken from the broker and not yet settled (acked or terminated). The source
 * waits while the count is at the limit; settling releases room. This is the pipeline's only
 * memory bound, so it must be released on every path.
 */
export class InflightGate {
  private count = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError('InflightGate limit must be positive');
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  acquire(n: number): void {
    this.count += n;
  }

  release(n: number): void {
    this.count -= n;
    if (this.count < this.limit) this.wake();
  }

  /** Resolves when there is room (or on interrupt). */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter, e.g. when the source is stopping. */
  interrupt(): void {
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
