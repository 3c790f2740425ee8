import { connect, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { createLogger } from './logging.js';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { parseDuration, REBUILDING, retrying, withDeadline, type Erasure } from './core/index.js';
import { backlogProblem, createDeadLetterStore, createEngine, createEventSink, isTransientNatsError, type Engine, type EngineOptions, type LeaseDoc } from './engine/ingest/index.js';
import { createErasures, type Erasures } from './engine/erasures/index.js';
import { createNotifier, type Notifier } from './engine/notices/index.js';
import { createTierManager, type TierManager, type TierManagerOptions } from './engine/tiers/index.js';
import { createFilterService, createPinIndex, type FilterDoc, type FilterService, type FilterStore } from './engine/filters/index.js';
import { createLookup } from './engine/lookup/index.js';
import { cachedGathering, createMetrics, serveMetrics, type Metrics, type MetricsServer } from './telemetry/index.js';
import { bucketNames, ClickHouseHistory, KvDocStore, natsNames, NatsKvRegistry, NatsKvSourceIds, NatsNoticeChannel, RedisHotIndex, createRedis } from './storage/index.js';

export interface Tierstream {
  /** The API app, not listening yet; the `engine` role has none (it throws), and loads no HTTP code. */
  app: FastifyInstance;
  engine: Engine | undefined;
  nc: NatsConnection;
  history: ClickHouseHistory;
  hot: RedisHotIndex;
  registry: NatsKvRegistry;
  tiers: TierManager;
  filters: FilterService;
  filterStore: KvDocStore<FilterDoc>;
  sourceIds: NatsKvSourceIds;
  erasures: Erasures;
  erasureStore: KvDocStore<Erasure>;
  /** Tier notices (roles that run ingest): published from the registry, delivered to the webhook. */
  notifier: Notifier | undefined;
  metrics: Metrics;
  log: Logger;
  /**
   * Starts serving /metrics on TIERSTREAM_METRICS_LISTEN (any role; the API then serves none);
   * resolves with where it listens, or undefined when the variable is unset.
   */
  listenMetrics(): Promise<MetricsServer['address'] | undefined>;
  /** Drains the engine, closes the API and every connection. */
  close(): Promise<void>;
}

/** How often an API process looks at its lookups' latency, and how long ingest yields after a signal, ms. */
const PRESSURE_PERIOD_MS = 100;
const PRESSURE_HOLD_MS = 300;

/** Tries of each JetStream set-up step before the start fails (about a minute with the backoff above). */
const START_ATTEMPTS = 16;

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  withDeadline(p, ms, () => new Error(`${what} timed out after ${ms} ms`));

/**
 * Connects to NATS, Redis and ClickHouse, migrates the history schema, and wires the engine
 * (unless the role is `api`) and the API app (not listening yet).
 */
export async function createTierstream(
  config: Config,
  overrides: { engine?: Partial<EngineOptions>; tiers?: Partial<TierManagerOptions>; log?: Logger; defaultMetrics?: boolean; metricsText?: () => Promise<string> } = {},
): Promise<Tierstream> {
  const log = overrides.log ?? createLogger({ level: config.logLevel, format: config.logFormat, base: { ns: config.namespace } });
  const nc = await connect({
    servers: config.natsServers,
    name: `tierstream-${config.namespace}`,
    maxReconnectAttempts: -1, // never give up: the durable consumer resumes when NATS is back
    reconnectTimeWait: 500,
  });
  // JetStream's API may not answer for a moment at start (a cluster electing a stream's
  // leader, a node that has just started, a busy server): each set-up step is retried on a
  // timeout or "not available" for about a minute, as the engine's consumer set-up is, and
  // only then does the start fail.
  const jetstreamStep = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    retrying(fn, {
      retryable: isTransientNatsError,
      attempts: START_ATTEMPTS,
      baseMs: 200,
      maxMs: 5_000,
      onRetry: (err, attempt, waitMs) => log.warn({ err, attempt, waitMs }, `JetStream did not answer while opening ${what}; retrying`),
    });
  const js = nc.jetstream();
  const jsm = await jetstreamStep('the JetStream manager', () => nc.jetstreamManager());
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes });
  const hot = new RedisHotIndex(redis, { namespace: config.namespace });
  const history = new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: config.namespace });
  await history.migrate();
  const registry = await jetstreamStep('the source registry', () => NatsKvRegistry.open(js, config.namespace, Date.now, config.streamReplicas));
  const metrics = createMetrics({ defaultMetrics: overrides.defaultMetrics });
  // Lookup pressure between processes: API processes publish on a core NATS subject while
  // lookups take longer than the target; background writers here yield Redis for a moment
  // after each signal (core/pressure.ts). The subject is the namespace's, so several API and
  // ingest processes, on any host, hear each other.
  const names = natsNames(config.namespace);
  let pressedUntil = 0;
  const pressure = { pressed: () => Date.now() < pressedUntil };
  const pressureSub = config.lookupTargetMs > 0
    ? nc.subscribe(names.pressureSubject, {
        callback: () => {
          pressedUntil = Date.now() + PRESSURE_HOLD_MS;
          metrics.lookupPressure.inc();
        },
      })
    : undefined;
  // Erasures: durable in `<ns>_erasures`; every process mirrors them, so ingest drops an
  // erased user's past, and restores and rebuilds neither write their rows nor leave written
  // ones behind an erasure made meanwhile (tiers' fence, README "Erasure").
  const erasureStore = await jetstreamStep('the erasures bucket', () => KvDocStore.open<Erasure>(js, bucketNames(config.namespace).erasures, config.streamReplicas));
  await jetstreamStep('the erasures mirror', () => erasureStore.startMirror());
  const erasures = createErasures(
    { store: erasureStore, registry, history, hot, log },
    { leaseMs: config.tierLeaseMs ?? 15_000 },
  );
  // Each source's variant and step ids (the variants_and_steps_per_source limit): read by
  // ingest, dropped with a deleted source by the API; no mirror.
  const sourceIds = await jetstreamStep('the source ids bucket', () => NatsKvSourceIds.open(js, config.namespace, config.streamReplicas));
  // Filter ids may hold `:`, which KV keys may not: keys are the base64url of the id.
  const filterStore = await jetstreamStep('the filters bucket', () => KvDocStore.open<FilterDoc>(js, bucketNames(config.namespace).filters, config.streamReplicas));
  await jetstreamStep('the filters mirror', () => filterStore.startMirror());
  const fkey = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
  const filterDocs: FilterStore = {
    get: (id) => filterStore.get(fkey(id)),
    update: (id, fn) => filterStore.update(fkey(id), fn),
    delete: (id) => filterStore.delete(fkey(id)),
    values: () => filterStore.values(),
    peek: (id) => filterStore.cached(fkey(id)),
    onChange: (listener) => filterStore.onChange((key, doc) => listener(Buffer.from(key, 'base64url').toString('utf8'), doc)),
  };
  // Before the filter service's listeners: the index sees each filter change first.
  const pins = createPinIndex(filterDocs);
  const tiers = createTierManager(
    // Tag changes take the pins of the filters this process knows in the same compare-and-set.
    { registry, hot, history, metrics, log, pressure, pinsWanted: (rec) => pins.wanted(rec), erasures: erasures.fence },
    { expireAfter: parseDuration(config.tierExpireAfter)!, scanIntervalMs: config.tierScanIntervalMs, ...(config.tierLeaseMs && { leaseMs: config.tierLeaseMs }), ...overrides.tiers },
  );
  const filters = createFilterService({
    store: filterDocs,
    pins,
    tiers,
    registry,
    log,
    maxFilters: config.limits.filters,
  });
  filters.start();

  // Tier notices: every ingest process watches the registry (which shows every process's
  // transitions) and publishes what is not yet out; copies are dropped by message id.
  const notifier = config.role === 'api'
    ? undefined
    : createNotifier({ registry, channel: await jetstreamStep('the tier notices stream', () => NatsNoticeChannel.open(js, jsm, config.namespace, config.streamReplicas)), log }, { ...(config.webhook && { webhook: config.webhook }) });
  notifier?.start();
  if (config.role !== 'api') erasures.start();

  // Who consumes, and how (engine/ingest/ack-lease.ts): one document in the namespace's `_ingest` bucket.
  const ingestLease = config.role === 'api' ? undefined : await jetstreamStep('the ingest lease bucket', () => KvDocStore.open<LeaseDoc>(js, bucketNames(config.namespace).ingest, config.streamReplicas));
  // Each lease holder answers on a subject of its own; "no responders" means its connection is
  // gone (a killed process), so a successor takes the lease at once instead of after it lapses.
  const leaseProbe = {
    serve: (id: string) => {
      const sub = nc.subscribe(names.holderSubject(id), { callback: (_err, m) => m.respond() });
      return () => sub.unsubscribe();
    },
    alive: async (id: string) => {
      try {
        await nc.request(names.holderSubject(id), undefined, { timeout: 1_000 });
        return true;
      } catch (err) {
        return (err as { code?: string }).code !== '503'; // 503: no responders
      }
    },
  };
  const engine =
    config.role === 'api'
      ? undefined
      : createEngine(
          { js, jsm, history, hot, registry, metrics, log, pressure, ackLease: (fn) => ingestLease!.update('holders', fn), leaseProbe, erasures: erasures.ingest, sourceIds },
          {
            namespace: config.namespace,
            limits: config.limits,
            ackMode: config.ingestAck,
            streamReplicas: config.streamReplicas,
            streamMaxBytes: config.eventsMaxBytes,
            maxFutureMs: config.maxFutureMs,
            ...(config.tierLeaseMs && { leaseMs: config.tierLeaseMs }),
            ...(config.batchSize && { batchSize: config.batchSize }),
            ...(config.batchWaitMs && { batchWaitMs: config.batchWaitMs }),
            ...(config.ackWaitMs && { ackWaitMs: config.ackWaitMs }),
            ...(config.writeAttempts && { writeAttempts: config.writeAttempts }),
            ...overrides.engine,
          },
        );

  const readiness = async () => {
    const check = async (name: string, fn: () => Promise<boolean>) => {
      try {
        return (await withTimeout(fn(), 1_000, name)) ? null : 'not answering';
      } catch (err) {
        return (err as Error).message;
      }
    };
    const [natsState, redisState, chState, backlog] = await Promise.all([
      check('nats', async () => {
        if (nc.isClosed()) return false;
        await nc.flush();
        return true;
      }),
      check('redis', () => hot.ping()),
      // Every node of a cluster: while a shard is away history cannot answer, and says which.
      check('clickhouse', async () => {
        const away = await history.unavailableNodes();
        if (away.length) throw new Error(`not answering: ${away.join(', ')}`);
        return true;
      }),
      // A stream full, or more events waiting than ingest should hold (README, "Events stream bounds").
      withTimeout(backlogProblem(jsm, config.namespace, config.backlogMax), 1_000, 'ingest backlog').catch((err: Error) => err.message),
    ]);
    // Asked only of a Redis that answers: a command to one that does not would wait for it.
    let hotTier: string | null = null;
    if (redisState === null) {
      try {
        if (await withTimeout(tiers.rebuilding(), 1_000, 'hot tier check')) hotTier = REBUILDING;
      } catch (err) {
        hotTier = (err as Error).message;
      }
    }
    return { nats: natsState, redis: redisState, clickhouse: chState, hot_tier: hotTier, ingest_backlog: backlog };
  };

  const lookup = createLookup({ registry, hot, history });
  // Loaded only by roles that serve HTTP: the engine role never loads Fastify.
  const api = config.role === 'engine' ? undefined : await import('./api/index.js');
  const lookupWatch = api && config.lookupTargetMs > 0 ? api.createLookupWatch() : undefined;
  const pressureTimer = lookupWatch && setInterval(() => {
    const worstMs = lookupWatch.take();
    if (worstMs > config.lookupTargetMs) nc.publish(names.pressureSubject, JSON.stringify({ worstMs: Math.round(worstMs * 1000) / 1000 }));
  }, PRESSURE_PERIOD_MS).unref();
  const app = api?.buildApp({
    registry, hot, history, metrics, tiers, filters, erasures, lookup, readiness, sourceIds,
    limits: config.limits,
    expireAfter: config.tierExpireAfter,
    ...(lookupWatch && { lookupWatch }),
    logger: log.child({ module: 'api' }),
    apiKeys: config.apiKeys,
    rateLimitPerSecond: config.rateLimitPerSecond,
    ...(config.requestTimeoutMs && { requestTimeoutMs: config.requestTimeoutMs }),
    ...(config.receiveTimeoutMs && { receiveTimeoutMs: config.receiveTimeoutMs }),
    ...(overrides.metricsText && { metricsText: overrides.metricsText }),
    metricsRoute: !config.metricsListen,
    events: createEventSink(js, config.namespace),
    deadLetters: createDeadLetterStore(js, jsm, config.namespace, config.streamReplicas),
    maxFutureMs: config.maxFutureMs,
    ...(config.ingestEventsPerSecond && { ingestEventsPerSecond: config.ingestEventsPerSecond }),
  });
  let metricsServer: MetricsServer | undefined;

  return {
    get app(): FastifyInstance {
      if (!app) throw new Error('the engine role serves no API');
      return app;
    },
    engine, nc, history, hot, registry, tiers, filters, filterStore, sourceIds, erasures, erasureStore, notifier, metrics, log,
    async listenMetrics() {
      if (!config.metricsListen) return undefined;
      metricsServer ??= await serveMetrics({
        ...config.metricsListen,
        text: cachedGathering(overrides.metricsText ?? (() => metrics.registry.metrics())),
        contentType: metrics.registry.contentType,
        onError: (err) => log.warn({ err }, 'metrics not gathered'),
      });
      return metricsServer.address;
    },
    async close() {
      clearInterval(pressureTimer);
      lookupWatch?.stop();
      pressureSub?.unsubscribe();
      await engine?.drain();
      await tiers.stop();
      await notifier?.stop();
      erasures.stop();
      erasureStore.stop();
      registry.stop();
      filterStore.stop();
      await app?.close();
      await metricsServer?.close();
      await nc.drain().catch(() => undefined);
      redis.disconnect();
      await history.close();
    },
  };
}
