/**
 * The producer library (docs/producing.md, "Library: `@tierstream/producer` (NATS)"): publishes tierstream events to
 * JetStream the way the engine wants them.
 *
 *   const producer = await createProducer({ servers: 'nats://127.0.0.1:4222', namespace: 'tierstream' });
 *   await producer.publish(events);   // resolves once JetStream stored every one
 *   await producer.close();
 *
 * - Each event is checked by the engine's own validator before anything is sent (core's
 *   checkEvent: the validator, then time_in_future against now): a bad event throws
 *   EventRejectedError with the code a dead letter would carry, and nothing of its call is sent.
 * - Published on `<ns>.events.<type>` with `Nats-Msg-Id` = the event id.
 * - At most `window` events wait for their acknowledgement at once, across every call; the
 *   rest wait in call order and go out as acknowledgements come back (backpressure).
 * - A publish that times out (or finds JetStream unavailable for now) is sent again with the
 *   same message id, so JetStream stores it once; other failures (the stream full at its
 *   bound: `stream_full`, ...) reject with PublishError.
 * - On start, the events and dead-letter streams are created with the engine's settings when
 *   missing (engine/ingest/jetstream.ts); existing ones are left as they are.
 *
 * Imports core/ (the validator and the schema) and the engine's stream set-up, which imports
 * only the NATS names (.dependency-cruiser.cjs, producer-takes-the-contract).
 */
