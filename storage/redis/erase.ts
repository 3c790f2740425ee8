import type { SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * Removes a user from every index key of each source (the key list each source keeps), one
 * pipeline per source: its keys share a hash slot, so this works on Redis Cluster too.
 * Returns the members removed (one per source and index the user was in).
 */
export async function eraseUser(redis: RedisClient, ns: string, userId: string, sources: readonly SourceRef[]): Promise<number> {
  let removed = 0;
  for (const source of sources) {
    const k = sourceKeys(ns, source);
    const keys = await redis.smembers(k.keys);
    if (keys.length === 0) continue;
    const p = redis.pipeline();
    for (const key of keys) p.zrem(key, userId);
    for (const [err, n] of (await p.exec()) ?? []) {
      if (err) throw err;
      removed += Number(n);
    }
  }
  return removed;
}
