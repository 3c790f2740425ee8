import type { JetStreamClient } from 'nats';
import { type SourceRecord, type SourceRef, type SourceRegistry, type TagRef, carriesTag, newSourceRecord } from '../../core/index.js';
import { KvDocStore } from './kv-store.js';

/** KV keys allow `[-/_=.A-Za-z0-9]`; source ids may hold `:`, so the id is base64url-encoded. */
export function registryKey(source: SourceRef): string {
  return `${source.kind}.${Buffer.from(source.id, 'utf8').toString('base64url')}`;
}

/**
 * The source registry in the NATS KV bucket `<ns>_sources`: durable (file storage), shared by
 * every engine process, compare-and-set on revisions so two processes never both make the
 * same transition, and mirrored in memory for scans and listings.
 */
export class NatsKvRegistry implements SourceRegistry {
  private readonly known = new Set<string>();
  /** tag -> KV key -> the mirrored record carrying it: tag leaves resolve without a scan. */
  private readonly byTag = new Map<string, Map<string, SourceRecord>>();
  private readonly tagsOf = new Map<string, string[]>();

  private constructor(readonly store: KvDocStore<SourceRecord>, private readonly now: () => number) {
    store.onChange((key, rec) => this.index(key, rec));
  }

  static async open(js: JetStreamClient, namespace: string, now: () => number = Date.now, replicas = 1): Promise<NatsKvRegistry> {
    const store = await KvDocStore.open<SourceRecord>(js, `${namespace}_sources`, replicas);
    const registry = new NatsKvRegistry(store, now);
    await store.startMirror();
    return registry;
  }

  private index(key: string, rec: SourceRecord | null): void {
    // A deleted source is created again by its next event.
    if (!rec) this.known.delete(key);
    for (const tag of this.tagsOf.get(key) ?? []) {
      const keys = this.byTag.get(tag)!;
      keys.delete(key);
      if (keys.size === 0) this.byTag.delete(tag);
    }
    const tags = rec?.tags ?? [];
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Map()));
      keys.set(key, rec!);
    }
    if (tags.length) this.tagsOf.set(key, tags);
    else this.tagsOf.delete(key);
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
        this.known.add(key);
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
    return this.store.size;
  }

  async remove(source: SourceRef, allow: (rec: SourceRecord) => void): Promise<SourceRecord | null> {
    return this.store.deleteIf(registryKey(source), allow);
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
