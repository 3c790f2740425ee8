import type { Cluster, Redis } from 'ioredis';
import { indexName, type IndexSource } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { namespaceKeys, sourceKeys } from './keys.js';
import { forEachRecord, latestOf } from './layout.js';
import { masters } from './sentinel.js';

/**
 * Tests and benchmarks only: whole-state reads and namespace wipes that walk every key. No
 * request path, engine or tier manager calls these.
 */

/**
 * The whole hot state of a source as plain data: index name -> user -> time, `any` included
 * (the largest record of each user). For checkers and tests (it reads every bucket; not for
 * request paths).
 */
export async function snapshot(redis: RedisClient, ns: string, source: IndexSource): Promise<Map<string, Map<string, number>>> {
  const k = sourceKeys(ns, source);
  const meta = await redis.hgetall(k.meta);
  const out = new Map<string, Map<string, number>>();
  if (meta.L === undefined) return out;
  const names = new Map<number, string>();
  for (const [field, value] of Object.entries(meta)) if (field.startsWith('#')) names.set(Number(field.slice(1)), value);
  const put = (name: string, user: string, time: number) => {
    let users = out.get(name);
    if (!users) out.set(name, (users = new Map()));
    users.set(user, time);
  };
  const buckets = 2 ** Number(meta.L) + Number(meta.p);
  for (let b = 0; b < buckets; b++) {
    const flat = await redis.hgetallBuffer(k.bucket(meta.g!, b));
    for (const [user, value] of Object.entries(flat)) {
      forEachRecord(value, (id, time) => put(names.get(id) ?? `#${id}`, user, time));
      put(indexName.any, user, latestOf(value));
    }
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Keys of a source but its tier gate, found by SCAN on every master; tests use it to prove demotion. */
export async function sourceKeyCount(redis: RedisClient, ns: string, source: IndexSource): Promise<number> {
  const k = sourceKeys(ns, source);
  let n = 0;
  for (const master of redis.isCluster ? masters(redis) : ['']) {
    n += await onMaster(redis, master, async (node) => {
      let found = 0;
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', k.pattern, 'COUNT', 1_000);
        cursor = next;
        found += keys.filter((key) => key !== k.tier).length;
      } while (cursor !== '0');
      return found;
    });
  }
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
