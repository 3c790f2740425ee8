import type { SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * Removes every key of a source but its tier gate, without blocking Redis: its buckets and their
 * hot counts (their number is in the meta) are UNLINKed in batches of `batchSize`, then the meta, then what the
 * previous layout left (its key list and the keys in it). The caller has closed the tier gate,
 * so no write adds a bucket meanwhile. Returns keys removed. All keys share the source's hash
 * slot, so each UNLINK is valid on Redis Cluster.
 */
export async function dropSource(redis: RedisClient, ns: string, source: SourceRef, batchSize = 500): Promise<number> {
  const k = sourceKeys(ns, source);
  const [level, split, gen] = await redis.hmget(k.meta, 'L', 'p', 'g');
  const buckets = level === null ? 0 : 2 ** Number(level) + Number(split);
  let removed = 0;
  for (let i = 0; i < buckets; i += batchSize) {
    const n = Math.min(batchSize, buckets - i);
    removed += await redis.unlink(...Array.from({ length: n }, (_, j) => k.bucket(gen!, i + j)));
    // Hot counts: a bucket's marks are a key of their own, absent when none (not counted).
    await redis.unlink(...Array.from({ length: n }, (_, j) => k.countBucket(gen!, i + j)));
  }
  removed += await redis.unlink(k.meta);
  let cursor = '0';
  do {
    const [next, keys] = await redis.sscan(k.legacyKeys, cursor, 'COUNT', batchSize);
    cursor = next;
    if (keys.length) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  removed += await redis.unlink(k.legacyKeys);
  return removed;
}
