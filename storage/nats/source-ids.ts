import type { JetStreamClient } from 'nats';
import type { IndexSource, SourceIdSets, SourceRef } from '../../core/index.js';
import { KvDocStore } from './kv-store.js';
import { bucketNames } from './names.js';
import { registryKey } from './nats-kv.js';

interface IdsDoc {
  /** `v:B`, `s:s3`, in order of admission. */
  ids: string[];
}

/** Ids held in this process's cache of sets, over every source (about 130 bytes each at worst). */
const CACHE_IDS = 200_000;

/**
 * Each source's variant and step ids in the NATS KV bucket `<ns>_source_ids` (one document per
 * source, keyed as the registry is), compare-and-set so several ingest processes never admit
 * past the limit together. Sets only grow, so a set read once answers "already admitted"
 * without a round trip: this process keeps the sets it used last (bounded by CACHE_IDS ids),
 * and a batch whose ids are all known costs nothing; no mirror of the whole bucket.
 */
export class NatsKvSourceIds implements SourceIdSets {
  /** Sets by registry key, least recently used first. */
  private readonly cache = new Map<string, Set<string>>();
  private cachedIds = 0;

  private constructor(private readonly store: KvDocStore<IdsDoc>) {}

  static async open(js: JetStreamClient, namespace: string, replicas = 1): Promise<NatsKvSourceIds> {
    return new NatsKvSourceIds(await KvDocStore.open<IdsDoc>(js, bucketNames(namespace).sourceIds, replicas));
  }

  async admit(source: IndexSource, entries: readonly (readonly string[])[], max: number): Promise<boolean[]> {
    const key = registryKey(source);
    const known = this.cache.get(key);
    if (known && entries.every((ids) => ids.every((id) => known.has(id)))) {
      this.touch(key, known);
      return entries.map(() => true);
    }
    let admitted: boolean[] = [];
    const { doc } = await this.store.update(key, (cur) => {
      const set = new Set(cur?.ids ?? []);
      const added: string[] = [];
      admitted = entries.map((ids) => {
        const fresh = [...new Set(ids.filter((id) => !set.has(id)))];
        if (set.size + fresh.length > max) return fresh.length === 0;
        for (const id of fresh) {
          set.add(id);
          added.push(id);
        }
        return true;
      });
      return added.length ? { ids: [...(cur?.ids ?? []), ...added] } : undefined;
    });
    this.remember(key, new Set(doc?.ids ?? []));
    return admitted;
  }

  async drop(source: SourceRef): Promise<void> {
    const key = registryKey(source);
    this.forget(key);
    await this.store.delete(key);
  }

  private touch(key: string, set: Set<string>): void {
    this.cache.delete(key);
    this.cache.set(key, set);
  }

  private remember(key: string, set: Set<string>): void {
    this.forget(key);
    this.cache.set(key, set);
    this.cachedIds += set.size;
    for (const [k, s] of this.cache) {
      if (this.cachedIds <= CACHE_IDS || k === key) break;
      this.forget(k);
    }
  }

  private forget(key: string): void {
    const old = this.cache.get(key);
    if (!old) return;
    this.cachedIds -= old.size;
    this.cache.delete(key);
  }

  /** Deletes the bucket (tests and benchmarks only). */
  destroy(): Promise<boolean> {
    return this.store.destroy();
  }
}
