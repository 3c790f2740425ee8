/**
 * What every part of the tiers benchmark shares: its parameters, its own connections, the one
 * source it measures and the targets the results are held against.
 */
import { randomBytes } from 'node:crypto';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { Cluster, Redis } from 'ioredis';
import { configFromEnv, type Config } from '../../config.js';
import type { SourceRef } from '../../core/index.js';
import { ClickHouseHistory, createRedis } from '../../storage/index.js';

/** The question's targets (bench/README.md). */
export const TARGET_RESTORE_SECONDS = 5;
export const TARGET_DEMOTE_SECONDS = 1;
export const TARGET_FREED_SHARE = 0.95;
/** The generator's name for its only campaign when asked for one. */
export const SOURCE: SourceRef = { kind: 'campaign', id: 'c0' };

export interface Params {
  events: number;
  users: number;
  variants: number;
  seed: number;
  runs: number;
  replayEvents: number;
  replayGroup: number;
  ingestEvents: number;
  chunkRows: number;
}

export interface Ctx {
  ns: string;
  p: Params;
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The bench's own ClickHouse client: loading and raw reads never borrow tierstream's. */
  history: ClickHouseHistory;
  /** The bench's own Redis connection: memory accounting and the replays. */
  redis: Redis | Cluster;
  signal: AbortSignal;
  /** Messages published to the events stream so far (the ingest phases add to it). */
  published: number;
}

/** A fresh namespace `bench_<8 hex>` with its own connections to the three servers. */
export async function openContext(p: Params, signal: AbortSignal): Promise<Ctx> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const config = configFromEnv({ ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'engine' });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  return {
    ns, p, config, nc, signal,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns, requestTimeoutMs: 300_000 }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    published: 0,
  };
}
