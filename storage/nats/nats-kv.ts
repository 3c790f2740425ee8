import type { JetStreamClient } from 'nats';
import {
  type ExpiringCursor, type IndexSource, type SourceRecord, type SourceRef, type SourceRegistry, type SourcesSummary, type TagRef, type Tier,
  MOVING_TIERS, SourcesSummaryIndex, carriesTag, mirrorRecord, newSourceRecord,
} from '../../core/index.js';
import { KvDocStore } from './kv-store.js';
import { bucketNames } from './names.js';
import { SortedList } from './sorted-list.js';

/** Source-name order (`campaign:…` before `canvas:…`, then by id), without building the names. */
const byName = (a: SourceRef, b: SourceRef) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
/** The expiry preview's order: soonest first, then by source name. */
const byExpiry = (a: SourceRecord, b: SourceRecord) => a.expiresAt! - b.expiresAt! || byName(a, b);
/** In the expiry preview (core expiringSources): hot, with an expiry, unpinned. */
const expires = (r: SourceRecord | undefined): r is SourceRecord => !!r && r.tier === 'hot' && r.expiresAt !== null && r.pinnedBy.length === 0;

/** KV keys allow `[-/_=.A-Za-z0-9]`; source ids may hold `:`, so the id is base64url-encoded. */
export function registryKey(source: IndexSource): string {
  return `${source.kind}.${Buffer.from(source.id, 'utf8').toString('base64url')}`;
}

/**
 * The source registry in the NATS KV bucket `<ns>_sources`: durable (file storage), shared by
 * every engine process, compare-and-set on revisions so two processes never both make the
 * same transition, and mirrored in memory for scans and listings.
 *
 * The mirror keeps compact records (core mirrorRecord: no audit trail) and, maintained on each
 * change so that no answer scans it (docs/design.md, "Sources at scale"): the overview's summary, the
 * records in source-name order, the expiry preview's order, the sets of the few restoring and
 * demoting sources, and the sources by tag and by pinning filter.
 */
export class NatsKvRegistry implements SourceRegistry {
  /** Keys this process created and the mirror does not show yet. */
  private readonly known = new Set<string>();
  /** tag -> KV key -> the mirrored record carrying it: tag leaves resolve without a scan. */
  private readonly byTag = new Map<string, Map<string, SourceRecord>>();
  /** filter id -> KV key -> the mirrored record it pins. */
  private readonly byPin = new Map<string, Map<string, SourceRecord>>();
  /** The tiers few sources are in at a time, each kept as a set (a listing of one of them costs no walk). */
  private readonly byTier = new Map<Tier, Map<string, SourceRecord>>(MOVING_TIERS.map((t) => [t, new Map()]));
  private readonly ordered = new SortedList<SourceRecord>(byName);
  private readonly expiry = new SortedList<SourceRecord>(byExpiry);
  private readonly summaryIndex = new SourcesSummaryIndex();

  private constructor(readonly store: KvDocStore<SourceRecord>, private readonly now: () => number) {
    store.onChange((key, rec, before) => this.index(key, rec, before));
  }

  static async open(js: JetStreamClient, namespace: string, now: () => number = Date.now, replicas = 1): Promise<NatsKvRegistry> {
    const store = await KvDocStore.open<SourceRecord>(js, bucketNames(namespace).sources, replicas, mirrorRecord);
    const registry = new NatsKvRegistry(store, now);
    await store.startMirror();
    return registry;
  }

