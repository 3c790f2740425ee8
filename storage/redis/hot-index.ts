import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { sourceName, type ApplyResult, type Gate, type SentinelState, type HotIndex, type SourceFold, type SourceRef, type Program } from '../../core/index.js';
import { namespaceKeys, sourceKeys } from './keys.js';
import { keySlot } from './slots.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

type RedisClient = Redis | Cluster;
type WithCommands = RedisClient & {
  tsFilterSet(numKeys: number, ...args: (string | number)[]): Promise<number | string[]>;
  tsApply(numKeys: number, ...args: (string | number)[]): Promise<number>;
  tsSentinel(sentinel: string, rebuilding: string, owner: string, ttlMs: number, force: 0 | 1): Promise<number>;
};

/** Outcome of a sentinel check (see lua/sentinel.lua). */
const SENTINEL_STATES: SentinelState[] = ['intact', 'rebuild_claimed', 'rebuild_elsewhere'];

export interface RedisHotIndexOptions {
  namespace: string;
  /** Most ARGV values sent in one script call; larger folds are split (default 40_000). */
  maxArgsPerCall?: number;
}

/** Registers the project's Lua scripts once, so calls use EVALSHA and reload on NOSCRIPT. */
export function defineCommands(redis: RedisClient): WithCommands {
  const r = redis as WithCommands;
  if (typeof r.tsApply !== 'function') redis.defineCommand('tsApply', { lua: lua('apply') });
  if (typeof r.tsFilterSet !== 'function') redis.defineCommand('tsFilterSet', { lua: lua('filter_set') });
  if (typeof r.tsSentinel !== 'function') redis.defineCommand('tsSentinel', { lua: lua('sentinel'), numberOfKeys: 2 });
  return r;
}

/** The hot retargeting index on Redis (standalone or Cluster). */
export class RedisHotIndex implements HotIndex {
  private readonly redis: WithCommands;
  private readonly ns: string;
  private readonly maxArgs: number;

  constructor(redis: RedisClient, opts: RedisHotIndexOptions) {
    this.redis = defineCommands(redis);
    this.ns = opts.namespace;
    this.maxArgs = opts.maxArgsPerCall ?? 40_000;
  }

  async apply(folds: readonly SourceFold[]): Promise<ApplyResult[]> {
    const calls: Promise<number>[][] = folds.map((fold) => this.callsFor(fold));
    const results = await Promise.all(calls.map((c) => Promise.all(c)));
    // A source split into several calls is hot only if every call applied; the gate can only
    // close between calls (demotion), never reopen, so a mix means "demoting started meanwhile".
    return results.map((r) => (r.every((x) => x === 1) ? 'applied' : 'skipped_not_hot'));
  }

  private callsFor(fold: SourceFold): Promise<number>[] {
    const k = sourceKeys(this.ns, fold.source);
    const calls: Promise<number>[] = [];
    let keys: string[] = [];
    let args: (string | number)[] = [];
    const flush = () => {
      if (keys.length === 0) return;
      calls.push(this.redis.tsApply(keys.length + 2, k.tier, k.keys, ...keys, ...args));
      keys = [];
      args = [];
    };
    for (const [name, users] of fold.indexes) {
      let n = 0;
      let countAt = -1;
      for (const [user, time] of users) {
        if (countAt < 0) {
          if (args.length + 3 > this.maxArgs) flush();
          keys.push(k.index(name));
          countAt = args.length;
          args.push(0);
        }
        args.push(time, user);
        n++;
        if (args.length >= this.maxArgs) {
          args[countAt] = n;
          n = 0;
          countAt = -1;
          flush();
        }
      }
      if (countAt >= 0) args[countAt] = n;
    }
    flush();
    return calls;
  }

  /** Sets the tier gate the write path checks; null opens it (hot). */
  async setGate(source: SourceRef, tier: Gate): Promise<void> {
    const key = sourceKeys(this.ns, source).tier;
    if (tier === null) await this.redis.del(key);
    else await this.redis.set(key, tier);
  }

