/**
 * The ack deadlines of messages taken and not settled. A message must not be redelivered while
 * it waits: in the batch still open, in a batch queued behind the writes, or in one being
 * written to a slow store. Every sixth of the ack wait, the messages taken more than a quarter
 * of it ago get their deadline extended (`working()`), so the first extension comes at most
 * ~0.42 ack waits after their delivery. Messages of fast batches never get one. A batch settled
 * is kept alive until an ack covers it: a cumulative ack waits for every lower sequence, so a
 * batch written before a slower, lower one is acknowledged only once that one is.
 */
import type { SchedulerLike } from 'rxjs';
import { renewWhile, type Renewal } from '../../core/index.js';
import type { IngestMsg } from './types.js';

export class AckDeadlines<B extends readonly { readonly msg: IngestMsg }[]> {
  /** Taken and not yet in a closed batch, in delivery order (batches close in that order), and when each was taken. */
  private readonly pulled: IngestMsg[] = [];
  private readonly pulledAt: number[] = [];
  /**
   * Batches closed and not yet covered by an ack: when they closed, when their oldest message
   * was taken, and once settled, their highest sequence (covered when an ack covers it).
   */
  private readonly open = new Map<B, { closedAt: number; since: number; top?: number }>();
  private renewal: Renewal | undefined;

  /** `covers(seq)`: whether the acks sent so far cover a stream sequence (Acker.covers). */
  constructor(private readonly ackWaitMs: number, private readonly now: () => number, private readonly covers: (seq: number) => boolean = () => true) {}

  /** A message was taken from the consumer. */
  taken(msg: IngestMsg): void {
    this.pulled.push(msg);
    this.pulledAt.push(this.now());
  }

  /** A batch closed: the oldest `batch.length` messages taken. */
  closed(batch: B): void {
    this.open.set(batch, { closedAt: this.now(), since: this.pulledAt[0] ?? this.now() });
    this.pulled.splice(0, batch.length);
    this.pulledAt.splice(0, batch.length);
  }

  /** A batch settled: once an ack covers it, its deadlines are the broker's again. Returns the ms since it closed. */
  settled(batch: B): number {
    const entry = this.open.get(batch);
    const closedAt = entry?.closedAt ?? this.now();
    let top = 0;
    for (const d of batch) top = Math.max(top, d.msg.seq);
    if (!entry || this.covers(top)) this.open.delete(batch);
    else entry.top = top;
    return this.now() - closedAt;
  }

  /** Extends the deadlines due from now on, on `scheduler` (default Node timers). */
  start(scheduler?: SchedulerLike): void {
    this.renewal ??= renewWhile(scheduler, Math.max(200, this.ackWaitMs / 6), () => this.extend());
  }

  stop(): void {
    this.renewal?.stop();
  }

  /** Extends the deadline of every message taken more than a quarter of the ack wait ago. */
  extend(): void {
    const before = this.now() - this.ackWaitMs / 4;
    for (const [items, { since, top }] of this.open) {
      if (top !== undefined && this.covers(top)) this.open.delete(items);
      if (since > before || (top !== undefined && this.covers(top))) continue;
      for (const d of items) d.msg.working();
    }
    for (let i = 0; i < this.pulled.length && this.pulledAt[i]! <= before; i++) this.pulled[i]!.working();
  }
}
