import { randomBytes } from 'node:crypto';
import { indexName, runPool, sourceName, type Gate, type SourceFold, type SourceRef, type IndexSource } from '../../core/index.js';
import type { WithCommands } from './commands.js';
import { sourceKeys } from './keys.js';
import { encodeMarks, encodeRecords, hashUser, MAX_INDEX_ID } from './layout.js';

/**
 * The write path: folds merged into the source's buckets by lua/write.lua (one script call per
 * group of users: records merged with max, the tier gate checked in the same call unless a
 * restore or rebuild owns the source), and the tier gate itself.
 */

/**
 * Users per bucket, on average, past which lua/write.lua splits a bucket. A lookup's HGET scans
 * its bucket's listpack, so smaller buckets make checks cheaper in Redis; each bucket key costs
 * about 100 bytes of its own, under 0.5 byte an entry at this size (bench/HISTORY.md, "hot: runs
 * and analyses until 2026-12-06").
 */
export const BUCKET_USERS = 100;
/**
 * Splits one write call may do. A call carries at most maxUsersPerCall (100) users, so one
 * split of room for 100 per call keeps up with any growth and the second catches up; the
 * largest bucket stays near 2 x 100 users (the one split last in a round), far under the
 * listpack limit of 512 fields (hash-max-listpack-entries).
 */
const SPLITS_PER_CALL = 2;

/** A source's index ids as this process knows them, and the generation they belong to. */
interface Dictionary {
  gen: string;
  ids: Map<string, number>;
}

/**
 * Index ids of the sources this process wrote, by source name. Ids never change within a
 * generation; a write with ids of a generation that is gone (the source was dropped, or Redis
 * lost it) is refused by the script and resolved again. At most MAX_SOURCES are kept.
 */
export class Dictionaries {
  private static readonly MAX_SOURCES = 10_000;
  private readonly bySource = new Map<string, Dictionary>();
  private readonly pending = new Map<string, Promise<Dictionary | null>>();

  constructor(private readonly redis: WithCommands, private readonly ns: string) {}

  /**
   * The ids of `names` (resolving unknown ones with lua/dict.lua) and their generation; calls
   * for one source wait for a resolution under way, so concurrent writes ask once.
   */
  async resolve(source: IndexSource, names: readonly string[], fresh = false, mode: 'apply' | 'load' = 'load'): Promise<Dictionary | null> {
    const key = sourceName(source);
    for (;;) {
      const busy = this.pending.get(key);
      if (!busy) break;
      await busy.catch(() => undefined);
      fresh = false;
    }
    const dict = fresh ? undefined : this.bySource.get(key);
    const missing = dict ? names.filter((n) => !dict.ids.has(n)) : names;
    if (dict && missing.length === 0) return dict;
    const asking = this.ask(source, key, dict, missing, names, mode);
    this.pending.set(key, asking);
    try {
      return await asking;
    } finally {
      this.pending.delete(key);
    }
  }

  private async ask(
    source: IndexSource, key: string, known: Dictionary | undefined, missing: readonly string[], all: readonly string[], mode: 'apply' | 'load',
  ): Promise<Dictionary | null> {
    const k = sourceKeys(this.ns, source);
    const [gen, ...ids] = await this.redis.tsDict(k.meta, k.legacyKeys, k.tier, randomBytes(6).toString('base64url'), MAX_INDEX_ID, mode, ...missing);
    // The tier gate is closed (apply only): nothing to write, nothing created.
    if (String(gen) === '') return null;
    // The dictionary this process knew is gone: every name is asked for again.
    if (known && known.gen !== String(gen)) return this.ask(source, key, undefined, all, all, mode);
    const dict = known ?? { gen: String(gen), ids: new Map<string, number>() };
    missing.forEach((name, i) => {
      const id = Number(ids[i]);
      if (id === 0) throw new RangeError(`${key}: more than ${MAX_INDEX_ID} indexes; ${name} cannot be added`);
      dict.ids.set(name, id);
    });
    if (this.bySource.size >= Dictionaries.MAX_SOURCES) this.bySource.clear();
    this.bySource.set(key, dict);
    return dict;
  }

  forget(source: IndexSource): void {
    this.bySource.delete(sourceName(source));
  }
}

/**
 * One source's fold turned around: for each user, its records as (index number, time) pairs,
 * the index number pointing into `names`. `any` is left out (it is the largest record).
 */
interface UserRecords {
  names: string[];
  users: string[];
  records: number[][];
  /** Each user's hot-count marks as (index, variant index, step index, time, id hash) quintuples (an absent index: -1), those at or after the cutoff. */
  marks: number[][];
}

