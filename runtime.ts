import { connect, type NatsConnection } from 'nats';
import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { parseDuration, REBUILDING, withDeadline } from './core/index.js';
import { createEngine, natsNames, type Engine, type EngineOptions } from './engine/index.js';
import { createFilterService, createTierManager, pinsWanted, type FilterDoc, type FilterService, type TierManager, type TierManagerOptions } from './tiers/index.js';
import { createLookup } from './lookup/index.js';
import { createMetrics, type Metrics } from './telemetry/index.js';
import { ClickHouseHistory, KvDocStore, NatsKvRegistry, RedisHotIndex, createRedis } from './storage/index.js';

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
  metrics: Metrics;
  log: Logger;
  /** Drains the engine, closes the API and every connection. */
  close(): Promise<void>;
}

/** How often an API process looks at its lookups' latency, and how long ingest yields after a signal, ms. */
const PRESSURE_PERIOD_MS = 100;
const PRESSURE_HOLD_MS = 300;

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
  const log = overrides.log ?? pino({ level: config.logLevel, base: { ns: config.namespace } });
  const nc = await connect({
    servers: config.natsServers,
    name: `tierstream-${config.namespace}`,
    maxReconnectAttempts: -1, // never give up: the durable consumer resumes when NATS is back
    reconnectTimeWait: 500,
  });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes });
  const hot = new RedisHotIndex(redis, { namespace: config.namespace });
  const history = new ClickHouseHistory({ url: config.clickhouseUrl, database: config.namespace });
  await history.migrate();
  const registry = await NatsKvRegistry.open(js, config.namespace);
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
  // Filter ids may hold `:`, which KV keys may not: keys are the base64url of the id.
  const filterStore = await KvDocStore.open<FilterDoc>(js, `${config.namespace}_filters`);
  await filterStore.startMirror();
  const fkey = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
  const tiers = createTierManager(
    // Tag changes take the pins of the filters this process knows in the same compare-and-set.
    { registry, hot, history, metrics, log, pressure, pinsWanted: (rec) => pinsWanted(filterStore.values(), rec) },
    { expireAfter: parseDuration(config.tierExpireAfter)!, scanIntervalMs: config.tierScanIntervalMs, ...(config.tierLeaseMs && { leaseMs: config.tierLeaseMs }), ...overrides.tiers },
  );
  const filters = createFilterService({
    store: {
      get: (id) => filterStore.get(fkey(id)),
      update: (id, fn) => filterStore.update(fkey(id), fn),
      delete: (id) => filterStore.delete(fkey(id)),
      values: () => filterStore.values(),
      peek: (id) => filterStore.cached(fkey(id)),
      onChange: (listener) => filterStore.onChange((key, doc) => listener(Buffer.from(key, 'base64url').toString('utf8'), doc)),
    },
    tiers,
    registry,
    log,
  });
  filters.start();

  const engine =
    config.role === 'api'
      ? undefined
      : createEngine(
          { js, jsm, history, hot, registry, metrics, log, pressure },
          {
            namespace: config.namespace,
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
    const [natsState, redisState, chState] = await Promise.all([
      check('nats', async () => {
        if (nc.isClosed()) return false;
        await nc.flush();
        return true;
      }),
      check('redis', () => hot.ping()),
      check('clickhouse', () => history.ping()),
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
    return { nats: natsState, redis: redisState, clickhouse: chState, hot_tier: hotTier };
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
    registry, hot, history, metrics, tiers, filters, lookup, readiness,
    ...(lookupWatch && { lookupWatch }),
    logger: log.child({ module: 'api' }),
    apiKeys: config.apiKeys,
    rateLimitPerSecond: config.rateLimitPerSecond,
    ...(config.requestTimeoutMs && { requestTimeoutMs: config.requestTimeoutMs }),
    ...(config.receiveTimeoutMs && { receiveTimeoutMs: config.receiveTimeoutMs }),
    ...(overrides.metricsText && { metricsText: overrides.metricsText }),
  });

  return {
    get app(): FastifyInstance {
      if (!app) throw new Error('the engine role serves no API');
      return app;
    },
    engine, nc, history, hot, registry, tiers, filters, filterStore, metrics, log,
    async close() {
      clearInterval(pressureTimer);
      lookupWatch?.stop();
      pressureSub?.unsubscribe();
      await engine?.drain();
      await tiers.stop();
      registry.stop();
      filterStore.stop();
      await app?.close();
      await nc.drain().catch(() => undefined);
      redis.disconnect();
      await history.close();
    },
  };
}
