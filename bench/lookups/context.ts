/** What every part of the lookups benchmark shares: its parameters, its connections, the targets. */
import { randomBytes } from 'node:crypto';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import type { Cluster, Redis } from 'ioredis';
import { configFromEnv, type Config } from '../../config.js';
import { ClickHouseHistory, createRedis } from '../../storage/index.js';

/** The targets (bench/README.md), reported, never asserted. */
export const TARGET_P99_IDLE_MS = 2;
export const TARGET_P99_DRAIN_MS = 10;
/** The rate both latency targets are stated at, checks/s. */
export const TARGET_RATE = 400;
/** The drain the second latency target holds under, events/s at least. */
export const TARGET_DRAIN_EVENTS_PER_SECOND = 10_000;
/** Closed-loop checks/s of tierstream over bare Fastify's, at least. */
export const TARGET_CEILING_SHARE = 0.5;
/** The limiter stays in the request path but never answers 429 during the benchmark. */
export const RATE_LIMIT = 10_000_000;

export interface Params {
  users: number;
  clickPct: number;
  idsPerCheck: number;
  bodies: number;
  connections: number;
  closedDuration: number;
  closedWarmup: number;
  rateLow: number;
  rateHigh: number;
  duration: number;
  warmup: number;
  sockets: number;
  generatorNice: number;
  backlog: number;
  backlogCampaigns: number;
  backlogUsers: number;
  seed: number;
}

export interface Ctx {
  ns: string;
  p: Params;
  signal: AbortSignal;
  /** The benchmark's own connections (consumer info, setup checks, cleanup), never tierstream's. */
  nc: NatsConnection;
  jsm: JetStreamManager;
  history: ClickHouseHistory;
  redis: Redis | Cluster;
  /** Headers of every check request: JSON, and the bench's API key (scope lookup). */
  headers: Record<string, string>;
}

/**
 * A fresh namespace with one API key (scope lookup), the environment tierstream runs with
 * (rate limit out of the way), its configuration, and the benchmark's own connections.
 */
export async function openContext(p: Params, signal: AbortSignal): Promise<{ ctx: Ctx; env: Record<string, string>; config: Config }> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const apiKey = randomBytes(16).toString('hex');
  const env = { TIERSTREAM_NAMESPACE: ns, TIERSTREAM_RATE_LIMIT: String(RATE_LIMIT), TIERSTREAM_API_KEYS: `${apiKey}:lookup` };
  const config = configFromEnv({ ...process.env, ...env });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: Ctx = {
    ns, p, signal, nc,
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
  };
  return { ctx, env, config };
}
