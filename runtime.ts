import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { createLogger } from './logging.js';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { cachedGathering, createReadiness, parseDuration, type Erasure } from './core/index.js';
import { backlogProblem, createDeadLetterStore, createEngine, createEventSink, createJetStreamBroker, startCountAudit, type CountAuditOptions, type Engine, type EngineOptions, type LeaseDoc } from './engine/ingest/index.js';
import { createErasures, type Erasures } from './engine/erasures/index.js';
import { createNotifier, type Notifier } from './engine/notices/index.js';
import { createTierManager, type TierManager, type TierManagerOptions } from './engine/tiers/index.js';
import { createFilterService, createPinIndex, type FilterDoc, type FilterService, type FilterStore } from './engine/filters/index.js';
import { createLookup } from './engine/lookup/index.js';
import { createMetrics, serveMetrics, type MetricsServer, type PromMetrics } from './metrics.js';
import {
  bucketNames, byId, ClickHouseHistory, connectNats, createRedis, jetstreamStep, KvDocStore, natsAnswers, natsLeaseProbe, NatsKvRegistry, NatsKvSourceIds,
  NatsNoticeChannel, NatsPressureChannel, RedisHotIndex,
} from './storage/index.js';

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
  metrics: PromMetrics;
  log: Logger;
  /**
   * Starts serving /metrics on TIERSTREAM_METRICS_LISTEN (any role; the API then serves none);
   * resolves with where it listens, or undefined when the variable is unset.
   */
  listenMetrics(): Promise<MetricsServer['address'] | undefined>;
  /** Drains the engine, closes the API and every connection. */
  close(): Promise<void>;
}

/** How long ingest yields Redis after a pressure signal, ms. */
const PRESSURE_HOLD_MS = 300;

/**
 * Connects to NATS, Redis and ClickHouse, migrates the history schema, and wires the engine
 * (unless the role is `api`) and the API app (not listening yet).
 */
