import { randomUUID } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import { sourceName, type Program, type SourceRef } from '../../core/index.js';
import type { RedisClient, WithCommands } from './commands.js';
import { filterSteps } from './filter-steps.js';
import { sourceKeys } from './keys.js';

/** The lookups: what the hot path (core HotLookup) and the HotIndex port read of Redis. */

/**
 * For each user: the latest time in each of `leaves`' indexes (`latest[u * leaves.length + l]`,
 * NaN when none), and whether the user has any event of `sources` (`known[u]`, 1 or 0). One
 * pipelined round trip of ZMSCORE calls, one per distinct key (leaves over one index with
 * different windows, as a tag leaf's are, read it once; on Redis Cluster one pipeline per
 * source, in parallel). Typed arrays, filled in place: no array per user.
 */
export async function scores(
  redis: RedisClient,
  ns: string,
  leaves: readonly { source: SourceRef; index: string }[],
  sources: readonly SourceRef[],
  users: readonly string[],
): Promise<{ latest: Float64Array; known: Uint8Array }> {
  const width = leaves.length;
  const latest = new Float64Array(users.length * width).fill(NaN);
  const known = new Uint8Array(users.length);
  if (users.length === 0) return { latest, known };
  const keys: { source: SourceRef; key: string }[] = [];
  const slot = new Map<string, number>();
  const read = (source: SourceRef, key: string): number => {
    let i = slot.get(key);
    if (i === undefined) slot.set(key, (i = keys.push({ source, key }) - 1));
    return i;
  };
  const leafKeys = leaves.map((l) => read(l.source, sourceKeys(ns, l.source).index(l.index)));
  const anyKeys = sources.map((s) => read(s, sourceKeys(ns, s).index('any')));
  // Buffer replies: the scores are read from their bytes, not made into a string each.
  const res = (await pipelined(redis, keys, (pipe, key) => pipe.zmscoreBuffer(key, ...users))) as (Buffer | null)[][];
  for (let l = 0; l < width; l++) {
    const reply = res[leafKeys[l]!]!;
    for (let u = 0; u < reply.length; u++) {
      const v = reply[u];
      if (v !== null) latest[u * width + l] = scoreOf(v!);
    }
  }
  for (const k of anyKeys) {
    const reply = res[k]!;
    for (let u = 0; u < reply.length; u++) if (reply[u] !== null) known[u] = 1;
  }
  return { latest, known };
}

/**
 * A score as Redis writes it: times are integers, written as up to 15 plain digits here,
 * read from the bytes; anything else (a sign, a fraction, an exponent, "inf", more digits
 * than a double holds exactly) goes through Number() as ioredis's string would.
 */
export function scoreOf(b: Buffer): number {
  const n = b.length;
  if (n === 0 || n > 15) return Number(b.toString('latin1'));
  let x = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return Number(b.toString('latin1'));
    x = x * 10 + c;
  }
  return x;
}

/**
 * Runs one command per key in pipelines and returns the replies in the keys' order (throws
 * the first error). Standalone: one pipeline. Cluster: one pipeline per source, in parallel,
 * since ioredis rejects a pipeline whose keys live on more than one node.
 */
async function pipelined(
  redis: RedisClient,
  keys: readonly { source: SourceRef; key: string }[],
  add: (pipe: ChainableCommander, key: string) => void,
): Promise<unknown[]> {
  const groups = new Map<string, number[]>();
  keys.forEach(({ source }, i) => {
    const g = redis.isCluster ? sourceName(source) : '';
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(i);
  });
  const out = new Array<unknown>(keys.length);
  await Promise.all(
    [...groups.values()].map(async (idx) => {
      const pipe = redis.pipeline();
      for (const i of idx) add(pipe, keys[i]!.key);
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, value], j) => {
        if (err) throw err;
        out[idx[j]!] = value;
      });
    }),
  );
  return out;
}

/**
 * Count or page of the users matching a filter whose leaves all read one source, computed
 * inside Redis with sorted-set operations in that source's hash slot (one script call; no
 * set crosses into Node). Page: up to `limit + 1` users after `afterUser`, in id order.
 */
export async function filterSet(
  redis: WithCommands,
  ns: string,
  source: SourceRef,
  leaves: readonly { index: string; after: number; before: number }[],
  program: Program,
  mode: { count: true } | { count?: false; afterUser?: string; limit: number },
): Promise<number | string[]> {
  const k = sourceKeys(ns, source);
  const { steps, count } = filterSteps(program, leaves);
  const token = randomUUID();
  const scratch = Array.from({ length: count }, (_, i) => `${k.indexPrefix}tmp:${token}:${i}`);
  const keys = [k.index('any'), ...leaves.map((l) => k.index(l.index)), ...scratch];
  const args = mode.count ? ['count', '', 0] : ['page', mode.afterUser ?? '', mode.limit];
  return redis.tsFilterSet(keys.length, ...keys, ...args, leaves.length, ...steps);
}

/**
 * Every user with any event of the sources, sorted by id (the universe a `not` ranges over,
 * and the order audience pages walk). Read in ranges of 10_000 members, the first range of
 * every source in one pipeline (a tag may stand for many sources).
 */
export async function users(redis: RedisClient, ns: string, sources: readonly SourceRef[]): Promise<string[]> {
  const all = new Set<string>();
  const keys = sources.map((s) => ({ source: s, key: sourceKeys(ns, s).index('any') }));
  const first = (await pipelined(redis, keys, (pipe, key) => pipe.zrange(key, 0, 9_999))) as string[][];
  for (const [i, page0] of first.entries()) {
    for (const u of page0) all.add(u);
    for (let start = 10_000, page = page0; page.length === 10_000; start += 10_000) {
      page = await redis.zrange(keys[i]!.key, start, start + 9_999);
      for (const u of page) all.add(u);
    }
  }
  return [...all].sort();
}

export async function countUsers(redis: RedisClient, ns: string, source: SourceRef): Promise<number> {
  return redis.zcard(sourceKeys(ns, source).index('any'));
}

export async function userLatest(redis: RedisClient, ns: string, source: SourceRef, userId: string): Promise<Map<string, number>> {
  const k = sourceKeys(ns, source);
  const names = await redis.smembers(k.keys);
  const out = new Map<string, number>();
  if (names.length === 0) return out;
  const pipe = redis.pipeline();
  for (const key of names) pipe.zscore(key, userId);
  const res = (await pipe.exec()) ?? [];
  names.forEach((key, i) => {
    const [err, score] = res[i] ?? [];
    if (err) throw err;
    if (score !== null && score !== undefined) out.set(key.slice(k.indexPrefix.length), Number(score));
  });
  return out;
}