function byUser(fold: SourceFold, cutoff: number): UserRecords {
  const names: string[] = [];
  const nameAt = new Map<string, number>();
  const nameOf = (name: string) => {
    let n = nameAt.get(name);
    if (n === undefined) nameAt.set(name, (n = names.push(name) - 1));
    return n;
  };
  const at = new Map<string, number>();
  const records: number[][] = [];
  const marks: number[][] = [];
  const slotOf = (user: string) => {
    let slot = at.get(user);
    if (slot === undefined) {
      slot = records.push([]) - 1;
      marks.push([]);
      at.set(user, slot);
    }
    return slot;
  };
  for (const [name, users] of fold.indexes) {
    if (name === indexName.any) continue;
    const n = nameOf(name);
    for (const [user, time] of users) records[slotOf(user)]!.push(n, time);
  }
  if (fold.marks && cutoff < Infinity) {
    for (const [user, ms] of fold.marks) {
      let slot: number | undefined;
      for (const m of ms) {
        if (m.time < cutoff) continue;
        (marks[(slot ??= slotOf(user))]!).push(nameOf(m.index), m.variant === undefined ? -1 : nameOf(m.variant), m.step === undefined ? -1 : nameOf(m.step), m.time, m.id);
      }
    }
  }
  return { names, users: [...at.keys()], records, marks };
}

/** A user's records as a value (layout.ts): `pairs` is (index number, time)*, ids from the dictionary. */
function encode(pairs: readonly number[], ids: Int32Array): Buffer {
  return encodeRecords(pairs.length / 2, (i) => ids[pairs[2 * i]!]!, (i) => pairs[2 * i + 1]!);
}

/** A user's marks (layout.ts encodeMarks): `q` is (index, variant index, step index, time, id hash)*, index numbers into `ids` (-1: none). */
function encodeUserMarks(q: readonly number[], ids: Int32Array): Buffer {
  const id = (n: number) => (n < 0 ? 0 : ids[n]!);
  return encodeMarks(q.length / 5, (i) => id(q[5 * i]!), (i) => id(q[5 * i + 1]!), (i) => id(q[5 * i + 2]!), (i) => q[5 * i + 3]!, (i) => q[5 * i + 4]!);
}

/**
 * Merges folds into the hot index as script calls of at most `maxUsers` users, at most
 * `maxInFlight` calls sent at a time (the rest wait for one to answer), so a lookup arriving
 * meanwhile waits behind at most that many short scripts in Redis. `mode` "apply" checks the
 * tier gate in each call (the gate can only close between calls, never reopen, so a source
 * applied only in part means "demoting started meanwhile"); "load" does not (restores and
 * rebuilds, which own the source's transition).
 */
export async function write(
  redis: WithCommands, ns: string, dicts: Dictionaries, folds: readonly SourceFold[], mode: 'apply' | 'load', maxUsers: number, maxInFlight = Infinity,
  countCutoff = Infinity,
): Promise<void> {
  const calls: (() => Promise<void>)[] = [];
  for (const fold of folds) {
    const recs = byUser(fold, countCutoff);
    if (recs.users.length === 0) continue;
    const k = sourceKeys(ns, fold.source);
    const hashes = recs.users.map(hashUser);
    for (let start = 0; start < recs.users.length; start += maxUsers) {
      const end = Math.min(start + maxUsers, recs.users.length);
      calls.push(async () => {
        for (let attempt = 0; ; attempt++) {
          const dict = await dicts.resolve(fold.source, recs.names, attempt > 0, mode);
          if (!dict) return; // apply to a source whose gate is closed: skipped, as write.lua would
          const ids = Int32Array.from(recs.names, (n) => dict.ids.get(n)!);
          // No marks are written when hot counts are off (cutoff Infinity): none is kept either.
          const cutoff = Number.isFinite(countCutoff) ? countCutoff : 0;
          const args: (string | number | Buffer)[] = [mode, dict.gen, k.bucketPrefix, BUCKET_USERS, SPLITS_PER_CALL, k.countPrefix, cutoff];
          for (let u = start; u < end; u++) args.push(hashes[u]!, recs.users[u]!, encode(recs.records[u]!, ids), encodeUserMarks(recs.marks[u]!, ids));
          const res = await redis.tsWrite(k.tier, k.meta, ...args);
          if (res !== -1) return;
          // The source's dictionary was dropped or made anew since the ids were read.
          if (attempt >= 3) throw new Error(`${sourceName(fold.source)}: index dictionary kept changing during a write`);
        }
      });
    }
  }
  await runPool(calls, maxInFlight);
}

/**
 * Sizes an empty source for about `users` users before a restore or rebuild loads it, so the
 * load writes into buckets of the right number instead of splitting them one at a time. Does
 * nothing when the source already holds users.
 */
export async function reserve(redis: WithCommands, ns: string, dicts: Dictionaries, source: IndexSource, users: number): Promise<void> {
  const level = Math.max(0, Math.ceil(Math.log2(users / BUCKET_USERS)));
  if (level === 0) return;
  await dicts.resolve(source, [], true);
  await redis.tsReserve(sourceKeys(ns, source).meta, Math.min(level, 24));
}

/** Sets the tier gate the write path checks; null opens it (hot). */
export async function setGate(redis: WithCommands, ns: string, source: IndexSource, tier: Gate): Promise<void> {
  const key = sourceKeys(ns, source).tier;
  if (tier === null) await redis.del(key);
  else await redis.set(key, tier);
}