  /**
   * Removes every index key of a source without blocking Redis: the key list is walked with
   * SSCAN and keys are UNLINKed (freed in the background) in batches. Returns keys removed.
   * All keys share the source's hash slot, so each UNLINK is valid on Redis Cluster.
   */
  async dropSource(source: SourceRef, batchSize = 200): Promise<number> {
    const k = sourceKeys(this.ns, source);
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.sscan(k.keys, cursor, 'COUNT', batchSize);
      cursor = next;
      if (keys.length) removed += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    // The apply script adds a key to the list in the same call that creates it: none is missed.
    removed += await this.redis.unlink(k.keys);
    return removed;
  }

  /**
   * For each user: the latest time in each of `leaves`' indexes, and whether the user has any
   * event of `sources`. One pipelined round trip of ZMSCORE calls (one per key; on Redis
   * Cluster one pipeline per source, in parallel).
   */
  async scores(
    leaves: readonly { source: SourceRef; index: string }[],
    sources: readonly SourceRef[],
    users: readonly string[],
  ): Promise<{ latest: (number | undefined)[][]; known: boolean[] }> {
    const latest = users.map(() => new Array<number | undefined>(leaves.length));
    const known = users.map(() => false);
    if (users.length === 0) return { latest, known };
    const keys = [
      ...leaves.map((l) => ({ source: l.source, key: sourceKeys(this.ns, l.source).index(l.index) })),
      ...sources.map((s) => ({ source: s, key: sourceKeys(this.ns, s).index('any') })),
    ];
    const res = await this.pipelined(keys, (pipe, key) => pipe.zmscore(key, ...users));
    res.forEach((value, k) => {
      const scores = value as (string | null)[];
      if (k < leaves.length) {
        scores.forEach((v, u) => {
          if (v !== null) latest[u]![k] = Number(v);
        });
      } else {
        scores.forEach((v, u) => {
          if (v !== null) known[u] = true;
        });
      }
    });
    return { latest, known };
  }

