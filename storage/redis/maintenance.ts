import type { Cluster, Redis } from 'ioredis';
import type { SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { namespaceKeys, sourceKeys } from './keys.js';
import { masters } from './sentinel.js';

/**
 * Tests and benchmarks only: whole-state reads and namespace wipes that walk every key. No
 * request path, engine or tier manager calls these.
 */

/**
 * The whole hot state of a source as plain data: index name -> user -> time. For checkers
 * and tests (it reads every member; not for request paths).
 */
export async function snapshot(redis: RedisClient, ns: string, source: SourceRef): Promise<Map<string, Map<string, number>>> {
  const k = sourceKeys(ns, source);
  const out = new Map<string, Map<string, number>>();
  for (const key of (await redis.smembers(k.keys)).sort()) {
    const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
    const users = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2) users.set(flat[i]!, Number(flat[i + 1]));
    out.set(key.slice(k.indexPrefix.length), users);
  }
  return out;
}

/** Keys of a source (its key list and the keys in it); tests use it to prove demotion. */
export async function sourceKeyCount(redis: RedisClient, ns: string, source: SourceRef): Promise<number> {
  const k = sourceKeys(ns, source);
  const names = await redis.smembers(k.keys);
  const all = [k.keys, k.index('any'), ...names];
  let n = 0;
  for (const key of new Set(all)) n += await redis.exists(key);
  return n;
}

/**
 * Unlinks every key of the namespace (tests and benchmarks only): SCAN on each master,
 * UNLINK in batches, the sentinels last, so a process that notices the loss only rebuilds
 * after every other key is gone (as after a FLUSHALL). With `master` (a `host:port` of
 * masters()), only that master's keys go: what it restarted empty does to the namespace.
 */
export async function unlinkNamespace(redis: RedisClient, ns: string, opts: { master?: string } = {}): Promise<number> {
  const all = redis.isCluster ? masters(redis) : [''];
  if (opts.master !== undefined && !all.includes(opts.master)) {
    throw new Error(`${opts.master} is not one of the masters ${all.join(', ')}`);
  }
  const m = namespaceKeys(ns);
  let n = 0;
  const sentinels: string[] = [];
  for (const master of opts.master !== undefined ? [opts.master] : all) {
    n += await onMaster(redis, master, async (node) => {
      let removed = 0;
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 500);
        cursor = next;
        // On a cluster node each key goes alone: keys of one scan page span many slots.
        for (const key of keys) {
          if (m.isSentinel(key)) sentinels.push(key);
          else removed += await node.unlink(key);
        }
      } while (cursor !== '0');
      return removed;
    });
  }
  // Routed by slot, each to its master.
  for (const key of new Set(sentinels)) n += await redis.unlink(key);
  return n;
}

/**
 * Runs `fn` on one master's own connection (standalone: the client). ioredis drops a node
 * whose connection closed (a restarted master) from its pool until the slot map is read
 * again, so a master missing from the pool, or a failure, refreshes the map and retries
 * (every 250 ms, for up to 10 s).
 */
async function onMaster<T>(redis: RedisClient, master: string, fn: (node: Redis) => Promise<T>): Promise<T> {
  if (!redis.isCluster) return fn(redis as Redis);
  const cluster = redis as Cluster;
  for (let attempt = 1; ; attempt++) {
    const node = cluster.nodes('master').find((x) => `${x.options.host}:${x.options.port}` === master);
    try {
      if (!node) throw new Error(`master ${master} is not connected`);
      return await fn(node);
    } catch (err) {
      if (attempt >= 40) throw err;
      cluster.refreshSlotsCache();
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