export async function createTierstream(
  config: Config,
  overrides: { engine?: Partial<EngineOptions>; tiers?: Partial<TierManagerOptions>; countAudit?: CountAuditOptions; log?: Logger; defaultMetrics?: boolean; metricsText?: () => Promise<string> } = {},
): Promise<Tierstream> {
  const log = overrides.log ?? createLogger({ level: config.logLevel, format: config.logFormat, base: { ns: config.namespace } });
  const ns = config.namespace;
  const replicas = config.streamReplicas;
  const nc = await connectNats(config.natsServers, ns);
  const step = jetstreamStep((what, err, attempt, waitMs) => log.warn({ err, attempt, waitMs }, `JetStream did not answer while opening ${what}; retrying`));
  const js = nc.jetstream();
  const jsm = await step('the JetStream manager', () => nc.jetstreamManager());
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes });
  const hot = new RedisHotIndex(redis, { namespace: ns, countHorizonMs: config.hotCountsMs });
  const history = new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns });
  await history.migrate();
  const registry = await step('the source registry', () => NatsKvRegistry.open(js, ns, Date.now, replicas));
  const metrics = createMetrics({ defaultMetrics: overrides.defaultMetrics });
  // Lookup pressure between processes (storage/nats/pressure.ts, core/pressure.ts).
  const pressure = new NatsPressureChannel(nc, ns, PRESSURE_HOLD_MS);
  if (config.lookupTargetMs > 0) pressure.listen(() => metrics.lookupPressure.inc());
  // Erasures: durable in `<ns>_erasures`; every process mirrors them, so ingest drops an
  // erased user's past, and restores and rebuilds neither write their rows nor leave written
  // ones behind an erasure made meanwhile (tiers' fence, docs/operating.md, "Erasure").
  const erasureStore = await step('the erasures bucket', () => KvDocStore.open<Erasure>(js, bucketNames(ns).erasures, replicas));
  await step('the erasures mirror', () => erasureStore.startMirror());
  const erasures = createErasures({ store: erasureStore, registry, history, hot, log }, { leaseMs: config.tierLeaseMs ?? 15_000 });
  // Each source's variant and step ids (the variants_and_steps_per_source limit): read by
  // ingest, dropped with a deleted source by the API; no mirror.
  const sourceIds = await step('the source ids bucket', () => NatsKvSourceIds.open(js, ns, replicas));
  const filterStore = await step('the filters bucket', () => KvDocStore.open<FilterDoc>(js, bucketNames(ns).filters, replicas));
  await step('the filters mirror', () => filterStore.startMirror());
  const filterDocs: FilterStore = byId(filterStore);
  // Before the filter service's listeners: the index sees each filter change first.
  const pins = createPinIndex(filterDocs);
  const tiers = createTierManager(
    // Tag changes take the pins of the filters this process knows in the same compare-and-set.
    { registry, hot, history, metrics, log, pressure, pinsWanted: (rec) => pins.wanted(rec), erasures: erasures.fence },
    { expireAfter: parseDuration(config.tierExpireAfter)!, scanIntervalMs: config.tierScanIntervalMs, ...(config.tierLeaseMs && { leaseMs: config.tierLeaseMs }), ...overrides.tiers },
  );
  const filters = createFilterService({ store: filterDocs, pins, tiers, registry, log, maxFilters: config.limits.filters });
  filters.start();

  // Tier notices: every ingest process watches the registry (which shows every process's
  // transitions) and publishes what is not yet out; copies are dropped by message id.
  const notifier = config.role === 'api'
    ? undefined
    : createNotifier({ registry, channel: await step('the tier notices stream', () => NatsNoticeChannel.open(js, jsm, ns, replicas)), log }, { ...(config.webhook && { webhook: config.webhook }) });
  notifier?.start();
  if (config.role !== 'api') erasures.start();
  // The maintained history counts' audit (docs/design.md, "History counts"), where ingest runs.
  const countAudit = config.role === 'api' ? undefined : startCountAudit({ history, busy: () => erasures.unfinished(), log }, overrides.countAudit);

  // Who consumes, and how (engine/ingest/ack-lease.ts): one document in the namespace's `_ingest` bucket.
  const ingestLease = config.role === 'api' ? undefined : await step('the ingest lease bucket', () => KvDocStore.open<LeaseDoc>(js, bucketNames(ns).ingest, replicas));
  const engine = ingestLease && createEngine(
    { broker: createJetStreamBroker({ js, jsm, namespace: ns }), history, hot, registry, metrics, log, pressure, ackLease: (fn) => ingestLease.update('holders', fn), leaseProbe: natsLeaseProbe(nc, ns), erasures: erasures.ingest, sourceIds },
    {
      namespace: ns,
      limits: config.limits,
      ackMode: config.ingestAck,
      streamReplicas: replicas,
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

  const readiness = createReadiness({
    nats: () => natsAnswers(nc),
    redis: () => hot.ping(),
    clickhouseAway: () => history.unavailableNodes(),
    rebuilding: () => tiers.rebuilding(),
    // A stream full, or more events waiting than ingest should hold (docs/producing.md, "Events stream bounds").
    backlog: () => backlogProblem(jsm, ns, config.backlogMax),
  });

  const lookup = createLookup({ registry, hot, history });
  // Loaded only by roles that serve HTTP: the engine role never loads Fastify.
  const api = config.role === 'engine' ? undefined : await import('./api/index.js');
  // The HTTP ingestion routes' publisher (one inbox subscription): only where the API runs.
  const events = api && createEventSink(nc, ns);
  const signals = api && config.lookupTargetMs > 0 ? api.signalPressure({ targetMs: config.lookupTargetMs, signal: (worstMs) => pressure.signal(worstMs) }) : undefined;
  const app = api?.buildApp({
    registry, hot, history, metrics, tiers, filters, erasures, lookup, readiness, sourceIds,
    limits: config.limits,
    expireAfter: config.tierExpireAfter,
    ...(signals && { lookupWatch: signals.watch }),
    logger: log.child({ module: 'api' }),
    apiKeys: config.apiKeys,
    rateLimitPerSecond: config.rateLimitPerSecond,
    ...(config.requestTimeoutMs && { requestTimeoutMs: config.requestTimeoutMs }),
    ...(config.receiveTimeoutMs && { receiveTimeoutMs: config.receiveTimeoutMs }),
    ...(overrides.metricsText && { metricsText: overrides.metricsText }),
    metricsRoute: !config.metricsListen,
    events,
    deadLetters: createDeadLetterStore(js, jsm, ns, replicas),
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
        text: cachedGathering(overrides.metricsText ?? metrics.text),
        contentType: metrics.contentType,
        onError: (err) => log.warn({ err }, 'metrics not gathered'),
      });
      return metricsServer.address;
    },
    async close() {
      signals?.stop();
      pressure.close();
      await engine?.drain();
      await tiers.stop();
      await notifier?.stop();
      erasures.stop();
      await countAudit?.stop();
      erasureStore.stop();
      registry.stop();
      filterStore.stop();
      await app?.close();
      await events?.close();
      await metricsServer?.close();
      await nc.drain().catch(() => undefined);
      redis.disconnect();
      await history.close();
    },
  };
}
