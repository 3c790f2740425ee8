import type { Logger } from 'pino';
import { carriesTag, filterSources, filterTags, LIMIT_DEFAULTS, LimitError, parseFilter, parseSourceName, SourceNotFoundError, sourceName, unknownSources, type Filter, type SourceRecord, type SourceRef, type SourceRegistry, type TagRef } from '../../core/index.js';
import type { TierManager } from '../tiers/index.js';

/** An active retargeting filter as stored. */
export interface FilterDoc {
  id: string;
  filter: unknown;
  /** `campaign:A` names of the sources it names by id (it pins them whatever their tags). */
  sources: string[];
  /** Its tag leaves' tags: it also pins every source carrying one, while it does (absent in documents stored before tag leaves). */
  tags?: TagRef[];
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
  /** Called for every change the mirror sees, this process's and others' (null: deleted). */
  onChange(listener: (id: string, doc: FilterDoc | null) => void): void;
}

const countOf = (docs: Iterable<unknown>): number => {
  let n = 0;
  for (const _ of docs) n++;
  return n;
};

/** Stored filters name their sources as `kind:id`, valid by construction. */
const toRef = (name: string): SourceRef => parseSourceName(name)!;

/** Whether a filter pins a source: it names it by id, or the source carries one of its tag leaves' tags. */
export function pinsSource(doc: FilterDoc, rec: Pick<SourceRecord, 'kind' | 'id' | 'tags'>): boolean {
  return doc.sources.includes(sourceName(rec)) || (doc.tags ?? []).some((t) => carriesTag(t, rec.kind, rec.tags));
}

/**
 * The pins a source should have: those of filters this process does not know (registered
 * elsewhere a moment ago, or of an older kind of pin) kept, and of the filters it knows, those
 * that pin the source. Pure: it runs inside the registry's compare-and-set.
 */
export function pinsWanted(docs: Iterable<FilterDoc>, rec: SourceRecord): string[] {
  const known = new Map<string, FilterDoc>();
  for (const d of docs) known.set(d.id, d);
  const out = rec.pinnedBy.filter((f) => !known.has(f));
  for (const d of known.values()) if (pinsSource(d, rec)) out.push(d.id);
  return out.sort();
}

/**
 * Which filters pin what, maintained from the filter store's changes (docs/design.md,
 * "Sources at scale"): `wanted(rec)` answers pinsWanted(store.values(), rec) in O(the record's pins and
 * tags), not O(filters), so a registry change costs the same with 2,000 filters as with none.
 * Create it before anything else listens to the store: it must see a change first.
 */
export function createPinIndex(store: Pick<FilterStore, 'values' | 'onChange'>) {
  const docs = new Map<string, FilterDoc>();
  /** `campaign:A` -> ids of the filters naming it. */
  const byName = new Map<string, Set<string>>();
  /** tag -> filter id -> that filter's tag leaves of the tag (with or without a kind). */
  const byTag = new Map<string, Map<string, TagRef[]>>();
  const put = (id: string, doc: FilterDoc | null) => {
    const old = docs.get(id);
    if (old) {
      for (const n of old.sources) {
        const ids = byName.get(n)!;
        ids.delete(id);
        if (ids.size === 0) byName.delete(n);
      }
      for (const t of old.tags ?? []) {
        const ids = byTag.get(t.tag)!;
        ids.delete(id);
        if (ids.size === 0) byTag.delete(t.tag);
      }
      docs.delete(id);
    }
    if (!doc) return;
    docs.set(id, doc);
    for (const n of doc.sources) {
      let ids = byName.get(n);
      if (!ids) byName.set(n, (ids = new Set()));
      ids.add(id);
    }
    for (const t of doc.tags ?? []) {
      let ids = byTag.get(t.tag);
      if (!ids) byTag.set(t.tag, (ids = new Map()));
      ids.set(id, [...(ids.get(id) ?? []), t]);
    }
  };
  for (const doc of store.values()) put(doc.id, doc);
  store.onChange(put);
  return {
    /** As pinsWanted(store.values(), rec): pins of filters this process does not know kept, then those of the ones it knows. */
    wanted(rec: SourceRecord): string[] {
      const out = rec.pinnedBy.filter((f) => !docs.has(f));
      const pins = new Set(byName.get(sourceName(rec)));
      for (const tag of rec.tags) {
        for (const [id, leaves] of byTag.get(tag) ?? []) if (leaves.some((t) => carriesTag(t, rec.kind, rec.tags))) pins.add(id);
      }
      out.push(...pins);
      return out.sort();
    },
  };
}

export type PinIndex = ReturnType<typeof createPinIndex>;

/**
 * Active retargeting filters: registering one pins every source it names and every source
 * carrying one of its tag leaves' tags (restoring expired ones at once); replacing it unpins
 * sources it no longer stands for; deleting it unpins all. Tag changes move pins with them: in
 * the tag change's own compare-and-set (TierManager's `pinsWanted`), and, for changes this
 * process hears of from others (a source retagged, a filter registered or deleted elsewhere),
 * by `start()`'s listeners, which repin each source whose pins differ from what they should be.
 * Throws FilterError (with the path of the bad node) for filters outside the grammar.
 */
