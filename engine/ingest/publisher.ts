import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { TierstreamError, type PublishOutcome } from '../../core/index.js';
import { isTransientNatsError } from '../../storage/nats/errors.js';
import { isStreamFullError } from './jetstream.js';

/**
 * Publishing to JetStream without `js.publish`, written once for the two publishers of events:
 * the producer library (producer/) and the HTTP ingestion routes' event sink (event-sink.ts).
 * A leaf but for the stream set-up and the NATS errors (.dependency-cruiser.cjs,
 * producer-shares-the-stream-code): a producer that loads it loads nothing else of the engine.
 *
 * It publishes as `js.publish` does (the message with a reply subject; the stream's
 * acknowledgement comes back there), without its per-publish cost: one wildcard subscription
 * receives every acknowledgement (looked up by the reply's token), one timer sweeps the attempts
 * past their deadline, one headers object is filled per message (nats.js encodes it at once),
 * and a call's events share one promise. Measured: `js.publish` spent most of its time building
 * stack traces (two Error objects per request) and in GC (bench/README, "producer").
 */

/**
 * Why a publish was not acknowledged: `stream_full` (the events stream at its bound; not
 * retried), `timeout` (no acknowledgement after every attempt), `unavailable` (no stream,
 * JetStream down, after every attempt), `closed` (the publisher or the connection closed) or
 * `failed` (anything else).
 */
export type PublishErrorCode = 'stream_full' | 'timeout' | 'unavailable' | 'closed' | 'failed';

export class PublishError extends TierstreamError<PublishErrorCode> {
  constructor(code: PublishErrorCode, readonly id: string, message: string, options?: { cause?: unknown }) {
    super(code, `publish of ${id} failed: ${code}: ${message}`, options);
  }
}

/** What became of one event: JetStream's acknowledgement, or why there was none. */
export type Settled = PublishOutcome | PublishError;

export interface PublisherOptions {
  /** Events sent and not acknowledged at once, across every call; the rest wait in call order. */
  window: number;
  /** How long one attempt waits for its acknowledgement, ms. */
  timeoutMs: number;
  /** Attempts of a publish that times out or finds JetStream unavailable, the first included; 100 ms, 200 ms, ... (at most 2 s) between. */
  attempts: number;
}

/** One call of publish: its events and where each stands. */
interface Call {
  readonly subjects: readonly string[];
  readonly data: readonly Uint8Array[];
  readonly ids: readonly string[];
  readonly settled: Settled[];
  /** Index of the next event to send. */
  next: number;
  /** Events not settled yet. */
  remaining: number;
  resolve(settled: Settled[]): void;
}

/** One attempt awaiting its acknowledgement. */
interface Attempt { call: Call; index: number; attempt: number; deadline: number }

const textDecoder = new TextDecoder();

/**
 * Publishes events to JetStream with their message ids (`Nats-Msg-Id`), at most `window`
 * awaiting their acknowledgement at once. A publish that times out, is answered "no responders"
 * or JetStream 503 is sent again with the same message id (JetStream stores it once); a stream
 * at its bound answers `stream_full` at once.
 */
export class JetStreamPublisher {
  /** Events holding room in the window: sent and not acknowledged, or waiting to be sent again. */
  #room = 0;
  /** Calls with events not sent yet, first come first served. */
  readonly #queue: Call[] = [];
  readonly #attempts = new Map<string, Attempt>();
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #headers: MsgHdrs = headers();
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #window: number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  #token = 0;
  #unsettled = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  /** Set while #pump runs: a send failing at once settles its event, whose #done must not pump again (recursion as deep as the queue). */
  #pumping = false;

  constructor(private readonly nc: NatsConnection, options: PublisherOptions) {
    if (!Number.isInteger(options.window) || options.window < 1) throw new TypeError(`window must be an integer >= 1, got ${options.window}`);
    this.#window = options.window;
    this.#timeoutMs = options.timeoutMs;
    this.#maxAttempts = Math.max(1, options.attempts);
    this.#inbox = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => { if (!err) this.#onAck(msg); } });
    // Deadlines are met within a quarter of the timeout (at most 250 ms late).
    this.#sweep = setInterval(() => this.#expire(), Math.max(1, Math.min(250, this.#timeoutMs / 4)));
    this.#sweep.unref();
  }

  /** Events sent and not acknowledged, or waiting to be sent again (at most `window`). */
  get inFlight(): number {
    return this.#room;
  }

