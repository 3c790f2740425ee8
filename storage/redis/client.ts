import { Cluster, Redis } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  /** host:port list; when set, Redis Cluster is used instead of `url`. */
  clusterNodes?: string[];
}

/**
 * Creates the Redis client. Commands issued while disconnected queue and are retried on
 * reconnect, so callers see latency, not errors, during a short outage.
 */
export function createRedis(opts: RedisConnectionOptions): Redis | Cluster {
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);
  if (opts.clusterNodes && opts.clusterNodes.length > 0) {
    const nodes = opts.clusterNodes.map((hp) => {
      const [host, port] = hp.split(':');
      return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
    });
    return new Cluster(nodes, { clusterRetryStrategy: retryStrategy, redisOptions: { maxRetriesPerRequest: null } });
  }
  return new Redis(opts.url, { retryStrategy, maxRetriesPerRequest: null, lazyConnect: false });
}
