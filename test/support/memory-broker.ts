import type { SchedulerLike, Subscription } from 'rxjs';
import type { AckMode } from '../../engine/ingest/acks.js';
import { fill, TRIM_ABOVE, TRIM_TO } from '../../engine/ingest/jetstream.js';
import type { BrokerBacklog, BrokerSetup, BrokerSubscription, DeadLetterOut, IngestBroker, IngestMsg } from '../../engine/ingest/types.js';

interface Stored {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** When the stream stored it, epoch ms. */
  at: number;
}

interface Pending {
  /** Deliveries so far (1 on the first). */
  deliveries: number;
  /** The ack wait of the latest delivery, or the nak's delay. */
  timer: Subscription;
}

interface Pull {
  callback: (msg: IngestMsg) => void;
  close: () => void;
}

/**
 * The events stream and its durable consumer in memory, as JetStream keeps them: messages by
 * stream sequence; a consumer that delivers each in order, at most `maxAckPending` unsettled at
 * once, and again (redeliveries first) when its ack wait passes without an ack or `working()`,
 * or after a nak's delay. A `cumulative` consumer counts an ack or a term as settling every lower
 * sequence; an `explicit` one each message alone. Timers run on the injected scheduler (virtual
 * time). `sent` records what the engine said, `deliveries` how often each sequence went out.
 */
export class MemoryBroker implements IngestBroker {
  readonly stored: Stored[] = [];
  readonly deadLetters: DeadLetterOut[] = [];
  /** Every ack, term, nak and working() received, as `ack 5`, in order. */
  readonly sent: string[] = [];
  /** Deliveries of each sequence. */
  readonly deliveries = new Map<number, number>();
  /** While set, acks and terms are recorded in `sent` and lost on the way (as on a dropped connection). */
  dropAcks = false;
  private lastSeq = 0;
  private consumer: { mode: AckMode; ackWaitMs: number; maxAckPending: number; maxBytes: number; delivered: number; ackFloor: number; generation: number } | undefined;
  private readonly pending = new Map<number, Pending>();
  /** Explicitly acked sequences above the ack floor. */
  private readonly acked = new Set<number>();
  /** Sequences due for redelivery, lowest first. */
  private readonly redeliver: number[] = [];
  private readonly pulls: Pull[] = [];
  private turn = 0;
  private pumping = false;

  constructor(private readonly scheduler: SchedulerLike, readonly namespace = 'test') {}

