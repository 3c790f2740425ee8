import { Subscription, tap, finalize, type SchedulerLike } from 'rxjs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AckPolicy, type JetStreamClient, type JetStreamManager } from 'nats';
import type { Logger } from 'pino';
import { createDeadLetterLog } from './dead-letter-log.js';
import { batch } from './operators/batch.js';
import { decode, type Decoded } from './operators/decode.js';
import { fromConsumer } from './operators/from-consumer.js';
import { writeBatches } from './operators/write-batches.js';
import { InflightCounter } from './inflight-counter.js';
import { createSourceLimits } from './source-limits.js';
import { DEFAULT_MAX_FUTURE_MS, LIMIT_DEFAULTS, limitsWith, renewWhile, retrying, type Renewal, type History, type HotIndex, type IngestErasures, type InteractionEvent, type Limits, type LookupPressure, type Metrics, type SourceIdSets, type SourceRegistry } from '../../core/index.js';
import { createBatchWriter, HistoryWriteError, WriteFailedError } from './batch-writer.js';
import { consumerAckPolicy, ensureStreams, fill, STREAM_DEFAULTS, isTransientNatsError, replaceConsumer, TRIM_ABOVE, trimIngested, unacknowledged, type StreamSetupOptions } from './jetstream.js';
import { createAcker, type AckMode, type Acker } from './acks.js';
import { AckLease, type LeaseStore } from './ack-lease.js';
import { natsNames } from '../../storage/nats/names.js';

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

export interface EngineDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  history: History;
  hot: HotIndex;
  registry: SourceRegistry;
  metrics: Metrics;
  log: Logger;
  /** Lookups queueing (see core/pressure.ts): hot writes yield Redis while it says so. */
  pressure?: LookupPressure;
  /** The ingest lease's shared document (NATS KV `<ns>_ingest`, see ack-lease.ts). */
  ackLease: LeaseStore;
  /**
   * Ingest lease liveness (see ack-lease.ts): `serve(id)` answers for this process while it
   * runs, `alive(id)` asks another; without it a killed holder's successor waits `leaseMs`.
   */
  leaseProbe?: { serve(id: string): () => void; alive(id: string): Promise<boolean> };
  /** Erased users' past events are dropped, and erasures a batch raced run again (see batch-writer.ts). */
  erasures?: IngestErasures;
  /** Each source's variant and step ids: with it, the `sources` and `variants_and_steps_per_source` limits are enforced. */
  sourceIds?: SourceIdSets;
}

export interface Engine {
  /** Creates streams and consumer if missing, then starts consuming. */
  start(): Promise<void>;
  /** Stops pulling, finishes and acknowledges every batch in flight, then resolves. */
  drain(): Promise<void>;
  /** Rejects if the pipeline fails for good (it retries writes by itself). */
  readonly done: Promise<void>;
  /** Messages taken from NATS and not yet settled. */
  inflight(): number;
  /** How this process acknowledges, once started (the consumer's policy decides). */
  ackMode(): AckMode | undefined;
}

/** Tries of the consumer set-up before the start fails (with the default backoff, about 2 minutes). */
const START_ATTEMPTS = 30;

function validate(opts: EngineOptions): void {
  for (const k of ['batchSize', 'batchWaitMs', 'writeConcurrency', 'maxInflight', 'ackWaitMs', 'dedupWindowMs', 'writeAttempts', 'leaseMs'] as const) {
    if (!Number.isFinite(opts[k]) || opts[k] <= 0) throw new RangeError(`engine option ${k} must be a positive number, got ${opts[k]}`);
  }
  if (!(opts.maxFutureMs >= 0)) throw new RangeError(`engine option maxFutureMs must be a number >= 0, got ${opts.maxFutureMs}`);
  if (opts.maxInflight < opts.batchSize) throw new RangeError('engine option maxInflight must be at least batchSize');
  if (opts.ackMode !== 'cumulative' && opts.ackMode !== 'explicit') throw new RangeError(`engine option ackMode must be cumulative or explicit, got ${String(opts.ackMode)}`);
}

