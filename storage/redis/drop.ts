import type { SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * Removes every index key of a source without blocking Redis: the key list is walked with
 * SSCAN and keys are UNLINKed (freed in the background) in batches. Returns keys removed.
 * All keys share the source's hash slot, so each UNLINK is valid on Redis Cluster.
 */
export async function dropSource(redis: RedisClient, ns: string, source: SourceRef, batchSize = 200): Promise<number> {
  const k = sourceKeys(ns, source);
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.sscan(k.keys, cursor, 'COUNT', batchSize);
    cursor = next;
    if (keys.length) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  // The apply script adds a key to the list in the same call that creates it: none is missed.
  removed += await redis.unlink(k.keys);
  return removed;
}
