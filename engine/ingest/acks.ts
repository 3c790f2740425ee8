/**
 * How the engine settles the messages of a written batch with JetStream.
 *
 * - `explicit` (consumer `AckPolicy.Explicit`): one `+ACK` per stored event and one `+TERM`
 *   per dead letter. Safe with any number of ingest processes on the consumer.
 * - `cumulative` (consumer `AckPolicy.All`): one `+ACK` per batch at most, on the message
 *   with the highest stream sequence below which every delivered message is settled; the
 *   server then counts every message up to that sequence as acknowledged. Batches complete out
 *   of order and redeliveries come back with old sequences, so the acknowledged point only
 *   moves past messages this process has settled. A dead letter is never `+TERM`ed: on an
 *   `AckPolicy.All` consumer a TERM acknowledges every lower sequence too (nats-server 2.9,
 *   probed), including messages still being written; the dead letter is in the DLQ stream
 *   before its batch settles, so the cumulative ack covers it. Because an ack covers every
 *   lower sequence whoever holds it, one process only may consume such a consumer (see
 *   ack-lease.ts).
 */
import type { IngestMsg } from './types.js';

export type AckMode = 'explicit' | 'cumulative';

export interface Acker {
  /** A message taken from the consumer (before any of its batch settles). */
  delivered(msg: IngestMsg): void;
  /** Settles stored messages (`dead` marks the ones stored as dead letters). */
  settle(msgs: readonly IngestMsg[], dead: (i: number) => boolean): void;
  /**
   * Whether the acks sent so far cover `seq`. A message settled and not yet covered (its
   * cumulative ack waits for a lower sequence still being written) must still be kept alive.
   */
  covers(seq: number): boolean;
}

export function createAcker(mode: AckMode): Acker {
  return mode === 'explicit' ? explicitAcker() : new CumulativeAcker();
}

function explicitAcker(): Acker {
  return {
    delivered: () => undefined,
    covers: () => true,
    settle(msgs, dead) {
      for (let i = 0; i < msgs.length; i++) {
        // No reason string: NATS before 2.10 does not parse "+TERM <reason>" and leaves the
        // message pending, redelivered for ever. The reason is in the dead letter's headers.
        if (dead(i)) msgs[i]!.term();
        else msgs[i]!.ack();
      }
    },
  };
}

/** A binary min-heap of numbers (stream sequences). */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): number | undefined {
    return this.a[0];
  }
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

export class CumulativeAcker implements Acker {
  /** Copies delivered and not settled, by stream sequence (a redelivery may overlap its original). */
  private readonly unsettled = new Map<number, number>();
  /** Sequences of `unsettled` (entries whose count dropped to 0 are skipped lazily). */
  private readonly unsettledSeqs = new MinHeap();
  /** Settled and not yet covered by an ack: sequences, and the message of each. */
  private readonly settledSeqs = new MinHeap();
  private readonly settledMsgs = new Map<number, IngestMsg>();
  private covered = 0;

  /** Messages delivered and not yet covered by an ack sent. */
  get outstanding(): number {
    let n = 0;
    for (const c of this.unsettled.values()) n += c;
    return n + this.settledMsgs.size;
  }

  /** The highest stream sequence the acks sent so far cover. */
  get coveredSeq(): number {
    return this.covered;
  }

  covers(seq: number): boolean {
    return seq <= this.covered;
  }

  delivered(msg: IngestMsg): void {
    const seq = msg.seq;
    const n = this.unsettled.get(seq);
    this.unsettled.set(seq, (n ?? 0) + 1);
    if (n === undefined) this.unsettledSeqs.push(seq);
  }

  settle(msgs: readonly IngestMsg[]): void {
    for (const msg of msgs) {
      const seq = msg.seq;
      const n = this.unsettled.get(seq) ?? 0;
      if (n <= 1) this.unsettled.delete(seq);
      else this.unsettled.set(seq, n - 1);
      if (!this.settledMsgs.has(seq)) this.settledSeqs.push(seq);
      this.settledMsgs.set(seq, msg);
    }
    // The lowest sequence still being written bounds what may be acknowledged.
    let low = this.unsettledSeqs.peek();
    while (low !== undefined && !this.unsettled.has(low)) {
      this.unsettledSeqs.pop();
      low = this.unsettledSeqs.peek();
    }
    let top: IngestMsg | undefined;
    for (let s = this.settledSeqs.peek(); s !== undefined && (low === undefined || s < low); s = this.settledSeqs.peek()) {
      this.settledSeqs.pop();
      // Below the lowest unsettled sequence, so every copy of `s` has settled.
      top = this.settledMsgs.get(s) ?? top;
      this.settledMsgs.delete(s);
    }
    if (!top) return;
    // At or below `covered`, it is a redelivery of a message an ack sent already covered: that
    // ack was lost (or is late), and the server delivers it until one arrives. Every sequence up
    // to `covered` is settled, so acknowledging it again covers nothing still being written.
    top.ack();
    this.covered = Math.max(this.covered, top.seq);
  }
}
