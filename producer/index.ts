/**
 * The producer library (README, "Producing events", "Library"): publishes tierstream events to
 * JetStream the way the engine wants them.
 *
 *   const producer = await createProducer({ servers: 'nats://127.0.0.1:4222', namespace: 'tierstream' });
 *   await producer.publish(events);   // resolves once JetStream stored every one
 *   await producer.close();
 *
 * - Each event is checked by the engine's own validator before anything is sent (core's
 *   checkEvent: decodeEvent, then time_in_future against now): a bad event throws
 *   EventRejectedError with the code a dead letter would carry, and nothing of its call is sent.
 * - Published on `<ns>.events.<type>` with `Nats-Msg-Id` = the event id.
 * - At most `window` publishes wait for their acknowledgement at once, across every call: a
 *   publish waits for room when the window is full (backpressure), in the order called.
 * - A publish that times out (or finds JetStream unavailable for now) is sent again with the
 *   same message id, so JetStream stores it once; other failures (the stream full at its
 *   `max_bytes`, ...) reject with PublishError.
 * - On start, the events and dead-letter streams are created with the engine's settings when
 *   missing (engine/ingest/jetstream.ts); existing ones are left as they are.
 *
 * Imports core/ (the validator and the schema) and the engine's stream set-up, which imports
 * only the NATS names (.dependency-cruiser.cjs, producer-takes-the-contract).
 */
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { checkEvent, DEFAULT_MAX_FUTURE_MS, EVENT_JSON_SCHEMA, type IngestErrorCode, type PublishOutcome } from '../core/index.js';
import { natsNames } from '../storage/nats/names.js';
import { ensureEventStreams, isTransientNatsError, STREAM_DEFAULTS } from '../engine/ingest/jetstream.js';

export { EVENT_JSON_SCHEMA };
export type { IngestErrorCode, PublishOutcome };

/** An event as published (README, "Event format"); checked at run time, so any object is accepted here. */
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
   * 2-minute duplicate window, 7 days, 1 replica). Must match the engine's TIERSTREAM_* settings
   * if they differ from its defaults: the engine brings the stream to its own at its next start.
   */
  createStreams?: boolean;
  stream?: { dedupWindowMs?: number; maxAgeMs?: number; replicas?: number };
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
export class EventRejectedError extends Error {
  /** The code of the first refused event: the validator's (README, "Event format"), or time_in_future. */
  readonly code: IngestErrorCode;
  constructor(readonly rejected: readonly Rejection[]) {
    const first = rejected[0]!;
    super(`event ${first.index}${first.id === undefined ? '' : ` (${first.id})`} rejected: ${first.code}: ${first.message}`
      + (rejected.length > 1 ? ` (and ${rejected.length - 1} more)` : ''));
    this.name = 'EventRejectedError';
    this.code = first.code;
  }
}

/**
 * A publish JetStream did not acknowledge: `stream_full` (the stream at its max_bytes or
 * max_msgs, discard new: retry later), `timeout` (no acknowledgement after every attempt),
 * `unavailable` (no stream, JetStream down), `closed` (the producer was closed) or `failed`.
 */
export type PublishErrorCode = 'stream_full' | 'timeout' | 'unavailable' | 'closed' | 'failed';

export class PublishError extends Error {
  constructor(readonly code: PublishErrorCode, readonly id: string, message: string, options?: { cause?: unknown }) {
    super(`publish of ${id} failed: ${code}: ${message}`, options);
    this.name = 'PublishError';
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
        replicas: options.stream?.replicas,
      }, false);
    }
  } catch (err) {
    if (ownConnection) await nc.close();
    throw err;
  }
  return new JetStreamProducer(nc, nc.jetstream(), natsNames(options.namespace).subjectPrefix, window, timeoutMs, attempts, maxFutureMs, ownConnection);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class JetStreamProducer implements Producer {
  #inFlight = 0;
  /** Publishes waiting for room, first come first served. */
  readonly #waiting: (() => void)[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly window: number,
    private readonly timeoutMs: number,
    private readonly attempts: number,
    private readonly maxFutureMs: number,
    private readonly ownConnection: boolean,
  ) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  publish(events: readonly (ProducerEvent | object)[]): Promise<PublishOutcome[]>;
  publish(event: ProducerEvent | object): Promise<PublishOutcome>;
  publish(input: object | readonly object[]): Promise<PublishOutcome | PublishOutcome[]> {
    const many = Array.isArray(input);
    const events: readonly unknown[] = many ? input : [input];
    const now = Date.now();
    const checked: { type: string; data: Uint8Array; id: string }[] = [];
    const rejected: Rejection[] = [];
    for (let i = 0; i < events.length; i++) {
      const c = checkEvent(events[i], now, this.maxFutureMs);
      if (c.ok) checked.push({ type: c.event.type, data: c.data, id: c.event.id });
      else {
        const id = (events[i] as { id?: unknown } | null)?.id;
        rejected.push({ index: i, id: typeof id === 'string' ? id : undefined, code: c.code, message: c.message });
      }
    }
    if (rejected.length > 0) return Promise.reject(new EventRejectedError(rejected));
    if (this.#closed) return Promise.reject(new PublishError('closed', checked[0]?.id ?? '', 'the producer is closed'));
    const p = this.#sendAll(checked);
    const tracked = p.catch(() => undefined);
    this.#pending.add(tracked);
    void tracked.then(() => this.#pending.delete(tracked));
    return many ? p : p.then((outcomes) => outcomes[0]!);
  }

  async #sendAll(events: readonly { type: string; data: Uint8Array; id: string }[]): Promise<PublishOutcome[]> {
    const acks: Promise<PublishOutcome>[] = [];
    for (const e of events) {
      // Room taken synchronously while there is some and nobody waits before us (no await per
      // event); else a settled publish hands its room over (#release), so at most `window`.
      if (this.#inFlight < this.window && this.#waiting.length === 0) this.#inFlight++;
      else await new Promise<void>((r) => this.#waiting.push(r));
      const ack = this.#send(e.type, e.data, e.id);
      void ack.then(this.#release, this.#release);
      acks.push(ack);
    }
    return Promise.all(acks);
  }

  readonly #release = (): void => {
    const next = this.#waiting.shift();
    if (next) next(); // the room passes to the first waiting
    else this.#inFlight--;
  };

  async #send(type: string, data: Uint8Array, id: string): Promise<PublishOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.js.publish(`${this.prefix}${type}`, data, { msgID: id, timeout: this.timeoutMs });
        return ack.duplicate ? 'duplicate' : 'stored';
      } catch (err) {
        const message = String((err as Error)?.message);
        if (/maximum (bytes|messages)( per subject)? exceeded|resource limits exceeded/i.test(message)) {
          throw new PublishError('stream_full', id, message, { cause: err });
        }
        if (!isTransientNatsError(err) || this.nc.isClosed()) {
          throw new PublishError(this.nc.isClosed() ? 'closed' : 'failed', id, message, { cause: err });
        }
        if (attempt >= this.attempts) {
          const timedOut = (err as { code?: unknown }).code === 'TIMEOUT' || /timeout/i.test(message);
          throw new PublishError(timedOut ? 'timeout' : 'unavailable', id, `${message} (after ${attempt} attempts)`, { cause: err });
        }
        await sleep(Math.min(2_000, 100 * 2 ** (attempt - 1)));
      }
    }
  }

  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.ownConnection) await this.nc.close();
  }
}
