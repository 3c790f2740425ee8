/**
 * The source the hot benchmark reads: campaign S1 sent to `users` users (u0..), `clickPct`
 * percent of them with a click in the hour after their send, written straight into Redis by
 * RedisHotIndex.apply of folds (as one ingest batch writes them; no NATS, no history), and the
 * same entries once more in the previous layout (one sorted set per index, plain ZADD, as
 * bench/ingest/stores-floor.ts writes it) under a second namespace, to weigh both side by side.
 */
import type { Redis } from 'ioredis';
import { indexName, type SourceFold, type SourceRef } from '../../core/index.js';
import { RedisHotIndex, sourceKeys, sourceTag } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';
import { round } from '../measure.js';

export const SOURCE: SourceRef = { kind: 'campaign', id: 'S1' };
/** "Sent S1 and did not click S1". */
export const FILTER = { and: [{ campaign: 'S1', event: 'send' }, { not: { campaign: 'S1', event: 'click' } }] };
/** Users generated and applied at a time (one fold). */
const CHUNK_USERS = 50_000;
const DAY_MS = 86_400_000;
/** MEMORY USAGE commands per pipeline. */
const PIPELINE = 200;

export interface Written {
  users: number;
  clicks: number;
  /** Entries: `any` + e:send + e:click, one per user and index. */
  entries: number;
  /** Seconds the apply calls took (all chunks). */
  seconds: number;
  /** The meta's user count (n) after the writes: must equal `users`. */
  metaUsers: number;
  clicked: Uint8Array;
}

/** Generates the source chunk by chunk and applies each chunk's fold (at most `maxInFlight` calls at a time). */
export async function writeCompact(redis: Redis, ns: string, users: number, clickPct: number, seed: number, signal: AbortSignal): Promise<Written & { folds: (from: number, to: number) => SourceFold }> {
  const hot = new RedisHotIndex(redis, { namespace: ns });
  const now = Date.now();
  const clicked = new Uint8Array(users);
  const sendTimes = new Float64Array(users);
  const clickTimes = new Float64Array(users);
  const rand = rng(seed);
  for (let u = 0; u < users; u++) {
    sendTimes[u] = now - 29 * DAY_MS + Math.floor(rand() * 28 * DAY_MS);
    if (rand() * 100 < clickPct) {
      clicked[u] = 1;
      clickTimes[u] = sendTimes[u]! + Math.floor(rand() * 3_600_000);
    }
  }
  const folds = (from: number, to: number): SourceFold => {
    const send = new Map<string, number>();
    const click = new Map<string, number>();
    for (let u = from; u < to; u++) {
      send.set(`u${u}`, sendTimes[u]!);
      if (clicked[u]) click.set(`u${u}`, clickTimes[u]!);
    }
    const any = new Map<string, number>();
    for (const [user, t] of send) any.set(user, Math.max(t, click.get(user) ?? -Infinity));
    return { source: SOURCE, indexes: new Map([[indexName.any, any], [indexName.type('send'), send], [indexName.type('click'), click]]) };
  };
  let seconds = 0;
  for (let from = 0; from < users; from += CHUNK_USERS) {
    signal.throwIfAborted();
    const fold = folds(from, Math.min(users, from + CHUNK_USERS));
    const t0 = performance.now();
    await hot.apply([fold], { maxInFlight: 4 });
    seconds += (performance.now() - t0) / 1000;
  }
  const clicks = clicked.reduce((n: number, c: number) => n + c, 0);
  return {
    users, clicks, entries: 2 * users + clicks, seconds: round(seconds, 2),
    metaUsers: Number(await redis.hget(sourceKeys(ns, SOURCE).meta, 'n')), clicked, folds,
  };
}

/**
 * The same folds applied into a source sized first (RedisHotIndex.reserve, as a restore or a
 * rebuild does), so no call splits a bucket: with the growing source above, tells the cost of
 * merging a call's users from the cost of the splits. Removes the keys after.
 */
export async function writeReserved(redis: Redis, ns: string, users: number, folds: (from: number, to: number) => SourceFold): Promise<{ seconds: number }> {
  const hot = new RedisHotIndex(redis, { namespace: ns });
  await hot.reserve(SOURCE, users);
  let seconds = 0;
  for (let from = 0; from < users; from += CHUNK_USERS) {
    const fold = folds(from, Math.min(users, from + CHUNK_USERS));
    const t0 = performance.now();
    await hot.apply([fold], { maxInFlight: 4 });
    seconds += (performance.now() - t0) / 1000;
  }
  const n = Number(await redis.hget(sourceKeys(ns, SOURCE).meta, 'n'));
  if (n !== users) throw new Error(`the reserved source counts ${n} users, not ${users}`);
  await hot.unlinkNamespace();
  return { seconds: round(seconds, 2) };
}

export interface Memory {
  keys: number;
  bytes: number;
  bytesPerEntry: number;
  bytesPerUser: number;
  /** Keys by Redis encoding (listpack, hashtable, skiplist...). */
  encodings: Record<string, number>;
  /** Wall time of the MEMORY USAGE reads, s. */
  seconds: number;
}

/** Every key of the namespace (SCAN), each MEMORY USAGE SAMPLES 0 and OBJECT ENCODING, pipelined. */
export async function namespaceMemory(redis: Redis, ns: string, users: number, entries: number): Promise<Memory> {
  const t0 = performance.now();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1_000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0');
  let bytes = 0;
  const encodings: Record<string, number> = {};
  for (let i = 0; i < keys.length; i += PIPELINE) {
    const pipe = redis.pipeline();
    for (const k of keys.slice(i, i + PIPELINE)) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0').object('ENCODING', k);
    const res = (await pipe.exec()) ?? [];
    for (let j = 0; j < res.length; j += 2) {
      const [err, b] = res[j]!;
      if (err) throw err;
      bytes += Number(b ?? 0);
      const enc = String(res[j + 1]![1]);
      encodings[enc] = (encodings[enc] ?? 0) + 1;
    }
  }
  return { keys: keys.length, bytes, bytesPerEntry: round(bytes / entries, 2), bytesPerUser: round(bytes / users, 2), encodings, seconds: round((performance.now() - t0) / 1000, 2) };
}

/**
 * The previous layout, for comparison: one sorted set per index (`<ns2>:{campaign:S1}:i:<index>`,
 * any, e:send, e:click), member = user, score = time, written by pipelined ZADD of 1,000 members.
 */
export async function writeSortedSets(redis: Redis, ns2: string, users: number, folds: (from: number, to: number) => SourceFold): Promise<{ seconds: number }> {
  const t0 = performance.now();
  const base = `${ns2}:${sourceTag(SOURCE)}:i:`;
  for (let from = 0; from < users; from += CHUNK_USERS) {
    const fold = folds(from, Math.min(users, from + CHUNK_USERS));
    const pipe = redis.pipeline();
    for (const [name, members] of fold.indexes) {
      let args: (string | number)[] = [];
      for (const [user, time] of members) {
        args.push(time, user);
        if (args.length === 2_000) (pipe.zadd(base + name, ...args), (args = []));
      }
      if (args.length) pipe.zadd(base + name, ...args);
    }
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
  }
  return { seconds: round((performance.now() - t0) / 1000, 2) };
}
