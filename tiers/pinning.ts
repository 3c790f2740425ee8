import { filterSources, parseFilter, parseSourceName, sourceName, type Filter, type SourceRef } from '../core/index.js';
import type { TierManager } from './tier-manager.js';

/** An active retargeting filter as stored. */
export interface FilterDoc {
  id: string;
  filter: unknown;
  /** `campaign:A` names of the sources it pins. */
  sources: string[];
  updatedAt: number;
}

/** The document store filters live in (a NATS KV bucket in production). */
export interface FilterStore {
  get(key: string): Promise<{ doc: FilterDoc } | null>;
  update(key: string, fn: (doc: FilterDoc | null) => FilterDoc | undefined): Promise<{ doc: FilterDoc | null; changed: boolean }>;
  delete(key: string): Promise<void>;
  values(): IterableIterator<FilterDoc>;
  /** The mirrored document, without a round trip (undefined when the mirror has none). */
  peek(key: string): FilterDoc | undefined;
}

/** Stored filters name their sources as `kind:id`, valid by construction. */
const toRef = (name: string): SourceRef => parseSourceName(name)!;

/**
 * Active retargeting filters: registering one pins every source it names (restoring expired
 * ones at once); replacing it unpins sources it no longer names; deleting it unpins all.
 * Throws FilterError (with the path of the bad node) for filters outside the grammar.
 */
export function createFilterService(store: FilterStore, tiers: TierManager, now: () => number = Date.now) {
  /** Parsed filters by id, with the mirrored document they were parsed from (a new one per version). */
  const parsed = new Map<string, { doc: FilterDoc; filter: Filter }>();
  return {
    /**
     * A registered filter, parsed: from this process's mirror of the store without a round
     * trip (a filter registered elsewhere a moment ago is read from the store), and parsed
     * once per version. Undefined when not registered.
     */
    async registered(id: string): Promise<Filter | undefined> {
      const doc = store.peek(id) ?? (await store.get(id))?.doc;
      if (!doc) {
        parsed.delete(id);
        return undefined;
      }
      const hit = parsed.get(id);
      if (hit?.doc === doc) return hit.filter;
      const filter = parseFilter(doc.filter);
      parsed.set(id, { doc, filter });
      return filter;
    },
    async put(id: string, filter: unknown): Promise<{ id: string; sources: string[]; restoring: string[] }> {
      const sources = filterSources(parseFilter(filter)).map(sourceName);
      let previous: string[] = [];
      await store.update(id, (doc) => {
        previous = doc?.sources ?? [];
        return { id, filter, sources, updatedAt: now() };
      });
      const restoring = await tiers.pin(id, sources.map(toRef));
      const dropped = previous.filter((s) => !sources.includes(s));
      if (dropped.length) await tiers.unpin(id, dropped.map(toRef));
      return { id, sources, restoring: restoring.map(sourceName) };
    },
    async delete(id: string): Promise<boolean> {
      const cur = await store.get(id);
      if (!cur) return false;
      await store.delete(id);
      await tiers.unpin(id, cur.doc.sources.map(toRef));
      return true;
    },
    async get(id: string): Promise<FilterDoc | null> {
      return (await store.get(id))?.doc ?? null;
    },
    list(): FilterDoc[] {
      return [...store.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
  };
}

export type FilterService = ReturnType<typeof createFilterService>;
