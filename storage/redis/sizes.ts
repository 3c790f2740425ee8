import { sourceName, type SourceRef } from '../../core/index.js';
import type { RedisClient } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * How big the hot sources are: users per source (ZCARD of its `any` index) and the Redis memory
 * of its keys (MEMORY USAGE). Both read in pipelines of at most PIPELINE_COMMANDS commands
 * sent one after another, so Redis is never busy with one of them for more than about a
 * millisecond and lookups interleave (a pipeline's commands run back to back).
 */

/** Commands per pipeline: ZCARD and MEMORY USAGE ... SAMPLES 5 take a few microseconds each. */
const PIPELINE_COMMANDS = 100;
/**
 * Members MEMORY USAGE samples in a sorted set (Redis's own default is 5): the estimate is the
 * sampled members' average size times the cardinality, and the call costs O(samples), not O(n).
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

/** Users with any hot interaction, per source name. */
export async function countUsersBySource(redis: RedisClient, ns: string, sources: readonly SourceRef[]): Promise<Map<string, number>> {
  const cmds = sources.map((s) => ({ source: sourceName(s), cmd: ['zcard', sourceKeys(ns, s).index('any')] as Cmd }));
  const res = await bounded(redis, cmds);
  return new Map(cmds.map((c, i) => [c.source, Number(res[i] ?? 0)]));
}

/**
 * Bytes of memory of every key of each source (its index keys, the set naming them, its tier
 * gate), per source name: SMEMBERS of each source's key set, then one MEMORY USAGE per key.
 * A key gone in between counts 0.
 */
export async function memoryBySource(redis: RedisClient, ns: string, sources: readonly SourceRef[]): Promise<Map<string, number>> {
  const names = sources.map(sourceName);
  const members = (await bounded(redis, sources.map((s, i) => ({ source: names[i]!, cmd: ['smembers', sourceKeys(ns, s).keys] as Cmd })))) as string[][];
  const cmds: { source: string; cmd: Cmd }[] = [];
  sources.forEach((s, i) => {
    const k = sourceKeys(ns, s);
    for (const key of [k.keys, k.tier, ...members[i]!]) cmds.push({ source: names[i]!, cmd: ['memory', 'usage', key, 'samples', SAMPLES] });
  });
  const res = await bounded(redis, cmds);
  const out = new Map(names.map((n) => [n, 0]));
  cmds.forEach((c, i) => out.set(c.source, out.get(c.source)! + Number(res[i] ?? 0)));
  return out;
}
