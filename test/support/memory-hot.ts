import { sourceName, type IndexSource, type ApplyOptions, type Gate, type HotIndex, type SentinelState, type SourceFold, type SourceRef } from '../../core/index.js';
import { Valve } from './valve.js';

type Indexes = Map<string, Map<string, number>>;

/**
 * The hot index in memory: per source, index name -> user -> latest time, merged with max;
 * tier gates that `apply` (ingest) respects and `load` (restores) does not; the Redis-loss
 * sentinel and rebuild claim (storage/redis/lua/sentinel.lua's rules). `valve` stalls every
 * write while closed (a paused or busy Redis); `lose()` is what FLUSHALL does.
 */
export class MemoryHotIndex implements HotIndex {
  readonly sources = new Map<string, Indexes>();
  readonly gates = new Map<string, Exclude<Gate, null>>();
  readonly valve = new Valve();
  private sentinel = true;
  private rebuild: { owner: string; until: number } | null = null;
  /** Every `load`, with the users it wrote (which process's restore sent what). */
  readonly loads: { source: string; users: string[] }[] = [];

  /** Hot counts are not modelled here (marks are ignored): restores skip loading them. */
  readonly countHorizonMs = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Never called: countHorizonMs is 0. */
  async countsComplete(_source: IndexSource, _since: number): Promise<void> {}

  private merge(fold: SourceFold): void {
    const name = sourceName(fold.source);
    let idx = this.sources.get(name);
    if (!idx) this.sources.set(name, (idx = new Map()));
    for (const [index, users] of fold.indexes) {
      let set = idx.get(index);
      if (!set) idx.set(index, (set = new Map()));
      for (const [u, t] of users) set.set(u, Math.max(set.get(u) ?? -Infinity, t));
    }
  }

  /** The source's indexes as plain objects (index -> user -> time), empty indexes left out. */
  state(source: SourceRef): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [index, users] of this.sources.get(sourceName(source)) ?? []) if (users.size) out[index] = Object.fromEntries([...users].sort());
    return out;
  }

  /** What FLUSHALL does: every key of the namespace gone, the sentinel too. */
  lose(): void {
    this.sources.clear();
    this.gates.clear();
    this.sentinel = false;
    this.rebuild = null;
  }

  async apply(folds: readonly SourceFold[], _opts?: ApplyOptions): Promise<void> {
    await this.valve.pass();
    for (const f of folds) if (!this.gates.has(sourceName(f.source))) this.merge(f);
  }

  async load(fold: SourceFold, _opts?: ApplyOptions): Promise<void> {
    await this.valve.pass();
    this.loads.push({ source: sourceName(fold.source), users: [...(fold.indexes.get('any')?.keys() ?? [])] });
    this.merge(fold);
  }

  async reserve(_source: SourceRef, _users: number): Promise<void> {}

  async countUsers(source: SourceRef): Promise<number> {
    return this.sources.get(sourceName(source))?.get('any')?.size ?? 0;
  }

  async countUsersBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return new Map(await Promise.all(sources.map(async (s) => [sourceName(s), await this.countUsers(s)] as const)));
  }

  async memoryBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return new Map(sources.map((s) => [sourceName(s), 0]));
  }

  async userLatest(source: SourceRef, userId: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [index, users] of this.sources.get(sourceName(source)) ?? []) if (users.has(userId)) out.set(index, users.get(userId)!);
    return out;
  }

  async setGate(source: SourceRef, tier: Gate): Promise<void> {
    await this.valve.pass();
    if (tier === null) this.gates.delete(sourceName(source));
    else this.gates.set(sourceName(source), tier);
  }

  async dropSource(source: SourceRef): Promise<number> {
    await this.valve.pass();
    const keys = this.sources.get(sourceName(source))?.size ?? 0;
    this.sources.delete(sourceName(source));
    return keys;
  }

  /** Removes a user from every index of `sources` (the erasures' HotEraser). */
  async eraseUser(userId: string, sources: readonly SourceRef[]): Promise<number> {
    let removed = 0;
    for (const s of sources) for (const users of this.sources.get(sourceName(s))?.values() ?? []) if (users.delete(userId)) removed++;
    return removed;
  }

  async checkSentinel(owner: string, ttlMs: number): Promise<SentinelState> {
    if (this.rebuild && this.rebuild.until > this.now()) return 'rebuild_elsewhere';
    if (this.sentinel) return 'intact';
    this.sentinel = true;
    this.rebuild = { owner, until: this.now() + ttlMs };
    return 'rebuild_claimed';
  }

  async renewRebuild(owner: string, ttlMs: number): Promise<void> {
    this.rebuild = ttlMs > 0 ? { owner, until: this.now() + ttlMs } : null;
  }

  async rebuilding(): Promise<boolean> {
    return this.rebuild !== null && this.rebuild.until > this.now();
  }

  async ping(): Promise<boolean> {
    return !this.valve.closed;
  }
}
