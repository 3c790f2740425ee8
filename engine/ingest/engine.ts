import { Subscription, asyncScheduler, tap, finalize } from 'rxjs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createDeadLetterLog } from './dead-letter-log.js';
import { batch } from './operators/batch.js';
import { decode, type Decoded } from './operators/decode.js';
import { fromConsumer } from './operators/from-consumer.js';
import { writeBatches } from './operators/write-batches.js';
import { InflightCounter } from './inflight-counter.js';
import { createSourceLimits } from './source-limits.js';
import { renewWhile, retrying, type Renewal, type History, type HotIndex, type IngestErasures, type LookupPressure, type Metrics, type SourceIdSets, type SourceRegistry } from '../../core/index.js';
import { createBatchWriter, HistoryWriteError, WriteFailedError } from './batch-writer.js';
import { fill, TRIM_ABOVE } from './jetstream.js';
import { createAcker, type AckMode, type Acker } from './acks.js';
import { AckLease, type LeaseStore } from './ack-lease.js';
import { takeConsumer } from './consumer-ownership.js';
import { engineOptions, type EngineOptions } from './options.js';
import { AckDeadlines } from './ack-deadlines.js';
import type { BrokerSetup, IngestBroker } from './types.js';

export interface EngineDeps {
  /** The events stream and its durable consumer (jetstream-broker.ts; in memory in unit tests). */
  broker: IngestBroker;
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

export { ENGINE_DEFAULTS, type EngineOptions } from './options.js';

/** Tries of the consumer set-up before the start fails (with the default backoff, about 2 minutes). */
const START_ATTEMPTS = 30;

/** The ingest pipeline: broker -> decode -> batch -> history + hot index + DLQ -> ack. */
export function createEngine(deps: EngineDeps, options: Partial<EngineOptions> & { namespace: string }): Engine {
  const opts = engineOptions(options);
  const { broker } = deps;
  const log = deps.log.child({ module: 'engine.ingest' });
  const now = () => (opts.scheduler ?? asyncScheduler).now();
  const inflight = new InflightCounter();
  const limits = deps.sourceIds && createSourceLimits({ registry: deps.registry, sourceIds: deps.sourceIds, limits: opts.limits });
  const write = createBatchWriter({ ...deps, log, ...(limits && { limits }), ...(opts.afterErasureCheck && { afterErasureCheck: opts.afterErasureCheck }) });
  const deadlines = new AckDeadlines<Decoded[]>(opts.ackWaitMs, now, (seq) => acker?.covers(seq) ?? true);
  let subscription: Subscription | undefined;
  const stopping = new AbortController();
  let lagPolls: Renewal | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection

  let acker: Acker | undefined;
  let mode: AckMode | undefined;
  const leaseId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const unserve = deps.leaseProbe?.serve(leaseId);
  const lease = new AckLease(deps.ackLease, { id: leaseId, leaseMs: opts.leaseMs, ...(deps.leaseProbe && { alive: deps.leaseProbe.alive }), ...(opts.scheduler && { scheduler: opts.scheduler, now }) }, (err) => {
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

  /** The backlog for /metrics, and room kept in a bounded stream (jetstream.ts, trimIngested). */
  async function pollLag(): Promise<void> {
    try {
      const b = await broker.backlog();
      deps.metrics.consumerLag.set({ state: 'pending' }, b.pending);
      deps.metrics.consumerLag.set({ state: 'ack_pending' }, b.ackPending);
      const full = fill(b);
      deps.metrics.streamBytes.set({ bound: 'used' }, b.bytes);
      deps.metrics.streamBytes.set({ bound: 'max' }, b.maxBytes);
      deps.metrics.streamFill.set(full);
      if (full > TRIM_ABOVE) {
        const trimmed = await broker.trimIngested();
        deps.metrics.trimmed.inc(trimmed);
        if (trimmed > 0) log.info({ trimmed, fill: full }, 'events stream near its bound: removed the oldest events already in history');
        else log.warn({ fill: full, backlog: b.pending + b.ackPending }, 'events stream near its bound with events not yet ingested: producers are refused at the limit (stream_full)');
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
      const setup: BrokerSetup = {
        dedupWindowMs: opts.dedupWindowMs,
        maxAgeMs: opts.streamMaxAgeMs,
        maxBytes: opts.streamMaxBytes,
        ackWaitMs: opts.ackWaitMs,
        // The memory bound: the server delivers no more while this many are unsettled.
        maxAckPending: opts.maxInflight,
        ackMode: opts.ackMode,
        replicas: opts.streamReplicas,
      };
      // The broker's API may not answer for a while (a cluster electing a leader, a stream
      // changing its replicas): retried with backoff, not a start that fails.
      mode = await retrying(
        async () => {
          await broker.setUp(setup);
          return takeConsumer({ broker, lease, wanted: opts.ackMode, signal: stopping.signal, log });
        },
        {
          retryable: (err) => broker.isTransient(err),
          attempts: START_ATTEMPTS,
          baseMs: opts.backoffBaseMs,
          maxMs: opts.backoffMaxMs,
          signal: stopping.signal,
          onRetry: (err, attempt) => log.warn({ err, attempt }, 'JetStream did not answer while setting up the consumer; retrying'),
        },
      );
      acker = createAcker(mode);
      subscription = fromConsumer(broker, {
        maxMessages: Math.min(opts.batchSize * 2, opts.maxInflight),
        counter: inflight,
        signal: stopping.signal,
      })
        .pipe(
          tap((msg) => {
            acker!.delivered(msg);
            if (msg.info.redeliveryCount > 1) deps.metrics.redeliveries.inc();
            deadlines.taken(msg);
          }),
          decode({ maxFutureMs: opts.maxFutureMs }),
          batch(opts.batchSize, opts.batchWaitMs, opts.scheduler),
          tap((items) => deadlines.closed(items)),
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
            deps.metrics.batchSeconds.observe(deadlines.settled(items) / 1000);
          }),
          finalize(() => {
            lagPolls?.stop();
            deadlines.stop();
          }),
        )
        .subscribe({ complete: () => resolveDone(), error: (err) => rejectDone(err) });
      deadlines.start(opts.scheduler);
      lagPolls = renewWhile(opts.scheduler, opts.lagPollMs, pollLag);
      log.info({ namespace: opts.namespace, ack: mode }, 'ingest started');
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