  /** Moves one record in every index: `before` and the mirror's new record are compact, `doc` whole. */
  private index(key: string, doc: SourceRecord | null, before: SourceRecord | undefined): void {
    const rec = doc ? this.store.cached(key)! : null;
    this.known.delete(key);
    const move = (index: Map<string, Map<string, SourceRecord>>, was: readonly string[], now: readonly string[]) => {
      for (const k of was) {
        const keys = index.get(k);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(k);
      }
      for (const k of now) {
        let keys = index.get(k);
        if (!keys) index.set(k, (keys = new Map()));
        keys.set(key, rec!);
      }
    };
    move(this.byTag, before?.tags ?? [], rec?.tags ?? []);
    move(this.byPin, before?.pinnedBy ?? [], rec?.pinnedBy ?? []);
    for (const [tier, keys] of this.byTier) {
      if (rec?.tier === tier) keys.set(key, rec);
      else keys.delete(key);
    }
    if (rec) this.ordered.insert(rec);
    else if (before) this.ordered.remove(before);
    if (expires(before)) this.expiry.remove(before);
    if (expires(rec ?? undefined)) this.expiry.insert(rec!);
    this.summaryIndex.apply(before, rec, doc?.transitions);
  }

  tagged(tag: TagRef): SourceRef[] {
    const out: SourceRef[] = [];
    for (const rec of this.byTag.get(tag.tag)?.values() ?? []) if (carriesTag(tag, rec.kind, rec.tags)) out.push({ kind: rec.kind, id: rec.id });
    return out;
  }

  async ensure(sources: readonly SourceRef[]): Promise<void> {
    await Promise.all(
      sources.map(async (source) => {
        const key = registryKey(source);
        if (this.known.has(key) || this.store.cached(key)) return;
        await this.store.create(key, newSourceRecord(source, this.now()));
        // Until the mirror shows it (ours is mirrored at once; one created elsewhere comes by the watch).
        if (!this.store.cached(key)) this.known.add(key);
      }),
    );
  }

  async get(source: SourceRef): Promise<SourceRecord | null> {
    return (await this.store.get(registryKey(source)))?.doc ?? null;
  }

  async update(source: SourceRef, fn: (rec: SourceRecord | null) => SourceRecord | undefined) {
    const { doc, changed } = await this.store.update(registryKey(source), fn);
    return { record: doc, changed };
  }

  peek(source: SourceRef): SourceRecord | undefined {
    return this.store.cached(registryKey(source));
  }

  list(): SourceRecord[] {
    return [...this.store.values()];
  }

  size(): number {
    return this.ordered.size;
  }

  async remove(source: SourceRef, allow: (rec: SourceRecord) => void): Promise<SourceRecord | null> {
    return this.store.deleteIf(registryKey(source), allow);
  }

  inOrder(after?: SourceRef): IterableIterator<SourceRecord> {
    return this.ordered.from(after && ({ kind: after.kind, id: after.id } as SourceRecord));
  }

  inTier(tier: Tier): SourceRecord[] | undefined {
    const keys = this.byTier.get(tier);
    return keys && [...keys.values()];
  }

  taggedRecords(tag: string): SourceRecord[] {
    return [...(this.byTag.get(tag)?.values() ?? [])];
  }

  pinned(filterId: string): SourceRef[] {
    return [...(this.byPin.get(filterId)?.values() ?? [])].map((r) => ({ kind: r.kind, id: r.id }));
  }

  *expiring(until: number, after?: ExpiringCursor): IterableIterator<SourceRecord> {
    let from: SourceRecord | undefined;
    if (after) {
      const colon = after.source.indexOf(':');
      from = { kind: after.source.slice(0, colon), id: after.source.slice(colon + 1), expiresAt: after.expiresAt } as SourceRecord;
    }
    for (const r of this.expiry.from(from)) {
      if (r.expiresAt! > until) return;
      yield r;
    }
  }

  countExpiring(until: number): number {
    // Past every expiry at `until`: the first item with a later one, or the end.
    return this.expiry.rank({ kind: '\uffff', id: '', expiresAt: until } as unknown as SourceRecord);
  }

  summary(now: number, transitions: number): SourcesSummary {
    return this.summaryIndex.summary(now, transitions);
  }

  onChange(listener: (rec: SourceRecord | null) => void): void {
    this.store.onChange((_k, doc) => listener(doc));
  }

  stop(): void {
    this.store.stop();
  }

  /** Deletes the bucket (tests and benchmarks only). */
  destroy(): Promise<boolean> {
    return this.store.destroy();
  }
}
