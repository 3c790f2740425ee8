// Directly, not through api/index.ts: the engine role reads its config without loading Fastify.
import { ApiKeyError, parseApiKeys, type ApiKey } from './api/auth.js';
import { parseListen } from './metrics.js';
import { DurationError, TierstreamError, fixedDurationMs as fixedMs, LIMIT_DEFAULTS, MAX_LINK_ALIASES_LIMIT, MAX_TAGS_LIMIT, MAX_VARIANTS_AND_STEPS_LIMIT, parseDuration, type Limits } from './core/index.js';

/**
 * Configuration from the environment, validated with messages naming the bad variable.
 * Only entry points call `configFromEnv`; everything else takes a Config.
 */
export interface Config {
  natsServers: string[];
  redisUrl: string;
  redisClusterNodes: string[];
  /** The ClickHouse HTTP endpoint; with a cluster, every node's, comma separated. */
  clickhouseUrl: string;
  /** A cluster of ClickHouse's remote_servers: history sharded by user over its nodes. */
  clickhouseCluster: string | undefined;
  namespace: string;
  host: string;
  port: number;
  /** TIERSTREAM_METRICS_LISTEN: /metrics on this address of its own, and no longer on the API's. */
  metricsListen: { host: string; port: number } | undefined;
  apiKeys: ApiKey[] | undefined;
  rateLimitPerSecond: number;
  /** TIERSTREAM_INGEST_RATE: events per second per key on the HTTP ingestion routes (default 50,000). */
  ingestEventsPerSecond?: number;
  tierExpireAfter: string;
  tierScanIntervalMs: number;
  role: 'all' | 'engine' | 'api';
  logLevel: string;
  /** LOG_FORMAT: `auto` (the default: readable lines when standard output is a terminal, JSON otherwise), `pretty` or `json`. */
  logFormat: 'auto' | 'pretty' | 'json';
  /** LOG_SUMMARY_INTERVAL (default PT1M; PT0S: none): how often an ingest process logs what it did. */
  logSummaryMs: number;
  batchSize: number | undefined;
  batchWaitMs: number | undefined;
  ackWaitMs: number | undefined;
  writeAttempts: number | undefined;
  tierLeaseMs: number | undefined;
  requestTimeoutMs: number | undefined;
  receiveTimeoutMs: number | undefined;
  /** Role `all`: ingest processes, API processes, and the ingest processes' niceness. */
  engineProcesses: number;
  apiProcesses: number;
  engineNice: number;
  /** How ingest acknowledges: `cumulative` (one process per namespace) or `explicit` (several). */
  ingestAck: 'cumulative' | 'explicit';
  /** Lookups slower than this (ms) make ingest yield Redis; 0: never. */
  lookupTargetMs: number;
  /** Replicas of every stream and KV bucket the namespace creates (3 on a NATS cluster). */
  streamReplicas: number;
  /** Where tier notices are POSTed, signed with the secret (both or neither). */
  webhook: { url: string; secret: string } | undefined;
  /** TIERSTREAM_MAX_FUTURE (default P1D), ms: events further ahead of their publication are dead-lettered. */
  maxFutureMs: number;
  /**
   * TIERSTREAM_HOT_COUNTS (default P30D; PT0S: off), ms: how far back count leaves are answered
   * from the hot tier (docs/design.md, "Hot counts"); the same value in every process of a namespace.
   */
  hotCountsMs: number;
  /** The named limits (TIERSTREAM_MAX_*; docs/operating.md, "Limits"). */
  limits: Limits;
  /** TIERSTREAM_EVENTS_MAX_BYTES: the events stream's max_bytes, discard new (default 4 GiB; -1: unbounded). */
  eventsMaxBytes: number;
  /** TIERSTREAM_BACKLOG_MAX: /readyz is not ready past this many events not ingested yet (default 5,000,000; 0: never). */
  backlogMax: number;
}

/** A bad environment variable (named in the message): `invalid_config`. */
export class ConfigError extends TierstreamError<'invalid_config'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_config', message, options);
  }
}

export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