  /**
   * Publishes `data[i]` on `subjects[i]` with `Nats-Msg-Id: ids[i]`, for every i. Resolves once
   * each event settled, with its outcome or its PublishError in the same order; never rejects.
   */
  publish(subjects: readonly string[], data: readonly Uint8Array[], ids: readonly string[]): Promise<Settled[]> {
    if (this.#closed) return Promise.resolve(ids.map((id) => new PublishError('closed', id, 'the publisher is closed')));
    if (ids.length === 0) return Promise.resolve([]);
    const p = new Promise<Settled[]>((resolve) => {
      this.#queue.push({ subjects, data, ids, settled: new Array<Settled>(ids.length), next: 0, remaining: ids.length, resolve });
    });
    this.#unsettled++;
    this.#pump();
    return p;
  }

  /** Resolves once every publish started so far is settled. */
  flush(): Promise<void> {
    return this.#unsettled === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  /** Refuses new publishes (`closed`), waits for those started, then leaves the connection's subscription. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
  }

  /** Sends queued events while the window has room. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#room < this.#window && this.#queue.length > 0) {
        const call = this.#queue[0]!;
        const index = call.next++;
        if (call.next === call.ids.length) this.#queue.shift();
        this.#room++;
        this.#send(call, index, 1);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #send(call: Call, index: number, attempt: number): void {
    const token = (++this.#token).toString(36);
    const a: Attempt = { call, index, attempt, deadline: Date.now() + this.#timeoutMs };
    try {
      this.#headers.set('Nats-Msg-Id', call.ids[index]!);
      this.nc.publish(call.subjects[index]!, call.data[index]!, { reply: this.#inbox + token, headers: this.#headers });
    } catch (err) {
      this.#retry(a, err as Error);
      return;
    }
    this.#attempts.set(token, a);
  }

  #onAck(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length);
    const a = this.#attempts.get(token);
    if (a === undefined) return; // the answer to an attempt given up on (sent again since)
    this.#attempts.delete(token);
    if (msg.headers?.hasError) {
      // A status with no body: 503 when no stream listens on the subject (no responders).
      return this.#retry(a, Object.assign(new Error(`${msg.headers.code} ${msg.headers.description || 'no responders'}`), { code: String(msg.headers.code) }));
    }
    let ack: { duplicate?: boolean; error?: { code?: number; description?: string } };
    try {
      ack = JSON.parse(textDecoder.decode(msg.data));
    } catch (err) {
      return this.#fail(a, 'failed', `not a JetStream acknowledgement: ${(err as Error).message}`, err);
    }
    if (ack.error) {
      const message = `${ack.error.description ?? 'error'} (${ack.error.code ?? '?'})`;
      if (isStreamFullError(message)) return this.#fail(a, 'stream_full', message);
      // 503: JetStream unavailable for now (a leader election, a stream moving).
      if (ack.error.code === 503) return this.#retry(a, Object.assign(new Error(message), { code: '503' }));
      return this.#fail(a, 'failed', message);
    }
    this.#settle(a.call, a.index, ack.duplicate ? 'duplicate' : 'stored');
  }

  /** Attempts past their deadline are sent again (or fail). */
  #expire(): void {
    if (this.#attempts.size === 0) return;
    const now = Date.now();
    for (const [token, a] of this.#attempts) {
      if (a.deadline > now) continue;
      this.#attempts.delete(token);
      this.#retry(a, Object.assign(new Error(`no acknowledgement within ${this.#timeoutMs} ms`), { code: 'TIMEOUT' }));
    }
  }

  /** After a timeout or a transient failure: sent again later with the same message id, holding its room meanwhile. */
  #retry(a: Attempt, err: Error): void {
    const message = String(err?.message);
    if (!isTransientNatsError(err) || this.nc.isClosed()) return this.#fail(a, this.nc.isClosed() ? 'closed' : 'failed', message, err);
    if (a.attempt >= this.#maxAttempts) {
      const timedOut = (err as { code?: unknown }).code === 'TIMEOUT';
      return this.#fail(a, timedOut ? 'timeout' : 'unavailable', `${message} (after ${a.attempt} attempts)`, err);
    }
    setTimeout(() => this.#send(a.call, a.index, a.attempt + 1), Math.min(2_000, 100 * 2 ** (a.attempt - 1)));
  }

  #fail(a: Attempt, code: PublishErrorCode, message: string, cause?: unknown): void {
    this.#settle(a.call, a.index, new PublishError(code, a.call.ids[a.index]!, message, { cause }));
  }

  /** One event of `call` settled: its room goes to the next queued event. */
  #settle(call: Call, index: number, settled: Settled): void {
    call.settled[index] = settled;
    this.#room--;
    if (--call.remaining === 0) {
      call.resolve(call.settled);
      if (--this.#unsettled === 0) for (const r of this.#idle.splice(0)) r();
    }
    this.#pump();
  }
}
