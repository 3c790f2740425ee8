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
 * Imports core/ (the validator and the schema), the engine's stream set-up and its JetStream
 * publisher (engine/ingest/publisher.ts, which the HTTP ingestion routes use too), which import
 * only each other and the NATS names and errors (.dependency-cruiser.cjs, producer-takes-the-contract).
 */
import { connect, type NatsConnection } from 'nats';
import { checkEvent, DEFAULT_MAX_FUTURE_MS, EVENT_JSON_SCHEMA, TierstreamError, type IngestErrorCode, type PublishOutcome } from '../core/index.js';
import { natsNames } from '../storage/nats/names.js';
import { ensureEventStreams, STREAM_DEFAULTS } from '../engine/ingest/jetstream.js';
import { JetStreamPublisher, PublishError, type PublishErrorCode, type PublisherOptions } from '../engine/ingest/publisher.js';

export { EVENT_JSON_SCHEMA, TierstreamError };
export type { IngestErrorCode, PublishOutcome };
/**
 * A publish JetStream did not acknowledge (PublishError's `code`): `stream_full` (the events
 * stream at its max_bytes, TIERSTREAM_EVENTS_MAX_BYTES, with events ingest has not taken yet;
 * nothing stored is dropped for it: retry later, not at once), `timeout` (no acknowledgement
 * after every attempt), `unavailable` (no stream, JetStream down), `closed` (the producer was
 * closed) or `failed`.
 */
export { PublishError, type PublishErrorCode };

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
  return new JetStreamProducer(nc, natsNames(options.namespace).subjectPrefix, { window, timeoutMs, attempts }, maxFutureMs, ownConnection);
}

/**
 * Checks each call's events, then hands them to the engine's JetStream publisher
 * (engine/ingest/publisher.ts, shared with the HTTP ingestion routes): one inbox subscription,
 * acknowledgements matched by token, the window, retries with the same message id.
 */
class JetStreamProducer implements Producer {
  readonly #publisher: JetStreamPublisher;
  #closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    options: PublisherOptions,
    private readonly maxFutureMs: number,
    private readonly ownConnection: boolean,
  ) {
    this.#publisher = new JetStreamPublisher(nc, options);
  }

  get inFlight(): number {
    return this.#publisher.inFlight;
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
    return this.#publisher.publish(subjects, data, ids).then((settled) => {
      // The call rejects with its first event not stored, once every one settled.
      for (const s of settled) if (s instanceof PublishError) throw s;
      const outcomes = settled as PublishOutcome[];
      return many ? outcomes : outcomes[0]!;
    });
  }

  flush(): Promise<void> {
    return this.#publisher.flush();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#publisher.close();
    if (this.ownConnection) await this.nc.close();
  }
}
