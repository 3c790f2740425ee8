/** The Redis memory of one source (MEMORY USAGE of its keys) and of Redis as a whole (INFO memory). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceRef } from '../../core/index.js';
import { sourceKeys } from '../../storage/index.js';
import { round } from '../measure.js';
import { STALL_MS, masters } from '../namespace.js';
import type { Ctx } from './context.js';

export interface SourceMemory {
  /** Keys of the source that exist: key list, tier gate, index zsets. */
  keys: number;
  /** Members over all its index zsets. */
  members: number;
  /** Sum of MEMORY USAGE <key> SAMPLES 0 over those keys. */
  bytes: number;
}

export interface RedisMemory {
  /** INFO memory used_memory, summed over masters, once lazyfree_pending_objects is 0. */
  usedMemory: number;
  usedMemoryRss: number;
}

/** MEMORY USAGE (SAMPLES 0: every member counted) of the source's key list, tier gate and index keys. */
export async function sourceMemory(ctx: Ctx, source: SourceRef): Promise<SourceMemory> {
  const k = sourceKeys(ctx.ns, source);
  const names = await ctx.redis.smembers(k.keys);
  const out: SourceMemory = { keys: 0, members: 0, bytes: 0 };
  for (const key of [k.keys, k.tier, ...names]) {
    const bytes = (await ctx.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
    if (bytes === null) continue;
    out.keys++;
    out.bytes += bytes;
    if (key !== k.keys && key !== k.tier) out.members += await ctx.redis.zcard(key);
  }
  return out;
}

const infoField = (info: string, field: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);

/**
 * INFO memory of every master, once Redis has no object left to free in the background
 * (UNLINK frees large values on a background thread: until then used_memory still counts them).
 */
export async function redisMemory(ctx: Ctx): Promise<RedisMemory & { lazyFreeMs: number }> {
  const t0 = performance.now();
  for (;;) {
    const infos = await Promise.all(masters(ctx).map((m) => m.info('memory')));
    if (infos.every((i) => (infoField(i, 'lazyfree_pending_objects') || 0) === 0)) {
      return {
        usedMemory: infos.reduce((s, i) => s + infoField(i, 'used_memory'), 0),
        usedMemoryRss: infos.reduce((s, i) => s + infoField(i, 'used_memory_rss'), 0),
        lazyFreeMs: round(performance.now() - t0, 1),
      };
    }
    if (performance.now() - t0 > STALL_MS) throw new Error('Redis lazyfree_pending_objects did not reach 0');
    await sleep(5);
  }
}
