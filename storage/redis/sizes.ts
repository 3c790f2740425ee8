import { sourceName, type SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * How big the hot sources are: users per source (the count its meta keeps) and the Redis memory
 * of its keys (MEMORY USAGE). Both read in pipelines of at most PIPELINE_COMMANDS commands
 * sent one after another, so Redis is never busy with one of them for more than about a
 * millisecond and lookups interleave (a pipeline's commands run back to back).
 */

/** Commands per pipeline: HGET and MEMORY USAGE ... SAMPLES 5 take a few microseconds each. */
const PIPELINE_COMMANDS = 100;
/**
 * Fields MEMORY USAGE samples in a hash that is no listpack (Redis's own default is 5): the
 * call costs O(samples), not O(n); a listpack's size is read whole.
 */
const SAMPLES = 5;

type Cmd = [command: string, ...args: (string | number)[]];

/**
 * Runs `(source, command)` pairs in bounded pipelines, one at a time, and returns the replies
 * in order (throws the first error). Redis Cluster: a pipeline holds one source's commands
 * only (its keys share the source's hash tag, hence one node).
 */
async function bounded(redis: RedisClient, cmds: readonly { source: string; cmd: Cmd }[]): Promise<unknown[]> {
  const out = new Array<unknown>(cmds.length);
  let i = 0;
  while (i < cmds.length) {
    const pipe = redis.pipeline();
    const start = i;
    const group = cmds[i]!.source;
    while (i < cmds.length && i - start < PIPELINE_COMMANDS && (!redis.isCluster || cmds[i]!.source === group)) {
      pipe.call(...cmds[i]!.cmd);
      i++;
    }
    const res = (await pipe.exec()) ?? [];
    res.forEach(([err, value], j) => {
      if (err) throw err;
      out[start + j] = value;
    });
  }
  return out;
}

/** Users with any hot interaction, per source name (the meta's count). */
export async function countUsersBySource(redis: RedisClient, ns: string, sources: readonly SourceRef[]): Promise<Map<string, number>> {
  const cmds = sources.map((s) => ({ source: sourceName(s), cmd: ['hget', sourceKeys(ns, s).meta, 'n'] as Cmd }));
  const res = await bounded(redis, cmds);
  return new Map(cmds.map((c, i) => [c.source, Number(res[i] ?? 0)]));
}

/** Buckets measured per source: the estimate is their average times the number of buckets. */
const SAMPLED_BUCKETS = 3;

/**
 * Bytes of memory of each source's keys, per source name: MEMORY USAGE of its meta and tier
 * gate, and of up to SAMPLED_BUCKETS of its buckets (spread over them), whose average stands
 * for every bucket. Bounded per source whatever its size; exact when it has few buckets.
 */
export async function memoryBySource(redis: RedisClient, ns: string, sources: readonly SourceRef[]): Promise<Map<string, number>> {
  const names = sources.map(sourceName);
  const states = (await bounded(redis, sources.map((s, i) => ({ source: names[i]!, cmd: ['hmget', sourceKeys(ns, s).meta, 'L', 'p', 'g'] as Cmd })))) as (string | null)[][];
  const cmds: { source: string; cmd: Cmd; weight: number }[] = [];
  sources.forEach((s, i) => {
    const k = sourceKeys(ns, s);
    for (const key of [k.meta, k.tier]) cmds.push({ source: names[i]!, cmd: ['memory', 'usage', key, 'samples', SAMPLES], weight: 1 });
    const [level, split, gen] = states[i]!;
    if (level === null || level === undefined) return;
    const buckets = 2 ** Number(level) + Number(split);
    const sampled = Math.min(SAMPLED_BUCKETS, buckets);
    for (let j = 0; j < sampled; j++) {
      const b = Math.floor((j * buckets) / sampled);
      cmds.push({ source: names[i]!, cmd: ['memory', 'usage', k.bucket(gen!, b), 'samples', SAMPLES], weight: buckets / sampled });
      // Its hot counts (absent: 0).
      cmds.push({ source: names[i]!, cmd: ['memory', 'usage', k.countBucket(gen!, b), 'samples', SAMPLES], weight: buckets / sampled });
    }
  });
  const res = await bounded(redis, cmds);
  const out = new Map(names.map((n) => [n, 0]));
  cmds.forEach((c, i) => out.set(c.source, out.get(c.source)! + Math.round(Number(res[i] ?? 0) * c.weight)));
  return out;
}
