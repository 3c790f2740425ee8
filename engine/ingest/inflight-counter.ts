/**
 * Counts messages taken from the broker and not yet settled (acked or terminated): the engine's
 * in-flight figure for /metrics and for draining. The bound itself is the durable consumer's
 * `max_ack_pending`, which the server enforces.
 */
export class InflightCounter {
  private count = 0;

  get size(): number {
    return this.count;
  }

  acquire(n: number): void {
    this.count += n;
  }

  release(n: number): void {
    this.count -= n;
  }
}