export function createFilterService(
  deps: { store: FilterStore; tiers: TierManager; registry: SourceRegistry; log: Logger; pins?: PinIndex; /** The `filters` limit (default LIMIT_DEFAULTS). */ maxFilters?: number },
  now: () => number = Date.now,
) {
  const { store, tiers, registry } = deps;
  const pins = deps.pins ?? createPinIndex(store);
  const log = deps.log.child({ module: 'tiers.pinning' });
  /** Parsed filters by id, with the mirrored document they were parsed from (a new one per version). */
  const parsed = new Map<string, { doc: FilterDoc; filter: Filter }>();

  /** The sources a filter stands for now: named by id, then those carrying its tags (by name). */
  const standsFor = (doc: FilterDoc): string[] => {
    const tagged = (doc.tags ?? []).flatMap((t) => registry.tagged(t).map(sourceName)).sort();
    return [...new Set([...doc.sources, ...tagged])];
  };
  const shown = (doc: FilterDoc): FilterDoc => ({ ...doc, sources: standsFor(doc) });

  const differs = (rec: SourceRecord) => {
    const want = pins.wanted(rec);
    return want.length !== rec.pinnedBy.length || want.some((f) => !rec.pinnedBy.includes(f));
  };

  /**
   * Repins every source a filter pins or pinned (by the registry's indexes: those it names,
   * carrying its tags, or pinned by it in this process's mirror) and `also`.
   */
  async function repinFor(id: string, doc: FilterDoc, also: readonly string[] = []): Promise<void> {
    const names = new Set([...also, ...standsFor(doc), ...registry.pinned(id).map(sourceName)]);
    for (const name of names) await tiers.repin(toRef(name));
  }

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
    /** Registers or replaces a filter; answers the sources it stands for now and those restoring. */
    async put(id: string, filter: unknown): Promise<{ id: string; sources: string[]; restoring: string[] }> {
      const f = parseFilter(filter);
      // A source named by id must exist: a typo would otherwise pin a source that never gets an event.
      const unknown = await unknownSources(registry, filterSources(f));
      if (unknown.length) throw new SourceNotFoundError(unknown);
      const max = deps.maxFilters ?? LIMIT_DEFAULTS.filters;
      // The mirror's count: processes registering new filters at the same moment may pass it by one each.
      if (store.peek(id) === undefined && countOf(store.values()) >= max && !(await store.get(id))) {
        throw new LimitError('filters', max, `filter ${id} would be a new one`);
      }
      const doc: FilterDoc = { id, filter, sources: filterSources(f).map(sourceName), tags: filterTags(f), updatedAt: now() };
      let previous: string[] = [];
      await store.update(id, (cur) => {
        previous = cur?.sources ?? [];
        return doc;
      });
      // Named sources are pinned (pin); then every source it pins or pinned is
      // set to what the filters say, the store's mirror holding this document already. This
      // process's listener may have repinned (and started restores) first: what is restoring is
      // read from the registry, not from which call did it.
      await tiers.pin(id, doc.sources.map(toRef));
      await repinFor(id, doc, previous);
      const sources = standsFor(doc);
      // As for named sources, registering restores tagged ones that are not hot, pinned already or not.
      const notHot = sources.filter((n) => registry.peek(toRef(n))?.tier !== 'hot');
      for (const n of notHot) if (!doc.sources.includes(n)) await tiers.restore(toRef(n), `pinned by filter ${id}`);
      return { id, sources, restoring: notHot };
    },
    async delete(id: string): Promise<boolean> {
      const cur = await store.get(id);
      if (!cur) return false;
      await store.delete(id);
      // Filters this process does not know keep their pins (pinsWanted), so this one's go by name.
      const pinned = registry.pinned(id).map(sourceName);
      await tiers.unpin(id, [...new Set([...cur.doc.sources, ...pinned])].map(toRef));
      return true;
    },
    /** A filter with the sources it stands for now; null when not registered. */
    async get(id: string): Promise<FilterDoc | null> {
      const doc = (await store.get(id))?.doc;
      return doc ? shown(doc) : null;
    },
    list(): FilterDoc[] {
      return [...store.values()].map(shown).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    /**
     * Follows changes made by any process: a source whose tags changed, or a filter registered,
     * replaced or deleted, has its pins set to what this process's filters say (each a
     * compare-and-set on the fresh record, so processes with mirrors a moment apart converge,
     * and a source is never demoted on the strength of a stale read). Also repins whatever
     * differs now, for changes made while no process listened.
     */
    start(): void {
      const run = (what: string, work: () => Promise<unknown>) => void work().catch((err) => log.warn({ err }, `${what} failed; the next change retries`));
      registry.onChange((rec) => {
        if (rec && differs(rec)) run('repin', () => tiers.repin(rec));
      });
      store.onChange((id, doc) => {
        if (doc) run('repin', () => repinFor(id, doc));
        else {
          const pinned = registry.pinned(id);
          if (pinned.length) run('unpin', () => tiers.unpin(id, pinned));
        }
      });
      for (const rec of registry.list()) if (differs(rec)) run('repin', () => tiers.repin(rec));
    },
  };
}

export type FilterService = ReturnType<typeof createFilterService>;
