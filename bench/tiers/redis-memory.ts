/** The Redis memory of one source (MEMORY USAGE of its keys) and of Redis as a whole (INFO memory). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceRef } from '../../core/index.js';
import { sourceKeys } from '../../storage/index.js';
import { forEachRecord } from '../../storage/redis/layout.js';
import { round } from '../measure.js';
import { STALL_MS, masters } from '../namespace.js';
import type { Ctx } from './context.js';

export interface SourceMemory {
  /** Keys of the source that exist: tier gate, meta, buckets. */
  keys: number;
  /**
   * Entries: a user in one index of the source (`any`, a type, a variant x type, a step x type),
   * as the layout before stored one sorted-set member each; here `any` plus each record.
   */
  members: number;
  /** Sum of MEMORY USAGE <key> SAMPLES 0 over those keys. */
  bytes: number;
}

export interface RedisMemory {
  /** INFO memory used_memory, summed over masters, once lazyfree_pending_objects is 0. */
  usedMemory: number;
  usedMemoryRss: number;
}

/** MEMORY USAGE (SAMPLES 0: every field counted) of the source's tier gate, meta and buckets. */
export async function sourceMemory(ctx: Ctx, source: SourceRef): Promise<SourceMemory> {
  const k = sourceKeys(ctx.ns, source);
  const [level, split, gen] = await ctx.redis.hmget(k.meta, 'L', 'p', 'g');
  const buckets = level === null ? 0 : 2 ** Number(level) + Number(split);
  const out: SourceMemory = { keys: 0, members: 0, bytes: 0 };
  const keys = [k.tier, k.meta, ...Array.from({ length: buckets }, (_, b) => k.bucket(gen!, b))];
  for (const key of keys) {
    const bytes = (await ctx.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
    if (bytes === null) continue;
    out.keys++;
    out.bytes += bytes;
    if (key === k.tier || key === k.meta) continue;
    for (const value of Object.values(await ctx.redis.hgetallBuffer(key))) {
      out.members++; // any
      forEachRecord(value, () => void out.members++);
    }
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