  /** Stores a message; an object is sent as JSON. Returns its sequence. */
  publish(payload: unknown, subject = `${this.namespace}.events`): number {
    const data = payload instanceof Uint8Array ? payload : new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload));
    const seq = ++this.lastSeq;
    this.stored.push({ seq, subject, data, at: this.scheduler.now() });
    this.wake();
    return seq;
  }

  /** The consumer's ack floor: every sequence up to it is acknowledged. */
  get ackFloor(): number {
    return this.consumer?.ackFloor ?? 0;
  }

  /** Messages delivered and not settled. */
  get ackPending(): number {
    return this.pending.size;
  }

  async setUp(s: BrokerSetup): Promise<void> {
    if (!this.consumer) this.consumer = { mode: s.ackMode, ackWaitMs: s.ackWaitMs, maxAckPending: s.maxAckPending, maxBytes: s.maxBytes, delivered: 0, ackFloor: 0, generation: 0 };
    else Object.assign(this.consumer, { ackWaitMs: s.ackWaitMs, maxAckPending: s.maxAckPending, maxBytes: s.maxBytes });
  }

  async ackMode(): Promise<AckMode> {
    return this.need().mode;
  }

  async replaceConsumer(mode: AckMode, force = false): Promise<{ fromSeq: number; replaced: boolean }> {
    const c = this.need();
    const fromSeq = c.ackFloor + 1;
    if (c.mode === mode && !force) return { fromSeq, replaced: false };
    for (const p of this.pending.values()) p.timer.unsubscribe();
    this.pending.clear();
    this.acked.clear();
    this.redeliver.length = 0;
    // A new consumer: acks for the old one's deliveries go nowhere.
    Object.assign(c, { mode, delivered: c.ackFloor, generation: c.generation + 1 });
    this.wake();
    return { fromSeq, replaced: true };
  }

  async unacknowledged(): Promise<number> {
    const c = this.need();
    return Math.max(this.pending.size, c.delivered - c.ackFloor);
  }

  async consume(opts: { maxMessages: number; callback: (msg: IngestMsg) => void }): Promise<BrokerSubscription> {
    this.need();
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const pull: Pull = {
      callback: opts.callback,
      close: () => {
        const i = this.pulls.indexOf(pull);
        if (i >= 0) this.pulls.splice(i, 1);
        end();
      },
    };
    this.pulls.push(pull);
    this.wake();
    return { close: async () => pull.close(), closed: () => ended };
  }

  async backlog(): Promise<BrokerBacklog> {
    const c = this.need();
    return {
      pending: this.lastSeq - c.delivered, ackPending: this.pending.size,
      bytes: this.bytes(), maxBytes: c.maxBytes, stored: this.stored.length, maxMessages: -1,
    };
  }

  async trimIngested(): Promise<number> {
    const c = this.need();
    const full = fill({ bytes: this.bytes(), maxBytes: c.maxBytes, stored: this.stored.length, maxMessages: -1 });
    const first = this.stored[0]?.seq;
    if (first === undefined || full <= TRIM_ABOVE) return 0;
    const upTo = Math.min(first + Math.ceil(this.stored.length * (1 - TRIM_TO / full)), c.ackFloor + 1);
    let n = 0;
    while (this.stored.length && this.stored[0]!.seq < upTo) (this.stored.shift(), n++);
    return n;
  }

  async deadLetter(letter: DeadLetterOut): Promise<void> {
    if (!this.deadLetters.some((d) => d.seq === letter.seq)) this.deadLetters.push(letter);
  }

  isTransient(): boolean {
    return false;
  }

  private need() {
    if (!this.consumer) throw new Error('no consumer: setUp first');
    return this.consumer;
  }

  private bytes(): number {
    return this.stored.reduce((n, m) => n + m.data.byteLength, 0);
  }

  /** Delivers what may go out, in a scheduled action of its own (as the server does, apart from the caller). */
  private wake(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.scheduler.schedule(() => {
      this.pumping = false;
      this.pump();
    });
  }

  private pump(): void {
    const c = this.consumer;
    if (!c) return;
    while (this.pulls.length && this.pending.size < c.maxAckPending) {
      let seq = this.redeliver.shift();
      if (seq === undefined) {
        if (c.delivered >= this.lastSeq) return;
        seq = ++c.delivered;
      }
      const m = this.stored.find((s) => s.seq === seq);
      if (!m) continue; // trimmed
      const deliveries = (this.pending.get(seq)?.deliveries ?? 0) + 1;
      this.pending.set(seq, { deliveries, timer: this.ackWait(seq, c.ackWaitMs) });
      this.deliveries.set(seq, (this.deliveries.get(seq) ?? 0) + 1);
      const pull = this.pulls[this.turn++ % this.pulls.length]!;
      pull.callback(this.message(m, deliveries, c.generation));
    }
  }

  /** After `ms`, the message is due again unless settled or kept alive meanwhile. */
  private ackWait(seq: number, ms: number): Subscription {
    return this.scheduler.schedule(() => {
      if (!this.pending.has(seq) || this.redeliver.includes(seq)) return;
      this.redeliver.push(seq);
      this.redeliver.sort((a, b) => a - b);
      this.wake();
    }, ms);
  }

  private message(m: Stored, deliveries: number, generation: number): IngestMsg {
    const current = () => this.consumer?.generation === generation && this.pending.has(m.seq);
    const settle = () => !this.dropAcks && current() && this.settle(m.seq);
    const say = (what: string) => this.sent.push(`${what} ${m.seq}`);
    return {
      data: m.data,
      subject: m.subject,
      seq: m.seq,
      info: { redeliveryCount: deliveries, timestampNanos: m.at * 1e6 },
      ack: () => (say('ack'), settle()),
      term: () => (say('term'), settle()),
      nak: (delayMs = 0) => {
        say('nak');
        if (!current()) return;
        const p = this.pending.get(m.seq)!;
        p.timer.unsubscribe();
        p.timer = this.ackWait(m.seq, delayMs);
      },
      working: () => {
        say('working');
        if (!current()) return;
        const p = this.pending.get(m.seq)!;
        p.timer.unsubscribe();
        p.timer = this.ackWait(m.seq, this.consumer!.ackWaitMs);
      },
    };
  }

  private settle(seq: number): void {
    const c = this.consumer!;
    const done = c.mode === 'cumulative' ? [...this.pending.keys()].filter((s) => s <= seq) : [seq];
    for (const s of done) {
      this.pending.get(s)?.timer.unsubscribe();
      this.pending.delete(s);
      const i = this.redeliver.indexOf(s);
      if (i >= 0) this.redeliver.splice(i, 1);
    }
    if (c.mode === 'cumulative') c.ackFloor = Math.max(c.ackFloor, seq);
    else {
      this.acked.add(seq);
      while (this.acked.delete(c.ackFloor + 1)) c.ackFloor++;
    }
    this.wake();
  }
}
