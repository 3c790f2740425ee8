import type { ApplyOptions, Gate, HotIndex, HotLookup, Program, SentinelState, SourceFold, SourceRef } from '../../core/index.js';
import { defineCommands, type RedisClient, type WithCommands } from './commands.js';
import * as drop from './drop.js';
import * as erase from './erase.js';
import * as maintenance from './maintenance.js';
import * as reads from './reads.js';
import * as sentinel from './sentinel.js';
import * as sizes from './sizes.js';
import * as write from './write.js';

export interface RedisHotIndexOptions {
  namespace: string;
  /**
   * Most ARGV values sent in one script call or ZADD (load); larger folds are split (default 2_000, about
   * 1,000 members: an ingest apply averaged 0.5-0.6 ms of Redis time during a drain, so a lookup
   * never waits long behind ingest, restore or rebuild writes; 40_000 kept Redis busy 12-17 ms per
   * call. Half of it made restores under ingest 40% slower: bench/README.md, "Redis's longest
   * commands").
   */
  maxArgsPerCall?: number;
}

/**
 * The hot retargeting index on Redis (standalone or Cluster). It holds the client (with the
 * scripts registered), the namespace and the options; each method is one function of the
 * module for its concern: write (and the tier gate), drop, erase, reads, sizes, sentinel,
 * maintenance.
 */
export class RedisHotIndex implements HotIndex, HotLookup {
  private readonly redis: WithCommands;
  private readonly ns: string;
  private readonly maxArgs: number;

  constructor(redis: RedisClient, opts: RedisHotIndexOptions) {
    this.redis = defineCommands(redis);
    this.ns = opts.namespace;
    this.maxArgs = opts.maxArgsPerCall ?? 2_000;
  }

  apply(folds: readonly SourceFold[], opts: ApplyOptions = {}): Promise<void> {
    return write.apply(this.redis, this.ns, folds, this.maxArgs, opts.maxInFlight);
  }

  /** Erasure of a user: out of every index of these sources (see erase.ts). */
  eraseUser(userId: string, sources: readonly SourceRef[]): Promise<number> {
    return erase.eraseUser(this.redis, this.ns, userId, sources);
  }

  load(fold: SourceFold, opts: ApplyOptions = {}): Promise<void> {
    return write.load(this.redis, this.ns, fold, this.maxArgs, opts.maxInFlight);
  }

  setGate(source: SourceRef, tier: Gate): Promise<void> {
    return write.setGate(this.redis, this.ns, source, tier);
  }

  dropSource(source: SourceRef, batchSize?: number): Promise<number> {
    return drop.dropSource(this.redis, this.ns, source, batchSize);
  }

  scores(
    leaves: readonly { source: SourceRef; index: string }[],
    sources: readonly SourceRef[],
    users: readonly string[],
  ): Promise<{ latest: Float64Array; known: Uint8Array }> {
    return reads.scores(this.redis, this.ns, leaves, sources, users);
  }

  filterSet(
    source: SourceRef,
    leaves: readonly { index: string; after: number; before: number }[],
    program: Program,
    mode: { count: true } | { count?: false; afterUser?: string; limit: number },
  ): Promise<number | string[]> {
    return reads.filterSet(this.redis, this.ns, source, leaves, program, mode);
  }

  users(sources: readonly SourceRef[]): Promise<string[]> {
    return reads.users(this.redis, this.ns, sources);
  }

  countUsers(source: SourceRef): Promise<number> {
    return reads.countUsers(this.redis, this.ns, source);
  }

  countUsersBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return sizes.countUsersBySource(this.redis, this.ns, sources);
  }

  memoryBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return sizes.memoryBySource(this.redis, this.ns, sources);
  }

  userLatest(source: SourceRef, userId: string): Promise<Map<string, number>> {
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
  snapshot(source: SourceRef): Promise<Map<string, Map<string, number>>> {
    return maintenance.snapshot(this.redis, this.ns, source);
  }

  /** Tests and benchmarks only (see maintenance.ts). */
  sourceKeyCount(source: SourceRef): Promise<number> {
    return maintenance.sourceKeyCount(this.redis, this.ns, source);
  }

  /** Tests and benchmarks only (see maintenance.ts); `master` limits it to one master's keys. */
  unlinkNamespace(opts: { master?: string } = {}): Promise<number> {
    return maintenance.unlinkNamespace(this.redis, this.ns, opts);
  }
}