/** The ingest pipeline: JetStream -> decode -> batch -> history + hot index + DLQ -> ack. */
export function createEngine(deps: EngineDeps, options: Partial<EngineOptions> & { namespace: string }): Engine {
  const opts: EngineOptions = { ...ENGINE_DEFAULTS, ...options, limits: limitsWith(options.limits) };
  validate(opts);
  const names = natsNames(opts.namespace);
  const log = deps.log.child({ module: 'engine.ingest' });
  const inflight = new InflightCounter();
  const limits = deps.sourceIds && createSourceLimits({ registry: deps.registry, sourceIds: deps.sourceIds, limits: opts.limits });
  const write = createBatchWriter({ ...deps, dlqSubject: names.dlqSubject, log, ...(limits && { limits }), ...(opts.afterErasureCheck && { afterErasureCheck: opts.afterErasureCheck }) });
  // Batches closed and not yet settled, with when they closed. A batch waiting for a slow
  // store (being written, or queued behind the batches being written) must not have its
  // messages redelivered meanwhile: every sixth of the ack wait, the messages of batches
  // closed more than a quarter of it ago get their deadline extended (`working()`), so the
  // first extension comes at most ~0.42 ack waits after the batch closed. Fast batches never do.
  const open = new Map<Decoded[], number>();
  const keepAliveMs = Math.max(200, opts.ackWaitMs / 6);
  let keepAlives: Renewal | undefined;
  const keepAlive = () => {
    const before = performance.now() - opts.ackWaitMs / 4;
    for (const [items, closedAt] of open) {
      if (closedAt > before) continue;
      for (const d of items) d.msg.working();
    }
  };
  let subscription: Subscription | undefined;
  const stopping = new AbortController();
  let lagTimer: NodeJS.Timeout | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection

  let acker: Acker | undefined;
  let mode: AckMode | undefined;
  const leaseId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const unserve = deps.leaseProbe?.serve(leaseId);
  const lease = new AckLease(deps.ackLease, { id: leaseId, leaseMs: opts.leaseMs, ...(deps.leaseProbe && { alive: deps.leaseProbe.alive }), ...(opts.scheduler && { scheduler: opts.scheduler }) }, (err) => {
    // Another process may consume now: acknowledging cumulatively could cover its messages.
    log.error({ err }, 'ingest lease lost; stopping ingest');
    subscription?.unsubscribe();
    rejectDone(err);
  });

  const deadLetterLog = createDeadLetterLog(log);
  const settle = (items: Decoded[]) => {
    let good = 0;
    const msgs = new Array<Decoded['msg']>(items.length);
    for (let i = 0; i < items.length; i++) {
      const d = items[i]!;
      msgs[i] = d.msg;
      if (d.error) {
        deps.metrics.deadLetters.inc({ code: d.error.code });
        deadLetterLog(d.error.code, d.msg.subject, d.error.message);
      }
      else good++;
    }
    acker!.settle(msgs, (i) => items[i]!.error !== undefined);
    deps.metrics.eventsIngested.inc(good);
    inflight.release(items.length);
    deps.metrics.inflight.set(inflight.size);
  };

  /**
   * Decides how this process acknowledges and holds the lease that allows it: the consumer's
   * policy rules; it is switched to the wanted one only while no other process holds the lease.
   */
  async function takeConsumer(setup: StreamSetupOptions): Promise<AckMode> {
    const wanted = opts.ackMode === 'cumulative' ? AckPolicy.All : AckPolicy.Explicit;
    let warned = false;
    for (;;) {
      let policy = await consumerAckPolicy(deps.jsm, opts.namespace);
      if (policy !== wanted && (await lease.tryAcquire('exclusive'))) {
        const { fromSeq } = await replaceConsumer(deps.jsm, setup, wanted);
        log.warn({ from: policy, to: wanted, fromSeq }, 'consumer ack policy switched; messages from its ack floor on are delivered again');
        policy = wanted;
      }
      const needed = policy === AckPolicy.All ? 'exclusive' : 'shared';
      if (lease.held !== needed) {
        await lease.acquire(needed, {
          signal: stopping.signal,
          waiting: (holders) => {
            if (!warned) log.warn({ holders, needed }, 'waiting for the ingest lease (another process consumes the namespace)');
            warned = true;
          },
        });
      }
      // The policy cannot change while we hold the lease: only an exclusive holder switches it.
      if ((await consumerAckPolicy(deps.jsm, opts.namespace)) === policy) {
        if (policy !== wanted) log.warn({ wanted: opts.ackMode }, 'other ingest processes share the consumer; acknowledging each message as they do');
        // Messages a previous holder took and never acknowledged would be covered by our
        // first cumulative ack before the server redelivers them: start from the ack floor.
        const left = policy === AckPolicy.All ? await unacknowledged(deps.jsm, opts.namespace) : 0;
        if (left > 0) {
          const { fromSeq } = await replaceConsumer(deps.jsm, setup, AckPolicy.All, true);
          log.warn({ unacknowledged: left, fromSeq }, 'the previous ingest process left messages unacknowledged; consuming again from the ack floor');
        }
        return policy === AckPolicy.All ? 'cumulative' : 'explicit';
      }
      await lease.release();
    }
  }

  /** The backlog for /metrics, and room kept in a bounded stream (jetstream.ts, trimIngested). */
  async function pollLag(): Promise<void> {
    try {
      const [info, stream] = await Promise.all([deps.jsm.consumers.info(names.stream, names.consumer), deps.jsm.streams.info(names.stream)]);
      deps.metrics.consumerLag.set({ state: 'pending' }, info.num_pending);
      deps.metrics.consumerLag.set({ state: 'ack_pending' }, info.num_ack_pending);
      const full = fill({ bytes: stream.state.bytes, maxBytes: stream.config.max_bytes, stored: stream.state.messages, maxMessages: stream.config.max_msgs });
      deps.metrics.streamBytes.set({ bound: 'used' }, stream.state.bytes);
      deps.metrics.streamBytes.set({ bound: 'max' }, stream.config.max_bytes);
      deps.metrics.streamFill.set(full);
      if (full > TRIM_ABOVE) {
        const trimmed = await trimIngested(deps.jsm, opts.namespace);
        deps.metrics.trimmed.inc(trimmed);
        if (trimmed > 0) log.info({ trimmed, fill: full }, 'events stream near its bound: removed the oldest events already in history');
        else log.warn({ fill: full, backlog: info.num_pending + info.num_ack_pending }, 'events stream near its bound with events not yet ingested: producers are refused at the limit (stream_full)');
      }
    } catch (err) {
      log.debug({ err }, 'backlog poll failed');
    }
  }

  return {
    done,
    inflight: () => inflight.size,
    ackMode: () => mode,
    async start() {
      const setup: StreamSetupOptions = {
        namespace: opts.namespace,
        dedupWindowMs: opts.dedupWindowMs,
        maxAgeMs: opts.streamMaxAgeMs,
        maxBytes: opts.streamMaxBytes,
        ackWaitMs: opts.ackWaitMs,
        // The memory bound: the server delivers no more while this many are unsettled.
        maxAckPending: opts.maxInflight,
        ackPolicy: opts.ackMode === 'cumulative' ? AckPolicy.All : AckPolicy.Explicit,
        replicas: opts.streamReplicas,
      };
      // JetStream's API may not answer for a while (a cluster electing a leader, a stream
      // changing its replicas): retried with backoff, not a start that fails.
      mode = await retrying(
        async () => {
          await ensureStreams(deps.jsm, setup);
          return takeConsumer(setup);
        },
        {
          retryable: isTransientNatsError,
          attempts: START_ATTEMPTS,
          baseMs: opts.backoffBaseMs,
          maxMs: opts.backoffMaxMs,
          signal: stopping.signal,
          onRetry: (err, attempt) => log.warn({ err, attempt }, 'JetStream did not answer while setting up the consumer; retrying'),
        },
      );
      acker = createAcker(mode);
      const consumer = await deps.js.consumers.get(names.stream, names.consumer);
      subscription = fromConsumer(consumer, {
        maxMessages: Math.min(opts.batchSize * 2, opts.maxInflight),
        counter: inflight,
        signal: stopping.signal,
      })
        .pipe(
          tap((msg) => {
            acker!.delivered(msg);
            if (msg.info.redeliveryCount > 1) deps.metrics.redeliveries.inc();
          }),
          decode({ maxFutureMs: opts.maxFutureMs }),
          batch(opts.batchSize, opts.batchWaitMs, opts.scheduler),
          tap((items) => open.set(items, performance.now())),
          writeBatches(write, {
            concurrency: opts.writeConcurrency,
            backoffBaseMs: opts.backoffBaseMs,
            backoffMaxMs: opts.backoffMaxMs,
            scheduler: opts.scheduler,
            maxAttempts: opts.writeAttempts,
            healthy: async () => (await deps.history.ping()) && (await deps.hot.ping()),
            rejectable: (err) => err instanceof HistoryWriteError,
            reject: (d, err): Decoded => {
              if (d.error) return d; // already a dead letter (its own code); only its publish failed
              log.error({ err, subject: d.msg.subject, seq: d.msg.seq }, 'event refused by history while other writes succeed; dead-lettered');
              return { msg: d.msg, error: new WriteFailedError(`history refused this event alone while other writes succeeded: ${err instanceof Error ? err.message : String(err)}`) };
            },
            onError: (err, items, attempt) => {
              deps.metrics.writeFailures.inc();
              log.warn({ err, attempt, messages: items.length }, 'batch write failed; retrying');
            },
          }),
          tap((items) => {
            deps.metrics.batchSize.observe(items.length);
            settle(items);
            deps.metrics.batchSeconds.observe((performance.now() - open.get(items)!) / 1000);
            open.delete(items);
          }),
          finalize(() => {
            clearInterval(lagTimer);
            keepAlives?.stop();
          }),
        )
        .subscribe({ complete: () => resolveDone(), error: (err) => rejectDone(err) });
      keepAlives = renewWhile(opts.scheduler, keepAliveMs, keepAlive);
      lagTimer = setInterval(() => void pollLag(), opts.lagPollMs);
      lagTimer.unref();
      log.info({ stream: names.stream, consumer: names.consumer, ack: mode }, 'ingest started');
    },
    async drain() {
      if (!subscription) {
        stopping.abort(); // a start still waiting for the lease gives up
        await lease.release().catch(() => undefined);
        return;
      }
      // Completing the source flushes the open batch and lets in-flight writes finish;
      // unsubscribing would abandon them (they would be redelivered, not lost).
      stopping.abort();
      await done;
      await lease.release().catch((err) => log.warn({ err }, 'ingest lease not released; a successor waits for it to lapse'));
      unserve?.();
      log.info('ingest drained');
    },
  };

}