  /**
   * Runs one command per key in pipelines and returns the replies in the keys' order (throws
   * the first error). Standalone: one pipeline. Cluster: one pipeline per source, in parallel,
   * since ioredis rejects a pipeline whose keys live on more than one node.
   */
  private async pipelined(
    keys: readonly { source: SourceRef; key: string }[],
    add: (pipe: ChainableCommander, key: string) => void,
  ): Promise<unknown[]> {
    const groups = new Map<string, number[]>();
    keys.forEach(({ source }, i) => {
      const g = this.redis.isCluster ? sourceName(source) : '';
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(i);
    });
    const out = new Array<unknown>(keys.length);
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const pipe = this.redis.pipeline();
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
  async filterSet(
    source: SourceRef,
    leaves: readonly { index: string; after: number; before: number }[],
    program: Program,
    mode: { count: true } | { count?: false; afterUser?: string; limit: number },
  ): Promise<number | string[]> {
    const k = sourceKeys(this.ns, source);
    const steps: (string | number)[] = [];
    let n = 0;
    const emit = (p: Program): void => {
      n++;
      if ('leaf' in p) {
        const l = leaves[p.leaf]!;
        // "NaN" is no ZRANGE bound; the grammar keeps bounds finite or infinite, never NaN.
        if (Number.isNaN(l.after) || Number.isNaN(l.before)) throw new RangeError(`leaf ${p.leaf}: a bound is not a number`);
        const min = l.after === -Infinity ? '-inf' : String(Math.ceil(l.after));
        const max = l.before === Infinity ? '+inf' : `(${Math.ceil(l.before)}`;
        steps.push('L', p.leaf, min, max);
      } else if ('not' in p) {
        emit(p.not);
        steps.push('N');
      } else {
        const members = 'and' in p ? p.and : p.or;
        members.forEach(emit);
        steps.push('and' in p ? 'A' : 'O', members.length);
      }
    };
    emit(program);
    const token = randomUUID();
    const scratch = Array.from({ length: n }, (_, i) => `${k.indexPrefix}tmp:${token}:${i}`);
    const keys = [k.index('any'), ...leaves.map((l) => k.index(l.index)), ...scratch];
    const args = mode.count ? ['count', '', 0] : ['page', mode.afterUser ?? '', mode.limit];
    return this.redis.tsFilterSet(keys.length, ...keys, ...args, leaves.length, ...steps);
  }

  /**
   * Every user with any event of the sources, sorted by id (the universe a `not` ranges over,
   * and the order audience pages walk). Read in ranges of 10_000 members.
   */
  async users(sources: readonly SourceRef[]): Promise<string[]> {
    const all = new Set<string>();
    for (const s of sources) {
      const key = sourceKeys(this.ns, s).index('any');
      for (let start = 0; ; start += 10_000) {
        const page = await this.redis.zrange(key, start, start + 9_999);
        for (const u of page) all.add(u);
        if (page.length < 10_000) break;
      }
    }
    return [...all].sort();
  }

  /**
   * The whole hot state of a source as plain data: index name -> user -> time. For checkers
   * and tests (it reads every member; not for request paths).
   */
  async snapshot(source: SourceRef): Promise<Map<string, Map<string, number>>> {
    const k = sourceKeys(this.ns, source);
    const out = new Map<string, Map<string, number>>();
    for (const key of (await this.redis.smembers(k.keys)).sort()) {
      const flat = await this.redis.zrange(key, 0, -1, 'WITHSCORES');
      const users = new Map<string, number>();
      for (let i = 0; i < flat.length; i += 2) users.set(flat[i]!, Number(flat[i + 1]));
      out.set(key.slice(k.indexPrefix.length), users);
    }
    return out;
  }

  /** Keys of a source (its key list and the keys in it); tests use it to prove demotion. */
  async sourceKeyCount(source: SourceRef): Promise<number> {
    const k = sourceKeys(this.ns, source);
    const names = await this.redis.smembers(k.keys);
    const all = [k.keys, k.index('any'), ...names];
    let n = 0;
    for (const key of new Set(all)) n += await this.redis.exists(key);
    return n;
  }

  /**
   * Checks that this Redis still holds the namespace, electing a rebuilder if it does not.
   * On Redis Cluster every master holds a sentinel of its own (see masterSentinels), so a
   * master restarted empty is noticed even when the namespace sentinel sits on another one.
   */
  async checkSentinel(owner: string, ttlMs: number): Promise<SentinelState> {
    const m = namespaceKeys(this.ns);
    const perMaster = this.masterSentinels();
    const missingOf = async (keys: string[]) => {
      const found = await Promise.all(keys.map((k) => this.redis.exists(k)));
      return keys.filter((_, i) => found[i] === 0);
    };
    const missing = await missingOf(perMaster);
    const code = await this.redis.tsSentinel(m.sentinel, m.rebuilding, owner, ttlMs, missing.length ? 1 : 0);
    if (code !== 1 && code !== 3) return SENTINEL_STATES[code] ?? 'intact';
    // Claimed only for a missing master sentinel: another process may have rebuilt (and
    // rewritten it) between our read and our claim; then there is nothing left to do.
    if (code === 3 && (await missingOf(missing)).length === 0) {
      await this.redis.del(m.rebuilding);
      return 'intact';
    }
    // Written before the rebuild starts, so a loss during the rebuild is noticed again.
    await Promise.all(perMaster.map((k) => this.redis.set(k, owner)));
    return 'rebuild_claimed';
  }

  /**
   * Redis Cluster: one sentinel key per master, `masterSentinel(i)` for the first `i` whose
   * slot the master owns in the client's slot map (every process computes the same keys).
   * Standalone, or before the slot map is known: none.
   */
  private masterSentinels(): string[] {
    if (!this.redis.isCluster) return [];
    const slots = (this.redis as Cluster).slots;
    const masters = new Set<string>();
    for (const owners of slots) if (owners?.[0]) masters.add(owners[0]);
    const m = namespaceKeys(this.ns);
    const keys = new Map<string, string>();
    for (let i = 0; keys.size < masters.size && i < 1 << 20; i++) {
      const master = slots[keySlot(m.masterSentinelTag(i))]?.[0];
      if (master && !keys.has(master)) keys.set(master, m.masterSentinel(i));
    }
    return [...keys.values()];
  }

  /** Redis Cluster: the masters (`host:port`) of the client's slot map; standalone: []. */
  masters(): string[] {
    if (!this.redis.isCluster) return [];
    return [...new Set((this.redis as Cluster).slots.map((owners) => owners?.[0]).filter((n): n is string => !!n))].sort();
  }

  /** Renews (ttlMs > 0) or ends (ttlMs = 0) this process's rebuild claim. */
  async renewRebuild(owner: string, ttlMs: number): Promise<void> {
    const key = namespaceKeys(this.ns).rebuilding;
    if (ttlMs > 0) await this.redis.set(key, owner, 'PX', ttlMs);
    else await this.redis.del(key);
  }

  /** True while some process rebuilds the hot tier. */
  async rebuilding(): Promise<boolean> {
    return (await this.redis.exists(namespaceKeys(this.ns).rebuilding)) === 1;
  }

  async countUsers(source: SourceRef): Promise<number> {
    return this.redis.zcard(sourceKeys(this.ns, source).index('any'));
  }

  async userLatest(source: SourceRef, userId: string): Promise<Map<string, number>> {
    const k = sourceKeys(this.ns, source);
    const names = await this.redis.smembers(k.keys);
    const out = new Map<string, number>();
    if (names.length === 0) return out;
    const pipe = this.redis.pipeline();
    for (const key of names) pipe.zscore(key, userId);
    const res = (await pipe.exec()) ?? [];
    names.forEach((key, i) => {
      const [err, score] = res[i] ?? [];
      if (err) throw err;
      if (score !== null && score !== undefined) out.set(key.slice(k.indexPrefix.length), Number(score));
    });
    return out;
  }

  /**
   * Unlinks every key of the namespace (tests and benchmarks only): SCAN on each master,
   * UNLINK in batches, the sentinels last, so a process that notices the loss only rebuilds
   * after every other key is gone (as after a FLUSHALL). With `master` (a `host:port` of
   * masters()), only that master's keys go: what it restarted empty does to the namespace.
   */
  async unlinkNamespace(opts: { master?: string } = {}): Promise<number> {
    const masters = this.redis.isCluster ? this.masters() : [''];
    if (opts.master !== undefined && !masters.includes(opts.master)) {
      throw new Error(`${opts.master} is not one of the masters ${masters.join(', ')}`);
    }
    const m = namespaceKeys(this.ns);
    let n = 0;
    const sentinels: string[] = [];
    for (const master of opts.master !== undefined ? [opts.master] : masters) {
      n += await this.onMaster(master, async (node) => {
        let removed = 0;
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${this.ns}:*`, 'COUNT', 500);
          cursor = next;
          // On a cluster node each key goes alone: keys of one scan page span many slots.
          for (const key of keys) {
            if (m.isSentinel(key)) sentinels.push(key);
            else removed += await node.unlink(key);
          }
        } while (cursor !== '0');
        return removed;
      });
    }
    // Routed by slot, each to its master.
    for (const key of new Set(sentinels)) n += await this.redis.unlink(key);
    return n;
  }

  /**
   * Runs `fn` on one master's own connection (standalone: the client). ioredis drops a node
   * whose connection closed (a restarted master) from its pool until the slot map is read
   * again, so a master missing from the pool, or a failure, refreshes the map and retries
   * (every 250 ms, for up to 10 s).
   */
  private async onMaster<T>(master: string, fn: (node: Redis) => Promise<T>): Promise<T> {
    if (!this.redis.isCluster) return fn(this.redis as Redis);
    const cluster = this.redis as Cluster;
    for (let attempt = 1; ; attempt++) {
      const node = cluster.nodes('master').find((x) => `${x.options.host}:${x.options.port}` === master);
      try {
        if (!node) throw new Error(`master ${master} is not connected`);
        return await fn(node);
      } catch (err) {
        if (attempt >= 40) throw err;
        cluster.refreshSlotsCache();
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * True when Redis answers. On Redis Cluster every master of the slot map must answer (a
   * PING goes to any one node, which says nothing of the master a write waits for): one
   * EXISTS of each master's sentinel, routed by slot like the writes.
   */
  async ping(): Promise<boolean> {
    try {
      const perMaster = this.masterSentinels();
      if (perMaster.length === 0) return (await this.redis.ping()) === 'PONG';
      await Promise.all(perMaster.map((k) => this.redis.exists(k)));
      return true;
    } catch {
      return false;
    }
  }
}
