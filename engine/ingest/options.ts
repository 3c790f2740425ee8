import type { SchedulerLike } from 'rxjs';
import { DEFAULT_MAX_FUTURE_MS, LIMIT_DEFAULTS, limitsWith, type InteractionEvent, type Limits } from '../../core/index.js';
import { STREAM_DEFAULTS } from './jetstream.js';
import type { AckMode } from './acks.js';

export interface EngineOptions {
  namespace: string;
  /** Most messages per batch (default 5_000). */
  batchSize: number;
  /** Longest a batch stays open, ms (default 100). */
  batchWaitMs: number;
  /** Batches being written at once (default 3). */
  writeConcurrency: number;
  /** Most messages taken from NATS and not yet settled: the memory bound (default 20_000). */
  maxInflight: number;
  /** JetStream ack wait, ms (default 30_000): redelivery time of a message never settled. */
  ackWaitMs: number;
  /** Server-side duplicate window for Nats-Msg-Id, ms (default 120_000). */
  dedupWindowMs: number;
  /** How long events stay in the stream, ms (default 7 days). */
  streamMaxAgeMs: number;
  /** Most bytes the events stream holds, discard new (TIERSTREAM_EVENTS_MAX_BYTES, default 4 GiB; -1: unbounded). */
  streamMaxBytes: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * Failed history inserts of a batch, while ClickHouse and Redis answer their pings, before
   * the batch is searched for the events that fail alone (default 10: about 20 s of
   * retries). Such an event is dead-lettered with code `write_failed` and the cause only
   * while other writes succeed; a store that refuses everything is waited for without limit.
   */
  writeAttempts: number;
  /** How often consumer lag is read for /metrics, ms (default 5_000). */
  lagPollMs: number;
  /**
   * How messages are acknowledged (see acks.ts): `cumulative` (default) needs the consumer to
   * itself, `explicit` shares it with other ingest processes. An existing consumer with the
   * other policy is switched when this process is its only consumer; otherwise its policy rules.
   */
  ackMode: AckMode;
  /** Replicas of the streams on a NATS cluster (TIERSTREAM_STREAM_REPLICAS, default 1). */
  streamReplicas: number;
  /** The ingest lease lapses this long after its last renewal, ms (default 15_000; see ack-lease.ts). */
  leaseMs: number;
  /** An event further ahead of its publication is dead-lettered `time_in_future`, ms (TIERSTREAM_MAX_FUTURE, default 86_400_000). */
  maxFutureMs: number;
  /** The named limits (core/limits.ts); `sources` and `variantsAndStepsPerSource` are checked with `sourceIds`. */
  limits: Limits;
  /**
   * A fault point (tests): awaited at each write attempt once its events were checked against
   * the erasures and before they are written. Holding it models a process that stalls between
   * its check and its writes, or a write slower than the erasure's grace.
   */
  afterErasureCheck?: (events: readonly InteractionEvent[]) => Promise<void>;
  scheduler?: SchedulerLike;
}

export const ENGINE_DEFAULTS: Omit<EngineOptions, 'namespace'> = {
  batchSize: 5_000,
  batchWaitMs: 100,
  writeConcurrency: 3,
  maxInflight: 20_000,
  ackWaitMs: 30_000,
  dedupWindowMs: STREAM_DEFAULTS.dedupWindowMs,
  streamMaxAgeMs: STREAM_DEFAULTS.maxAgeMs,
  streamMaxBytes: STREAM_DEFAULTS.maxBytes,
  backoffBaseMs: 100,
  backoffMaxMs: 5_000,
  writeAttempts: 10,
  lagPollMs: 5_000,
  ackMode: 'cumulative',
  streamReplicas: 1,
  leaseMs: 15_000,
  maxFutureMs: DEFAULT_MAX_FUTURE_MS,
  limits: LIMIT_DEFAULTS,
};

/** The caller's options over ENGINE_DEFAULTS, validated: a RangeError names the bad field. */
export function engineOptions(options: Partial<EngineOptions> & { namespace: string }): EngineOptions {
  const opts: EngineOptions = { ...ENGINE_DEFAULTS, ...options, limits: limitsWith(options.limits) };
  validate(opts);
  return opts;
}

function validate(opts: EngineOptions): void {
  for (const k of ['batchSize', 'batchWaitMs', 'writeConcurrency', 'maxInflight', 'ackWaitMs', 'dedupWindowMs', 'writeAttempts', 'leaseMs'] as const) {
    if (!Number.isFinite(opts[k]) || opts[k] <= 0) throw new RangeError(`engine option ${k} must be a positive number, got ${opts[k]}`);
  }
  if (!(opts.maxFutureMs >= 0)) throw new RangeError(`engine option maxFutureMs must be a number >= 0, got ${opts.maxFutureMs}`);
  if (opts.maxInflight < opts.batchSize) throw new RangeError('engine option maxInflight must be at least batchSize');
  if (opts.ackMode !== 'cumulative' && opts.ackMode !== 'explicit') throw new RangeError(`engine option ackMode must be cumulative or explicit, got ${String(opts.ackMode)}`);
}
