import type { Cluster } from 'ioredis';
import type { SentinelState } from '../../core/index.js';
import type { RedisClient, WithCommands } from './commands.js';
import { namespaceKeys } from './keys.js';
import { keySlot } from './slots.js';

/**
 * Redis-loss detection and the election of one rebuilder (lua/sentinel.lua), the rebuild
 * claim, and the per-master sentinels Redis Cluster needs, which the health check also reads.
 */

/** Outcome of a sentinel check (see lua/sentinel.lua). */
const SENTINEL_STATES: SentinelState[] = ['intact', 'rebuild_claimed', 'rebuild_elsewhere'];

/**
 * Checks that this Redis still holds the namespace, electing a rebuilder if it does not.
 * On Redis Cluster every master holds a sentinel of its own (see masterSentinels), so a
 * master restarted empty is noticed even when the namespace sentinel sits on another one.
 */
export async function checkSentinel(redis: WithCommands, ns: string, owner: string, ttlMs: number): Promise<SentinelState> {
  const m = namespaceKeys(ns);
  const perMaster = masterSentinels(redis, ns);
  const missingOf = async (keys: string[]) => {
    const found = await Promise.all(keys.map((k) => redis.exists(k)));
    return keys.filter((_, i) => found[i] === 0);
  };
  const missing = await missingOf(perMaster);
  const code = await redis.tsSentinel(m.sentinel, m.rebuilding, owner, ttlMs, missing.length ? 1 : 0);
  if (code !== 1 && code !== 3) return SENTINEL_STATES[code] ?? 'intact';
  // Claimed only for a missing master sentinel: another process may have rebuilt (and
  // rewritten it) between our read and our claim; then there is nothing left to do.
  if (code === 3 && (await missingOf(missing)).length === 0) {
    await redis.del(m.rebuilding);
    return 'intact';
  }
  // Written before the rebuild starts, so a loss during the rebuild is noticed again.
  await Promise.all(perMaster.map((k) => redis.set(k, owner)));
  return 'rebuild_claimed';
}

/**
 * Redis Cluster: one sentinel key per master, `masterSentinel(i)` for the first `i` whose
 * slot the master owns in the client's slot map (every process computes the same keys).
 * Standalone, or before the slot map is known: none.
 */
function masterSentinels(redis: RedisClient, ns: string): string[] {
  if (!redis.isCluster) return [];
  const slots = (redis as Cluster).slots;
  const masters = new Set<string>();
  for (const owners of slots) if (owners?.[0]) masters.add(owners[0]);
  const m = namespaceKeys(ns);
  const keys = new Map<string, string>();
  for (let i = 0; keys.size < masters.size && i < 1 << 20; i++) {
    const master = slots[keySlot(m.masterSentinelTag(i))]?.[0];
    if (master && !keys.has(master)) keys.set(master, m.masterSentinel(i));
  }
  return [...keys.values()];
}

/** Redis Cluster: the masters (`host:port`) of the client's slot map; standalone: []. */
export function masters(redis: RedisClient): string[] {
  if (!redis.isCluster) return [];
  return [...new Set((redis as Cluster).slots.map((owners) => owners?.[0]).filter((n): n is string => !!n))].sort();
}

/** Renews (ttlMs > 0) or ends (ttlMs = 0) this process's rebuild claim. */
export async function renewRebuild(redis: RedisClient, ns: string, owner: string, ttlMs: number): Promise<void> {
  const key = namespaceKeys(ns).rebuilding;
  if (ttlMs > 0) await redis.set(key, owner, 'PX', ttlMs);
  else await redis.del(key);
}

/** True while some process rebuilds the hot tier. */
export async function rebuilding(redis: RedisClient, ns: string): Promise<boolean> {
  return (await redis.exists(namespaceKeys(ns).rebuilding)) === 1;
}

/**
 * True when Redis answers. On Redis Cluster every master of the slot map must answer (a
 * PING goes to any one node, which says nothing of the master a write waits for): one
 * EXISTS of each master's sentinel, routed by slot like the writes.
 */
export async function ping(redis: RedisClient, ns: string): Promise<boolean> {
  try {
    const perMaster = masterSentinels(redis, ns);
    if (perMaster.length === 0) return (await redis.ping()) === 'PONG';
    await Promise.all(perMaster.map((k) => redis.exists(k)));
    return true;
  } catch {
    return false;
  }
}
