import { compile, evaluateRow, parseSourceName, type FilterPlan, type Filter, type HistoryLookup, type HotLookup, type SourceRef, type SourceRecord, type SourceRegistry } from '../core/index.js';

export class LookupError extends Error {
  constructor(readonly code: 'source_expired' | 'source_restoring', message: string, readonly sources: string[]) {
    super(message);
    this.name = 'LookupError';
  }
}

/** Users evaluated per Redis round trip in count and audience walks. */
const CHUNK = 1_000;

/** Compiled leaves name their source as `kind:id`, valid by construction. */
const ref = (name: string): SourceRef => parseSourceName(name)!;

/**
 * Retargeting lookups with the semantics of README, "Retargeting semantics", from the hot tier (Redis) or, with
 * `fromHistory`, from ClickHouse. A leaf matches when the user's latest event of its kind is
 * in [after, before); `not` ranges over users with any event of the named sources.
 * Takes a parsed filter (core parseFilter: inline filters are parsed by the API, registered
 * ones once, when registered). Throws LookupError when a named source is not hot.
 */
export function createLookup(deps: { registry: SourceRegistry; hot: HotLookup; history: HistoryLookup; now?: () => number }) {
  const now = deps.now ?? Date.now;

  async function prepare(filter: Filter, fromHistory: boolean) {
    // Tag leaves stand for the sources carrying the tag now, as this process's mirror of the
    // registry has them (its own tag changes at once, other processes' within milliseconds).
    const c = compile(filter, now(), (t) => deps.registry.tagged(t));
    const sources = c.sources.map(ref);
    if (!fromHistory) {
      // Tiers from the registry's in-memory mirror: a lookup at send time must not wait for a
      // round trip. The mirror trails a transition by milliseconds; a source it does not know
      // (yet) is read from the registry itself.
      let recs: (SourceRecord | null | undefined)[] = sources.map((s) => deps.registry.peek(s));
      if (recs.includes(undefined)) recs = await Promise.all(sources.map((s, i) => recs[i] ?? deps.registry.get(s)));
      const expired = c.sources.filter((_, i) => recs[i]?.tier === 'expired' || recs[i]?.tier === 'demoting');
      if (expired.length) throw new LookupError('source_expired', `not in the hot tier: ${expired.join(', ')}; restore them or ask with "from": "history"`, expired);
      const restoring = c.sources.filter((_, i) => recs[i]?.tier === 'restoring');
      if (restoring.length) throw new LookupError('source_restoring', `being restored: ${restoring.join(', ')}; retry shortly or ask with "from": "history"`, restoring);
    }
    const leaves = c.leaves.map((l) => ({ source: ref(l.source), index: l.index, after: l.after, before: l.before }));
    return { c, sources, leaves, sql: { leaves, program: c.program, sources } satisfies FilterPlan };
  }

  async function matchHot(p: Awaited<ReturnType<typeof prepare>>, users: readonly string[]): Promise<string[]> {
    // The universe is read only when the filter can match a user with no leaf event.
    const universe = p.c.needsUniverse;
    const { latest, known } = await deps.hot.scores(p.leaves, universe ? p.sources : [], users);
    const out: string[] = [];
    for (let u = 0; u < users.length; u++) if (evaluateRow(p.c, latest, u, !universe || known[u] === 1)) out.push(users[u]!);
    return out;
  }

  return {
    /** The given users (at most 1,000) that match, in the order given. */
    async check(filter: Filter, userIds: string[], fromHistory = false): Promise<string[]> {
      const p = await prepare(filter, fromHistory);
      // No source named (only tags no source carries): the universe is empty.
      if (p.sources.length === 0) return [];
      const seen = new Set(userIds);
      const unique = seen.size === userIds.length ? userIds : [...seen];
      if (!fromHistory) return matchHot(p, unique);
      const found = new Set(await deps.history.filterUsers(p.sql, { users: unique }));
      return unique.filter((u) => found.has(u));
    },

    async count(filter: Filter, fromHistory = false): Promise<number> {
      const p = await prepare(filter, fromHistory);
      if (p.sources.length === 0) return 0;
      if (fromHistory) return deps.history.filterCount(p.sql);
      // One source: Redis computes the set in the source's slot. Several: their keys live in
      // different Cluster slots, so the universe is read and evaluated here, 1,000 at a time.
      if (p.sources.length === 1) return (await deps.hot.filterSet(p.sources[0]!, p.leaves, p.c.program, { count: true })) as number;
      const universe = await deps.hot.users(p.sources);
      let n = 0;
      for (let i = 0; i < universe.length; i += CHUNK) n += (await matchHot(p, universe.slice(i, i + CHUNK))).length;
      return n;
    },

    /**
     * A page of matching users in user id order, after `cursor` (the last id of the previous
     * page). Pages of one walk never repeat a user, and a user matching throughout the walk is
     * never skipped, whatever arrives meanwhile.
     */
    async audience(filter: Filter, limit: number, cursor: string | undefined, fromHistory = false): Promise<{ users: string[]; next: string | null }> {
      const p = await prepare(filter, fromHistory);
      let users: string[];
      if (p.sources.length === 0) {
        users = [];
      } else if (fromHistory) {
        users = await deps.history.filterUsers(p.sql, { limit: limit + 1, ...(cursor !== undefined && { afterUser: cursor }) });
      } else if (p.sources.length === 1) {
        users = (await deps.hot.filterSet(p.sources[0]!, p.leaves, p.c.program, { limit, ...(cursor !== undefined && { afterUser: cursor }) })) as string[];
      } else {
        const universe = await deps.hot.users(p.sources);
        let i = cursor === undefined ? 0 : upperBound(universe, cursor);
        users = [];
        while (i < universe.length && users.length <= limit) {
          users.push(...(await matchHot(p, universe.slice(i, i + CHUNK))));
          i += CHUNK;
        }
      }
      const page = users.slice(0, limit);
      return { users: page, next: users.length > limit ? page[page.length - 1]! : null };
    },
  };
}

/** First index whose value is greater than `x` in a sorted array. */
function upperBound(sorted: string[], x: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export type Lookup = ReturnType<typeof createLookup>;