function int(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${name}: expected an integer in [${min}, ${max}], got "${raw}"`);
  return v;
}

/** An enumerated variable: one of `values`, or undefined when unset or empty. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, values: readonly T[]): T | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!(values as readonly string[]).includes(v)) throw new ConfigError(`${name}: expected ${values.join(', ')}, got "${v}"`);
  return v as T;
}

function keys(spec: string | undefined): ApiKey[] | undefined {
  if (!spec) return undefined;
  try {
    return parseApiKeys(spec);
  } catch (err) {
    if (err instanceof ApiKeyError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
}

function listen(env: NodeJS.ProcessEnv, name: string): { host: string; port: number } | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    return parseListen(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

const BYTE_UNITS: Record<string, number> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
/** Smallest bounded events stream: room for a few thousand events. */
export const MIN_EVENTS_MAX_BYTES = 1024 ** 2;

/** A byte size (`4294967296`, `4GiB`, `512 MiB`) of at least MIN_EVENTS_MAX_BYTES, or -1 for unbounded. */
function byteSize(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw.trim() === '-1') return -1;
  const m = /^\s*(\d+)\s*(KiB|MiB|GiB|TiB)?\s*$/.exec(raw);
  const v = m ? Number(m[1]) * BYTE_UNITS[m[2] ?? '']! : NaN;
  if (!Number.isSafeInteger(v) || v < MIN_EVENTS_MAX_BYTES) throw new ConfigError(`${name}: expected a size of at least 1MiB (bytes, or with KiB, MiB, GiB, TiB), or -1 for unbounded, got "${raw}"`);
  return v;
}

/** A duration without months or years, in ms, or a ConfigError naming the variable. */
export function fixedDurationMs(text: string, name: string): number {
  try {
    return fixedMs(text);
  } catch (err) {
    if (err instanceof DurationError) throw new ConfigError(`${name}: ${err.message}`);
    throw err;
  }
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const namespace = env.TIERSTREAM_NAMESPACE ?? 'tierstream';
  if (!NAMESPACE_PATTERN.test(namespace)) throw new ConfigError(`TIERSTREAM_NAMESPACE: "${namespace}" does not match [a-z][a-z0-9_]{0,31}`);
  const role = env.TIERSTREAM_ROLE ?? 'all';
  if (role !== 'all' && role !== 'engine' && role !== 'api') throw new ConfigError(`TIERSTREAM_ROLE: expected all, engine or api, got "${role}"`);
  const engineProcesses = int(env, 'TIERSTREAM_ENGINE_PROCESSES', 1, 64) ?? 1;
  // Cumulative acks need the consumer to one process: the default only while there is one.
  const ingestAck = env.TIERSTREAM_INGEST_ACK ?? (engineProcesses > 1 ? 'explicit' : 'cumulative');
  if (ingestAck !== 'cumulative' && ingestAck !== 'explicit') throw new ConfigError(`TIERSTREAM_INGEST_ACK: expected cumulative or explicit, got "${ingestAck}"`);
  if (ingestAck === 'cumulative' && engineProcesses > 1) throw new ConfigError(`TIERSTREAM_INGEST_ACK=cumulative allows one ingest process, but TIERSTREAM_ENGINE_PROCESSES=${engineProcesses}`);
  const webhookUrl = env.TIERSTREAM_WEBHOOK_URL || undefined;
  const webhookSecret = env.TIERSTREAM_WEBHOOK_SECRET || undefined;
  if (webhookUrl) {
    let url: URL | undefined;
    try {
      url = new URL(webhookUrl);
    } catch { /* reported below */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(`TIERSTREAM_WEBHOOK_URL: "${webhookUrl}" is not an http(s) URL`);
    if (!webhookSecret) throw new ConfigError('TIERSTREAM_WEBHOOK_SECRET: required with TIERSTREAM_WEBHOOK_URL (every delivery is signed with it)');
  }
  const clickhouseUrl = (env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123').split(',').map((s) => s.trim()).filter(Boolean).join(',');
  const clickhouseCluster = env.CLICKHOUSE_CLUSTER || undefined;
  if (clickhouseCluster !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(clickhouseCluster)) throw new ConfigError(`CLICKHOUSE_CLUSTER: "${clickhouseCluster}" is not a cluster name ([A-Za-z0-9_.-]{1,64})`);
  if (!clickhouseCluster && clickhouseUrl.includes(',')) throw new ConfigError('CLICKHOUSE_URL: several endpoints need CLICKHOUSE_CLUSTER (the cluster they are the nodes of)');
  const tierExpireAfter = env.TIER_EXPIRE_AFTER ?? 'P3M';
  if (!parseDuration(tierExpireAfter)) throw new ConfigError(`TIER_EXPIRE_AFTER: "${tierExpireAfter}" is not an ISO-8601 duration`);
  return {
    natsServers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter(Boolean),
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisClusterNodes: (env.REDIS_CLUSTER_NODES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    clickhouseUrl,
    clickhouseCluster,
    namespace,
    host: env.HOST ?? '127.0.0.1',
    port: int(env, 'PORT', 0, 65_535) ?? 8080,
    metricsListen: listen(env, 'TIERSTREAM_METRICS_LISTEN'),
    apiKeys: keys(env.TIERSTREAM_API_KEYS),
    rateLimitPerSecond: int(env, 'TIERSTREAM_RATE_LIMIT', 1, 10_000_000) ?? 5_000,
    ingestEventsPerSecond: int(env, 'TIERSTREAM_INGEST_RATE', 1, 100_000_000),
    tierExpireAfter,
    tierScanIntervalMs: fixedDurationMs(env.TIER_SCAN_INTERVAL ?? 'PT1M', 'TIER_SCAN_INTERVAL'),
    role,
    logLevel: env.LOG_LEVEL ?? 'info',
    logSummaryMs: fixedDurationMs(env.LOG_SUMMARY_INTERVAL || 'PT1M', 'LOG_SUMMARY_INTERVAL'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['auto', 'pretty', 'json'] as const) ?? 'auto',
    batchSize: int(env, 'TIERSTREAM_BATCH_SIZE', 1, 100_000),
    batchWaitMs: int(env, 'TIERSTREAM_BATCH_WAIT_MS', 1, 60_000),
    ackWaitMs: int(env, 'TIERSTREAM_ACK_WAIT_MS', 1_000, 3_600_000),
    writeAttempts: int(env, 'TIERSTREAM_WRITE_ATTEMPTS', 1, 1_000),
    tierLeaseMs: int(env, 'TIERSTREAM_TIER_LEASE_MS', 1_000, 3_600_000),
    requestTimeoutMs: int(env, 'TIERSTREAM_REQUEST_TIMEOUT_MS', 100, 600_000),
    receiveTimeoutMs: int(env, 'TIERSTREAM_RECEIVE_TIMEOUT_MS', 1_000, 600_000),
    engineProcesses,
    ingestAck,
    apiProcesses: int(env, 'TIERSTREAM_API_PROCESSES', 1, 64) ?? 1,
    engineNice: int(env, 'TIERSTREAM_ENGINE_NICE', 0, 19) ?? 10,
    lookupTargetMs: int(env, 'TIERSTREAM_LOOKUP_TARGET_MS', 0, 10_000) ?? 5,
    streamReplicas: int(env, 'TIERSTREAM_STREAM_REPLICAS', 1, 5) ?? 1,
    webhook: webhookUrl && webhookSecret ? { url: webhookUrl, secret: webhookSecret } : undefined,
    maxFutureMs: fixedDurationMs(env.TIERSTREAM_MAX_FUTURE || 'P1D', 'TIERSTREAM_MAX_FUTURE'),
    hotCountsMs: fixedDurationMs(env.TIERSTREAM_HOT_COUNTS || 'P30D', 'TIERSTREAM_HOT_COUNTS'),
    limits: {
      variantsAndStepsPerSource: int(env, 'TIERSTREAM_MAX_VARIANTS_AND_STEPS', 1, MAX_VARIANTS_AND_STEPS_LIMIT) ?? LIMIT_DEFAULTS.variantsAndStepsPerSource,
      sources: int(env, 'TIERSTREAM_MAX_SOURCES', 1, 100_000_000) ?? LIMIT_DEFAULTS.sources,
      filters: int(env, 'TIERSTREAM_MAX_FILTERS', 1, 1_000_000) ?? LIMIT_DEFAULTS.filters,
      tagsPerSource: int(env, 'TIERSTREAM_MAX_TAGS', 1, MAX_TAGS_LIMIT) ?? LIMIT_DEFAULTS.tagsPerSource,
      linkAliases: int(env, 'TIERSTREAM_MAX_LINK_ALIASES', 1, MAX_LINK_ALIASES_LIMIT) ?? LIMIT_DEFAULTS.linkAliases,
    },
    eventsMaxBytes: byteSize(env, 'TIERSTREAM_EVENTS_MAX_BYTES', 4 * 1024 ** 3),
    backlogMax: int(env, 'TIERSTREAM_BACKLOG_MAX', 0, 1e12) ?? 5_000_000,
  };
}

/** Loopback hosts, the only ones the API may listen on while auth is off. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
