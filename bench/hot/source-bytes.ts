import type { Cluster, Redis } from 'ioredis';
import type { IndexSource } from '../../core/index.js';
import { sourceKeys } from '../../storage/index.js';

/**
 * Bytes of one source's keys in Redis, by family: its records' buckets and meta, and its hot
 * counts' buckets (docs/design.md, "Hot counts"), with how many count buckets are listpacks.
 * MEMORY USAGE ... SAMPLES 0 of every key, found by SCAN (one Redis node; benchmarks only).
 */
export async function sourceBytes(redis: Redis | Cluster, ns: string, source: IndexSource): Promise<{ records: number; counts: number; countBuckets: number; listpacks: number }> {
  const k = sourceKeys(ns, source);
  const node = redis as Redis;
  const out = { records: 0, counts: 0, countBuckets: 0, listpacks: 0 };
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', k.pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const bytes = Number(await node.memory('USAGE', key, 'SAMPLES', 0));
      if (!key.startsWith(k.countPrefix)) {
        out.records += bytes;
        continue;
      }
      out.counts += bytes;
      out.countBuckets++;
      if ((await node.object('ENCODING', key)) === 'listpack') out.listpacks++;
    }
  } while (cursor !== '0');
  return out;
}
