import type { ApplyOptions, CountLeaf, Gate, HotIndex, HotLookup, HotSegment, IndexSource, SentinelState, SourceFold, SourceRef } from '../../core/index.js';
import { defineCommands, type RedisClient, type WithCommands } from './commands.js';
import * as drop from './drop.js';
import * as erase from './erase.js';
import * as maintenance from './maintenance.js';
import * as reads from './reads.js';
import * as sentinel from './sentinel.js';
import * as sizes from './sizes.js';
import * as write from './write.js';
import { sourceKeys } from './keys.js';

export interface RedisHotIndexOptions {
  namespace: string;
  /**
   * Most users one write call (lua/write.lua) carries; larger folds are split (default 100: each
   * user costs the script an HGET, a merge of its records and an HSET in a listpack, 2-5 us, so
   * a call stays under a millisecond of Redis time and a lookup never waits long behind ingest,
   * restore or rebuild writes; 250 averaged 1.3 ms a call: bench/HISTORY.md, "hot: runs and
   * analyses until 2026-12-06" > "Where the time and the bytes go").
   */
  maxUsersPerCall?: number;
  /**
   * The hot counts' horizon, ms (TIERSTREAM_HOT_COUNTS; docs/design.md, "Hot counts"): marks
   * of events older than now minus it are not written and are dropped from a user's value when
   * it is next written; 0 turns hot counts off (count leaves are then read from history).
   * Default 30 days.
   */
  countHorizonMs?: number;
  now?: () => number;
}

/** Default hot-count horizon: 30 days, Braze's soft-bounce lookback and the common "in the last 30 days". */
export const DEFAULT_COUNT_HORIZON_MS = 30 * 86_400_000;

/**
 * The hot retargeting index on Redis (standalone or Cluster). It holds the client (with the
 * scripts registered), the namespace and the options; each method is one function of the
 * module for its concern: write (and the tier gate), drop, erase, reads, sizes, sentinel,
 * maintenance.
 */
export class RedisHotIndex implements HotIndex, HotLookup {
  private readonly redis: WithCommands;
  private readonly ns: string;
  private readonly maxUsers: number;
  private readonly dicts: write.Dictionaries;
  /** Each walked source's linear-hashing state as last seen (reads.ts walkSource). */
  private readonly layouts = new Map<string, reads.Layout>();
  readonly countHorizonMs: number;
  private readonly now: () => number;

  constructor(redis: RedisClient, opts: RedisHotIndexOptions) {
    this.redis = defineCommands(redis);
    this.ns = opts.namespace;
    this.maxUsers = opts.maxUsersPerCall ?? 100;
    this.dicts = new write.Dictionaries(this.redis, this.ns);
    this.countHorizonMs = opts.countHorizonMs ?? DEFAULT_COUNT_HORIZON_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Marks older than this are neither written nor kept (Infinity: hot counts are off). */
  private countCutoff(): number {
    return this.countHorizonMs > 0 ? this.now() - this.countHorizonMs : Infinity;
  }

  apply(folds: readonly SourceFold[], opts: ApplyOptions = {}): Promise<void> {
    return write.write(this.redis, this.ns, this.dicts, folds, 'apply', this.maxUsers, opts.maxInFlight, this.countCutoff());
  }

  async countsComplete(source: IndexSource, since: number): Promise<void> {
    await this.redis.hset(sourceKeys(this.ns, source).meta, 'cs', Math.max(0, Math.floor(since)));
  }

  counts(leaves: readonly CountLeaf[], users: readonly string[]): Promise<{ counts: Float64Array; complete: Uint8Array }> {
    return reads.counts(this.redis, this.ns, leaves, users);
  }

  /** Erasure of a user: out of every index of these sources (see erase.ts). */
  eraseUser(userId: string, sources: readonly IndexSource[]): Promise<number> {
    return erase.eraseUser(this.redis, this.ns, userId, sources);
  }

  load(fold: SourceFold, opts: ApplyOptions = {}): Promise<void> {
    return write.write(this.redis, this.ns, this.dicts, [fold], 'load', this.maxUsers, opts.maxInFlight, this.countCutoff());
  }

  reserve(source: IndexSource, users: number): Promise<void> {
    return write.reserve(this.redis, this.ns, this.dicts, source, users);
  }

  setGate(source: SourceRef, tier: Gate): Promise<void> {
    return write.setGate(this.redis, this.ns, source, tier);
  }

  dropSource(source: SourceRef, batchSize?: number): Promise<number> {
    this.dicts.forget(source);
    return drop.dropSource(this.redis, this.ns, source, batchSize);
  }

  scores(
    leaves: readonly { source: IndexSource; index: string }[],
    sources: readonly IndexSource[],
    users: readonly string[],
  ): Promise<{ latest: Float64Array; known: Uint8Array }> {
    return reads.scores(this.redis, this.ns, leaves, sources, users);
  }

  segment(
    leaves: readonly { source: IndexSource; index: string }[],
    sources: readonly IndexSource[],
    from: number,
    to: number,
    maxUsers: number,
    ordered = true,
  ): Promise<HotSegment> {
    return reads.segment(this.redis, this.ns, this.layouts, leaves, sources, from, to, maxUsers, ordered);
  }

  countUsers(source: IndexSource): Promise<number> {
    return reads.countUsers(this.redis, this.ns, source);
  }

  countUsersBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return sizes.countUsersBySource(this.redis, this.ns, sources);
  }

  memoryBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return sizes.memoryBySource(this.redis, this.ns, sources);
  }

  userLatest(source: IndexSource, userId: string): Promise<Map<string, number>> {
    return reads.userLatest(this.redis, this.ns, source, userId);
  }

  checkSentinel(owner: string, ttlMs: number): Promise<SentinelState> {
    return sentinel.checkSentinel(this.redis, this.ns, owner, ttlMs);
  }

  /** Redis Cluster: the masters (`host:port`) of the client's slot map; standalone: []. */
  masters(): string[] {
    return sentinel.masters(this.redis);
  }

  renewRebuild(owner: string, ttlMs: number): Promise<void> {
    return sentinel.renewRebuild(this.redis, this.ns, owner, ttlMs);
  }

  rebuilding(): Promise<boolean> {
    return sentinel.rebuilding(this.redis, this.ns);
  }

  ping(): Promise<boolean> {
    return sentinel.ping(this.redis, this.ns);
  }

  /** Tests and benchmarks only (see maintenance.ts): index name -> user -> time. */
  snapshot(source: IndexSource): Promise<Map<string, Map<string, number>>> {
    return maintenance.snapshot(this.redis, this.ns, source);
  }

  /** Tests and benchmarks only (see maintenance.ts). */
  sourceKeyCount(source: IndexSource): Promise<number> {
    return maintenance.sourceKeyCount(this.redis, this.ns, source);
  }

  /** Tests and benchmarks only (see maintenance.ts); `master` limits it to one master's keys. */
  unlinkNamespace(opts: { master?: string } = {}): Promise<number> {
    return maintenance.unlinkNamespace(this.redis, this.ns, opts);
  }
}
