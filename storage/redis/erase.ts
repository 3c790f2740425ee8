import type { IndexSource } from '../../core/index.js';
import type { WithCommands } from './commands.js';
import { sourceKeys } from './keys.js';
import { hashUser } from './layout.js';

/** Calls sent at a time: each is one HGET and HDEL in one bucket. */
const IN_FLIGHT = 100;

/**
 * Removes a user from each source (lua/erase.lua: the user's field in its bucket, every index
 * of the source at once), at most IN_FLIGHT calls at a time; each call is routed to its
 * source's node on Redis Cluster. Returns the entries removed (the user's `any` and each of
 * its records in each source), as the layout before counted sorted-set members.
 */
export async function eraseUser(redis: WithCommands, ns: string, userId: string, sources: readonly IndexSource[]): Promise<number> {
  const h = hashUser(userId);
  let removed = 0;
  for (let i = 0; i < sources.length; i += IN_FLIGHT) {
    const res = await Promise.all(
      sources.slice(i, i + IN_FLIGHT).map((s) => {
        const k = sourceKeys(ns, s);
        return redis.tsErase(k.meta, k.bucketPrefix, h, userId, k.countPrefix);
      }),
    );
    for (const n of res) removed += Number(n);
  }
  return removed;
}
