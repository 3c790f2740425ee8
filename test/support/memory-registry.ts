import { newSourceRecord, sourceName, type SourceRecord, type SourceRef, type SourceRegistry, type Tier } from '../../core/index.js';

const copy = <T>(v: T): T => structuredClone(v);

/**
 * The source registry in memory, for services tested without servers: whole records, each
 * update a compare-and-set (the function sees the current record, as NATS KV's would after a
 * conflict), a mirror that is the store itself (no lag). Every record handed out is a copy, so
 * a caller cannot change the store but through `update`. The expiry preview and the summary
 * (maintained indexes in the real registry) are not here: they are tested with it.
 */
export class MemoryRegistry implements SourceRegistry {
  private readonly records = new Map<string, SourceRecord>();
  private readonly listeners: ((rec: SourceRecord | null) => void)[] = [];
  /** Every update that changed a record, in order (what the store saw). */
  readonly writes: SourceRecord[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  private changed(rec: SourceRecord | null): void {
    for (const l of this.listeners) l(rec && copy(rec));
  }

  async ensure(sources: readonly SourceRef[]): Promise<void> {
    for (const s of sources) if (!this.records.has(sourceName(s))) await this.update(s, (rec) => rec ?? newSourceRecord(s, this.now()));
  }

  async get(source: SourceRef): Promise<SourceRecord | null> {
    const rec = this.records.get(sourceName(source));
    return rec ? copy(rec) : null;
  }

  async update(source: SourceRef, fn: (rec: SourceRecord | null) => SourceRecord | undefined): Promise<{ record: SourceRecord | null; changed: boolean }> {
    const cur = this.records.get(sourceName(source)) ?? null;
    const next = fn(cur && copy(cur));
    if (next === undefined) return { record: cur && copy(cur), changed: false };
    this.records.set(sourceName(source), copy(next));
    this.writes.push(copy(next));
    this.changed(next);
    return { record: copy(next), changed: true };
  }

  list(): SourceRecord[] {
    return [...this.records.values()].map(copy);
  }

  peek(source: SourceRef): SourceRecord | undefined {
    const rec = this.records.get(sourceName(source));
    return rec && copy(rec);
  }

  size(): number {
    return this.records.size;
  }

  *inOrder(after?: SourceRef): IterableIterator<SourceRecord> {
    const names = [...this.records.keys()].sort();
    for (const n of names) if (!after || n > sourceName(after)) yield copy(this.records.get(n)!);
  }

  inTier(tier: Tier): SourceRecord[] | undefined {
    return tier === 'restoring' || tier === 'demoting' ? this.list().filter((r) => r.tier === tier) : undefined;
  }

  taggedRecords(tag: string): SourceRecord[] {
    return this.list().filter((r) => r.tags.includes(tag));
  }

  pinned(filterId: string): SourceRef[] {
    return this.list().filter((r) => r.pinnedBy.includes(filterId)).map(({ kind, id }) => ({ kind, id }));
  }

  tagged(tag: { tag: string; kind?: SourceRef['kind'] }): SourceRef[] {
    return this.list().filter((r) => r.tags.includes(tag.tag) && (!tag.kind || r.kind === tag.kind)).map(({ kind, id }) => ({ kind, id }));
  }

  onChange(listener: (rec: SourceRecord | null) => void): void {
    this.listeners.push(listener);
  }

  async remove(source: SourceRef, allow: (rec: SourceRecord) => void): Promise<SourceRecord | null> {
    const cur = this.records.get(sourceName(source));
    if (!cur) return null;
    allow(copy(cur));
    this.records.delete(sourceName(source));
    this.changed(null);
    return copy(cur);
  }

  expiring(): IterableIterator<SourceRecord> {
    throw new Error('MemoryRegistry: expiring() is not in the fake');
  }

  countExpiring(): number {
    throw new Error('MemoryRegistry: countExpiring() is not in the fake');
  }

  summary(): never {
    throw new Error('MemoryRegistry: summary() is not in the fake');
  }
}
