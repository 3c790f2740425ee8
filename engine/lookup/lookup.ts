import { ANY_MESSAGE, ANY_MESSAGE_NAME, TierstreamError, checkCountHorizon, compile, recordsOf, evaluateRow, FilterError, hasCountLeaves, parseSourceName, type Compiled, type FilterPlan, type Filter, type HistoryLookup, type HotLookup, type IndexSource, type SourceRef, type SourceRecord, type SourceRegistry } from '../../core/index.js';
import { countValues, type ServedFrom } from './counts.js';
import { explainFilter, usersFilters, type Explained, type UserFilters } from './explain.js';

export class LookupError extends TierstreamError<'source_expired' | 'source_restoring' | 'invalid_cursor' | 'lookup_timeout'> {
  constructor(code: LookupError['code'], message: string, readonly sources: string[] = [], options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Users one walk step reads per source (whole buckets, so up to a bucket more): a step is one
 * MULTI of about ten HGETALLs per source, well under a millisecond of Redis time.
 */
const STEP_USERS = 1_000;
/** Walks a count runs side by side, each over a quarter of the positions. */
const COUNT_WALKS = 4;
/** Users an estimate reads per source, in steps from position 0: a uniform sample of the hash. */
const SAMPLE_USERS = 4_000;
/** End of the walk: positions are 32-bit. */
const POSITIONS = 2 ** 32;
/** A count or an audience page gives up (503 lookup_timeout) past this, and stops sending work. */
const WALK_BUDGET_MS = 9_000;

/**
 * Where an audience walk stands, as the API hands it out (base64url of this text): `h` then
 * the last user's position (8 hex digits) and id for a hot walk, `c` then the last id for a
 * history walk (user id order).
 */
export function encodeCursor(c: HotCursor | { user: string }): string {
  return 'pos' in c ? `h${c.pos.toString(16).padStart(8, '0')}${c.user}` : `c${c.user}`;
}

type HotCursor = { pos: number; user: string };

function decodeCursor(text: string, fromHistory: boolean): HotCursor | { user: string } {
  if (fromHistory && text.startsWith('c')) return { user: text.slice(1) };
  if (!fromHistory && /^h[0-9a-f]{8}/.test(text)) return { pos: parseInt(text.slice(1, 9), 16), user: text.slice(9) };
  throw new LookupError('invalid_cursor', `the cursor is not one this ${fromHistory ? 'history' : 'hot'} walk gave; start again without it`);
}

/** Compiled leaves name their source as `kind:id`, valid by construction, or `any:message`. */
const ref = (name: string): IndexSource => (name === ANY_MESSAGE_NAME ? ANY_MESSAGE : parseSourceName(name)!);

/**
 * Retargeting lookups with the semantics of docs/filters.md, "Retargeting semantics", from the hot tier (Redis) or, with
 * `fromHistory`, from ClickHouse. A leaf matches when the user's latest event of its kind is
 * in [after, before); `not` ranges over users with any event of the named sources.
 * Takes a parsed filter (core parseFilter: inline filters are parsed by the API, registered
 * ones once, when registered). Throws LookupError when a named source is not hot.
 */
export function createLookup(deps: { registry: SourceRegistry; hot: HotLookup; history: HistoryLookup; now?: () => number; walkBudgetMs?: number }) {
  const now = deps.now ?? Date.now;
  const budgetMs = deps.walkBudgetMs ?? WALK_BUDGET_MS;

  async function prepare(filter: Filter, fromHistory: boolean) {
    // A count leaf's `after` may have drifted out of the horizon since the filter was written.
    const at = now();
    checkCountHorizon(filter, at);
    // Tag leaves stand for the sources carrying the tag now, as this process's mirror of the
    // registry has them (its own tag changes at once, other processes' within milliseconds).
    const c = compile(filter, at, (t) => deps.registry.tagged(t));
    const sources = c.sources.map(ref);
    // The any-message pseudo-source is hot for ever and in no registry: no tier to check.
    const named = c.sources.filter((n) => n !== ANY_MESSAGE_NAME);
    if (!fromHistory && named.length) {
      // Tiers from the registry's in-memory mirror: a lookup at send time must not wait for a
      // round trip. The mirror trails a transition by milliseconds; a source it does not know
      // (yet) is read from the registry itself.
      const recs = await recordsOf(deps.registry, named.map((n) => parseSourceName(n)!));
      const expired = named.filter((_, i) => recs[i]?.tier === 'expired' || recs[i]?.tier === 'demoting');
      if (expired.length) throw new LookupError('source_expired', `not in the hot tier: ${expired.join(', ')}; restore them or ask with "from": "history"`, expired);
      const restoring = named.filter((_, i) => recs[i]?.tier === 'restoring');
      if (restoring.length) throw new LookupError('source_restoring', `being restored: ${restoring.join(', ')}; retry shortly or ask with "from": "history"`, restoring);
    }
    const leaves: FilterPlan['leaves'] = c.leaves.map((l) => ({
      source: ref(l.source), index: l.index, after: l.after, before: l.before, ...(l.count && { count: { ...l.count, sources: l.count.sources.map((n) => parseSourceName(n)!) } }),
    }));
    return { c, at, sources, leaves, sql: { leaves, program: c.program, sources } satisfies FilterPlan };
  }
  type Prepared = Awaited<ReturnType<typeof prepare>>;

  /**
   * Each user's value per leaf, as HotLookup.scores lays them out (row-major, NaN: none): latest
   * times from the hot index, counts of count leaves from the hot counts or history (counts.ts),
   * read beside the latest times. `known` is read when `universe`; `from[i]`: where count leaf i
   * was served from.
   */
  async function hotValues(c: Compiled, leaves: FilterPlan['leaves'], sources: IndexSource[], users: readonly string[], universe: boolean, at: number) {
    const hotAt: number[] = [];
    c.leaves.forEach((l, i) => l.count === undefined && hotAt.push(i));
    if (hotAt.length === c.leaves.length) return { ...(await deps.hot.scores(leaves, universe ? sources : [], users)), from: [] };
    const [hot, counts] = await Promise.all([
      hotAt.length > 0 || universe ? deps.hot.scores(hotAt.map((i) => leaves[i]!), universe ? sources : [], users) : undefined,
      countValues(deps.hot, deps.history, leaves, users, at),
    ]);
    const width = c.leaves.length;
    const latest = counts.values;
    if (hot) for (let u = 0; u < users.length; u++) for (let j = 0; j < hotAt.length; j++) latest[u * width + hotAt[j]!] = hot.latest[u * hotAt.length + j]!;
    return { latest, known: hot?.known ?? new Uint8Array(users.length), from: counts.from };
  }

  async function matchHot(p: Prepared, users: readonly string[]): Promise<string[]> {
    // The universe is read only when the filter can match a user with no leaf event.
    const universe = p.c.needsUniverse;
    const { latest, known } = await hotValues(p.c, p.leaves, p.sources, users, universe, p.at);
    const out: string[] = [];
    for (let u = 0; u < users.length; u++) if (evaluateRow(p.c, latest, u, !universe || known[u] === 1)) out.push(users[u]!);
    return out;
  }

  return {
    explain,
    userFilters,
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

    /**
     * How many users match: exact, from a walk over every position in bounded steps (hot), or
     * one query (history).
     */
    async count(filter: Filter, fromHistory = false): Promise<number> {
      fromHistory ||= hasCountLeaves(filter);
      const p = await prepare(filter, fromHistory);
      if (p.sources.length === 0) return 0;
      if (fromHistory) return deps.history.filterCount(p.sql);
      const deadline = performance.now() + budgetMs;
      const quarter = POSITIONS / COUNT_WALKS;
      const counts = await Promise.all(
        Array.from({ length: COUNT_WALKS }, async (_, i) => {
          let n = 0;
          for (let pos = i * quarter; pos < (i + 1) * quarter; ) {
            const seg = await step(p, pos, (i + 1) * quarter, STEP_USERS, deadline, false);
            for (let u = 0; u < seg.size; u++) if (evaluateRow(p.c, seg.latest, u, true)) n++;
            pos = seg.end;
          }
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    },

    /**
     * An estimate of the count from a sample: the users of the first positions (a hash of the
     * id, so a uniform sample), about SAMPLE_USERS of each source, scaled up; `margin` is the
     * half-width of a 95% interval (binomial sampling of each matching user with the sampled
     * share). Exact, with margin 0, when the sample is the whole walk or from history.
     */
    async estimate(filter: Filter, fromHistory = false): Promise<{ count: number; margin: number }> {
      fromHistory ||= hasCountLeaves(filter);
      const p = await prepare(filter, fromHistory);
      if (p.sources.length === 0) return { count: 0, margin: 0 };
      if (fromHistory) return { count: await deps.history.filterCount(p.sql), margin: 0 };
      // Steps of STEP_USERS from position 0 until SAMPLE_USERS users: each call stays bounded.
      const deadline = performance.now() + budgetMs;
      let m = 0;
      let sampled = 0;
      let pos = 0;
      while (pos < POSITIONS && sampled < SAMPLE_USERS) {
        const seg = await step(p, pos, POSITIONS, STEP_USERS, deadline, false);
        for (let u = 0; u < seg.size; u++) if (evaluateRow(p.c, seg.latest, u, true)) m++;
        sampled += seg.size;
        pos = seg.end;
      }
      if (pos >= POSITIONS) return { count: m, margin: 0 };
      const f = pos / POSITIONS;
      // No match in the sample: the rule of three bounds the rate by 3 / sampled share.
      const margin = m === 0 ? 3 / f : (1.96 * Math.sqrt(m * (1 - f))) / f;
      return { count: Math.round(m / f), margin: Math.ceil(margin) };
    },

    /**
     * A page of matching users after `cursor` (encodeCursor's text). Hot: in position order (a
     * hash of the id; docs/design.md, "Hot index"), walked in bounded steps from the cursor, so a page
     * costs about its size; history: in user id order. Pages of one walk never repeat a user,
     * and a user matching throughout the walk is never skipped, whatever arrives meanwhile.
     */
    async audience(filter: Filter, limit: number, cursor: string | undefined, fromHistory = false): Promise<{ users: string[]; next: string | null }> {
      fromHistory ||= hasCountLeaves(filter);
      const p = await prepare(filter, fromHistory);
      const after = cursor === undefined ? undefined : decodeCursor(cursor, fromHistory);
      if (p.sources.length === 0) return { users: [], next: null };
      if (fromHistory) {
        const users = await deps.history.filterUsers(p.sql, { limit: limit + 1, ...(after && { afterUser: after.user }) });
        const page = users.slice(0, limit);
        return { users: page, next: users.length > limit ? encodeCursor({ user: page[page.length - 1]! }) : null };
      }
      const deadline = performance.now() + budgetMs;
      const start = after && 'pos' in after ? (after as HotCursor) : undefined;
      const page: string[] = [];
      let last: HotCursor | undefined = start;
      let pos = start?.pos ?? 0;
      while (pos < POSITIONS) {
        const seg = await step(p, pos, POSITIONS, STEP_USERS, deadline);
        for (let u = 0; u < seg.users.length; u++) {
          const at = seg.positions[u]!;
          const user = seg.users[u]!;
          if (start && (at < start.pos || (at === start.pos && user <= start.user))) continue;
          if (!evaluateRow(p.c, seg.latest, u, true)) continue;
          if (page.length === limit) return { users: page, next: encodeCursor(last!) };
          page.push(user);
          last = { pos: at, user };
        }
        pos = seg.end;
      }
      return { users: page, next: null };
    },
  };

  /**
   * Why `userId` matches `filter` or not: the tree with each node's `matched`, each leaf's time
   * or count, window and where it was served from (explain.ts). Refused as `check` is (expired,
   * restoring sources) unless from history.
   */
  async function explain(filter: Filter, userId: string, fromHistory = false): Promise<Explained> {
    const p = await prepare(filter, fromHistory);
    let row: ArrayLike<number> = new Float64Array(p.c.leaves.length).fill(NaN);
    let known = false;
    let from: (ServedFrom | undefined)[] = [];
    if (p.sources.length > 0 && fromHistory) {
      const v = (await deps.history.filterValues(p.sql, [userId])).get(userId);
      if (v) [row, known] = [v, true];
    } else if (p.sources.length > 0) {
      const v = await hotValues(p.c, p.leaves, p.sources, [userId], true, p.at);
      [row, known, from] = [v.latest, v.known[0] === 1, v.from];
    }
    const servedFrom = (leaf: number): ServedFrom => (fromHistory ? 'history' : from[leaf] ?? 'hot');
    return explainFilter({ filter, c: p.c, row, known, servedFrom, at: p.at, tagged: (t) => deps.registry.tagged(t) });
  }

  /**
   * The registered filters `userId` matches now, from the hot tier (count leaves from history),
   * all read together: one Redis round trip (one read per source, every filter's leaves and each
   * source's `any` index, which says whether the user is in a filter's universe) and at most one
   * ClickHouse query. A filter naming a source that is not hot (or whose count window left the
   * horizon) is not evaluated: it is listed in `skipped` with the reason.
   */
  async function userFilters(filters: readonly { id: string; filter: Filter }[], userId: string): Promise<UserFilters> {
    const ready: { id: string; p: Prepared }[] = [];
    const skipped: UserFilters['skipped'] = [];
    for (const { id, filter } of filters) {
      try {
        ready.push({ id, p: await prepare(filter, false) });
      } catch (err) {
        if (err instanceof LookupError) skipped.push({ id, reason: err.code, sources: err.sources });
        else if (err instanceof FilterError) skipped.push({ id, reason: 'invalid_filter', sources: [] });
        else throw err;
      }
    }
    return usersFilters(ready.map(({ id, p }) => ({ id, c: p.c, leaves: p.leaves, sources: p.sources })), userId, deps.hot, deps.history, skipped, now());
  }

  /** One walk step, refused once the lookup's time is up: a late walk stops sending work. */
  async function step(p: Prepared, from: number, to: number, maxUsers: number, deadline: number, ordered = true) {
    if (performance.now() > deadline) throw new LookupError('lookup_timeout', `the walk did not finish within ${budgetMs} ms; ask for an estimate or narrow the filter`);
    return deps.hot.segment(p.leaves, p.sources, from, to, maxUsers, ordered);
  }
}

export type Lookup = ReturnType<typeof createLookup>;