import { connect, createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { checkEvent, DEFAULT_MAX_FUTURE_MS, EVENT_JSON_SCHEMA, TierstreamError, type IngestErrorCode, type PublishOutcome } from '../core/index.js';
import { natsNames } from '../storage/nats/names.js';
import { ensureEventStreams, isStreamFullError, isTransientNatsError, STREAM_DEFAULTS } from '../engine/ingest/jetstream.js';

export { EVENT_JSON_SCHEMA, TierstreamError };
export type { IngestErrorCode, PublishOutcome };

/** An event as published (docs/producing.md, "Event format"); checked at run time, so any object is accepted here. */
export interface ProducerEvent {
  id: string;
  type: string;
  userId: string;
  campaignId?: string;
  canvasId?: string;
  stepId?: string;
  variantId?: string;
  channel?: string;
  /** Click events only: the link's alias (an id). */
  linkAlias?: string;
  /** Canvas events only: the canvas variation (an id). */
  canvasVariationId?: string;
  time: string | number;
  properties?: Record<string, unknown>;
}

export interface ProducerOptions {
  /** NATS servers, e.g. `nats://127.0.0.1:4222` (ignored with `connection`). */
  servers?: string | string[];
  /** An open NATS connection to use instead; close() leaves it open. */
  connection?: NatsConnection;
  /** The tierstream namespace (TIERSTREAM_NAMESPACE of the engine): `[a-z][a-z0-9_]{0,31}`. */
  namespace: string;
  /** Publishes awaiting JetStream's acknowledgement at once (default 1024). */
  window?: number;
  /** How long one attempt waits for the acknowledgement, ms (default 5000). */
  timeoutMs?: number;
  /** Attempts of a publish that times out, the first included (default 5); waits 100 ms, 200 ms, ... (at most 2 s) between. */
  attempts?: number;
  /** Refuse events more than this ahead of now, as ingest does (TIERSTREAM_MAX_FUTURE; default 1 day), ms. */
  maxFutureMs?: number;
  /**
   * Create the streams when missing (default true), with these settings (default the engine's:
   * 2-minute duplicate window, 7 days, 4 GiB with discard new, 1 replica). Must match the
   * engine's TIERSTREAM_* settings if they differ from its defaults: the engine brings the
   * stream to its own at its next start.
   */
  createStreams?: boolean;
  stream?: { dedupWindowMs?: number; maxAgeMs?: number; maxBytes?: number; replicas?: number };
}

/** One event refused before sending. */
export interface Rejection {
  /** Its place in the call (0 for a single event). */
  index: number;
  /** Its `id` when it has a string one. */
  id: string | undefined;
  code: IngestErrorCode;
  message: string;
}

/** Thrown by publish when an event breaks the event format: nothing of that call was sent. */
export class EventRejectedError extends TierstreamError<IngestErrorCode> {
  /** `code`: the code of the first refused event: the validator's (docs/producing.md, "Event format"), or time_in_future. */
  constructor(readonly rejected: readonly Rejection[], options?: { cause?: unknown }) {
    const first = rejected[0]!;
    super(first.code, `event ${first.index}${first.id === undefined ? '' : ` (${first.id})`} rejected: ${first.code}: ${first.message}`
      + (rejected.length > 1 ? ` (and ${rejected.length - 1} more)` : ''), options);
  }
}

/**
 * A publish JetStream did not acknowledge: `stream_full` (the events stream at its max_bytes,
 * TIERSTREAM_EVENTS_MAX_BYTES, with events ingest has not taken yet; nothing stored is dropped
 * for it: retry later, not at once), `timeout` (no acknowledgement after every attempt),
 * `unavailable` (no stream, JetStream down), `closed` (the producer was closed) or `failed`.
 */
export type PublishErrorCode = 'stream_full' | 'timeout' | 'unavailable' | 'closed' | 'failed';

export class PublishError extends TierstreamError<PublishErrorCode> {
  constructor(code: PublishErrorCode, readonly id: string, message: string, options?: { cause?: unknown }) {
    super(code, `publish of ${id} failed: ${code}: ${message}`, options);
  }
}

export interface Producer {
  /**
   * Checks then publishes one event, or several (all checked before any is sent). Resolves
   * once JetStream stored each: `stored`, or `duplicate` when it already held that id (within
   * its duplicate window; a retried publish whose first acknowledgement was lost answers so).
   */
  publish(events: readonly (ProducerEvent | object)[]): Promise<PublishOutcome[]>;
  publish(event: ProducerEvent | object): Promise<PublishOutcome>;
  /** Publishes waiting for their acknowledgement now (at most `window`). */
  readonly inFlight: number;
  /** Resolves once every publish started so far is settled. */
  flush(): Promise<void>;
  /** Waits for the publishes in flight, then closes the connection (unless it was given). */
  close(): Promise<void>;
}

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/; // as config.ts's NAMESPACE_PATTERN

export async function createProducer(options: ProducerOptions): Promise<Producer> {
  if (!NAMESPACE.test(options.namespace)) throw new TypeError(`namespace "${options.namespace}" does not match [a-z][a-z0-9_]{0,31}`);
  const window = options.window ?? 1024;
  if (!Number.isInteger(window) || window < 1) throw new TypeError(`window must be an integer >= 1, got ${window}`);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const attempts = Math.max(1, options.attempts ?? 5);
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const nc = options.connection ?? await connect({ servers: options.servers ?? 'nats://127.0.0.1:4222', maxReconnectAttempts: -1 });
  const ownConnection = options.connection === undefined;
  try {
    if (options.createStreams !== false) {
      await ensureEventStreams(await nc.jetstreamManager(), {
        namespace: options.namespace,
        dedupWindowMs: options.stream?.dedupWindowMs ?? STREAM_DEFAULTS.dedupWindowMs,
        maxAgeMs: options.stream?.maxAgeMs ?? STREAM_DEFAULTS.maxAgeMs,
        maxBytes: options.stream?.maxBytes ?? STREAM_DEFAULTS.maxBytes,
        replicas: options.stream?.replicas,
      }, false);
    }
  } catch (err) {
    if (ownConnection) await nc.close();
    throw err;
  }
  return new JetStreamProducer(nc, natsNames(options.namespace).subjectPrefix, window, timeoutMs, attempts, maxFutureMs, ownConnection);
}

/** One call of publish: its events, checked, and where each stands. */
interface Call {
  readonly subjects: readonly string[];
  readonly data: readonly Uint8Array[];
  readonly ids: readonly string[];
  readonly outcomes: PublishOutcome[];
  /** Index of the next event to send. */
  next: number;
  /** Events not settled yet. */
  remaining: number;
  /** The first failure; the call rejects with it once every event settled. */
  error: PublishError | undefined;
  resolve(outcomes: PublishOutcome[]): void;
  reject(err: PublishError): void;
}

/** One attempt awaiting its acknowledgement. */
interface Attempt { call: Call; index: number; attempt: number; deadline: number }

const textDecoder = new TextDecoder();

/**
 * Publishes as JetStream's own `js.publish` does (the message with a reply subject; the
 * stream's acknowledgement comes back there), but without its per-publish cost: one wildcard
 * subscription receives every acknowledgement (looked up by the reply's token), one timer
 * sweeps the attempts past their deadline, one headers object is filled per message (nats.js
 * encodes it at once), and a call's events share one promise. Measured: js.publish spent most
 * of its time building a stack trace (two Error objects per request) and in GC (bench/README.md,
 * "producer").
 */
class JetStreamProducer implements Producer {
  /** Events holding room in the window: sent and not acknowledged, or waiting to be sent again. */
  #room = 0;
  /** Calls with events not sent yet, first come first served. */
  readonly #queue: Call[] = [];
  readonly #attempts = new Map<string, Attempt>();
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #headers: MsgHdrs = headers();
  readonly #sweep: ReturnType<typeof setInterval>;
  #token = 0;
  #unsettled = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  /** Set while #pump runs: a send failing at once settles its event, whose #done must not pump again (recursion as deep as the queue). */
  #pumping = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly window: number,
    private readonly timeoutMs: number,
    private readonly attempts: number,
    private readonly maxFutureMs: number,
    private readonly ownConnection: boolean,
  ) {
    this.#inbox = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => { if (!err) this.#onAck(msg); } });
    // Deadlines are met within a quarter of the timeout (at most 250 ms late).
    this.#sweep = setInterval(() => this.#expire(), Math.max(1, Math.min(250, timeoutMs / 4)));
    this.#sweep.unref();
  }

  get inFlight(): number {
    return this.#room;
  }

  publish(events: readonly (ProducerEvent | object)[]): Promise<PublishOutcome[]>;
  publish(event: ProducerEvent | object): Promise<PublishOutcome>;
  publish(input: object | readonly object[]): Promise<PublishOutcome | PublishOutcome[]> {
    const many = Array.isArray(input);
    const events: readonly unknown[] = many ? input : [input];
    const now = Date.now();
    const subjects: string[] = [];
    const data: Uint8Array[] = [];
    const ids: string[] = [];
    let rejected: Rejection[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const c = checkEvent(events[i], now, this.maxFutureMs);
      if (c.ok) {
        subjects.push(this.prefix + c.event.type);
        data.push(c.data);
        ids.push(c.event.id);
      } else {
        const id = (events[i] as { id?: unknown } | null)?.id;
        (rejected ??= []).push({ index: i, id: typeof id === 'string' ? id : undefined, code: c.code, message: c.message });
      }
    }
    if (rejected) return Promise.reject(new EventRejectedError(rejected));
    if (this.#closed) return Promise.reject(new PublishError('closed', ids[0] ?? '', 'the producer is closed'));
    if (ids.length === 0) return Promise.resolve([]);
    const p = new Promise<PublishOutcome[]>((resolve, reject) => {
      this.#queue.push({ subjects, data, ids, outcomes: new Array<PublishOutcome>(ids.length), next: 0, remaining: ids.length, error: undefined, resolve, reject });
    });
    this.#unsettled++;
    this.#pump();
    return many ? p : p.then((outcomes) => outcomes[0]!);
  }

  /** Sends queued events while the window has room. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#room < this.window && this.#queue.length > 0) {
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
    const a: Attempt = { call, index, attempt, deadline: Date.now() + this.timeoutMs };
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
      this.#retry(a, Object.assign(new Error(`no acknowledgement within ${this.timeoutMs} ms`), { code: 'TIMEOUT' }));
    }
  }

  /** After a timeout or a transient failure: sent again later with the same message id, holding its room meanwhile. */
  #retry(a: Attempt, err: Error): void {
    const message = String(err?.message);
    if (!isTransientNatsError(err) || this.nc.isClosed()) return this.#fail(a, this.nc.isClosed() ? 'closed' : 'failed', message, err);
    if (a.attempt >= this.attempts) {
      const timedOut = (err as { code?: unknown }).code === 'TIMEOUT';
      return this.#fail(a, timedOut ? 'timeout' : 'unavailable', `${message} (after ${a.attempt} attempts)`, err);
    }
    setTimeout(() => this.#send(a.call, a.index, a.attempt + 1), Math.min(2_000, 100 * 2 ** (a.attempt - 1)));
  }

  #fail(a: Attempt, code: PublishErrorCode, message: string, cause?: unknown): void {
    a.call.error ??= new PublishError(code, a.call.ids[a.index]!, message, { cause });
    this.#done(a.call);
  }

  #settle(call: Call, index: number, outcome: PublishOutcome): void {
    call.outcomes[index] = outcome;
    this.#done(call);
  }

  /** One event of `call` settled: its room goes to the next queued event. */
  #done(call: Call): void {
    this.#room--;
    if (--call.remaining === 0) {
      if (call.error) call.reject(call.error);
      else call.resolve(call.outcomes);
      if (--this.#unsettled === 0) for (const r of this.#idle.splice(0)) r();
    }
    this.#pump();
  }

  flush(): Promise<void> {
    return this.#unsettled === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
    if (this.ownConnection) await this.nc.close();
  }
}
