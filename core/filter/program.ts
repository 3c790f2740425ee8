import { addDuration, parseDuration, type Duration } from '../duration.js';
import type { AnyLeaf, Filter, Leaf, SourceLeaf, TagRef } from './grammar.js';
import { indexName } from '../index-names.js';
import { sourceName } from '../sources.js';
import { ANY_MESSAGE, type EventType, type IndexSource, type SourceRef } from '../types.js';

/** A leaf resolved against "now": the index it reads and its half-open time window. */
export interface CompiledLeaf {
  source: string;
  /** Index name within the source (see index-names). */
  index: string;
  after: number;
  before: number;
  /**
   * A count leaf: its value is the number of distinct events of its index over `sources` (one,
   * or a tag's) with time in [after, before), read from history; it matches when in [min, max].
   * A user with no such event counts 0.
   */
  count?: LeafCount;
}

/** What a count leaf counts over, and the bounds it matches. */
export interface LeafCount {
  min: number;
  max: number;
  /** `kind:id` names of the sources whose events are counted together, sorted. */
  sources: string[];
}

export type Program =
  | { leaf: number }
  | { and: Program[] }
  | { or: Program[] }
  | { not: Program };

/**
 * A compiled filter as a backend takes it: each distinct leaf with its source, index and
 * half-open window, the program over the leaves, the sources named. The hot index turns it
 * into its script's steps, the history into SQL.
 */
export interface FilterPlan {
  leaves: { source: IndexSource; index: string; after: number; before: number; count?: { min: number; max: number; sources: SourceRef[] } }[];
  program: Program;
  sources: IndexSource[];
}

/** A filter ready to evaluate: its distinct leaves, its tree over them, the sources it names. */
export interface Compiled {
  leaves: CompiledLeaf[];
  program: Program;
  /**
   * The sources named by id and those its tag leaves stand for. Empty when the filter names
   * none (only tags no source carries): no user can match, and no backend is to be asked.
   */
  sources: string[];
  /**
   * Whether a user with no event in any leaf's index can match: only then does evaluation
   * need to know whether the user has any event of the named sources (the universe, which a
   * `not` ranges over). `{"and": [sent A, {"not": clicked A}]}` does not: a user who matches
   * has a send of A, so is in A's universe; `{"not": clicked A}` alone does.
   */
  needsUniverse: boolean;
  /**
   * The program each leaf of the filter became, in the filter's depth-first order (explain
   * reads a leaf's value and match through it). Empty when `sources` is.
   */
  leafPrograms: Program[];
}

/** The index a leaf reads: the variant's or step's type index when given, else the type's; a click alias's. */
export function leafIndex(leaf: SourceLeaf): string {
  if (leaf.alias !== undefined) return leaf.step !== undefined ? indexName.stepAlias(leaf.step, leaf.alias) : indexName.alias(leaf.alias);
  if (leaf.variant !== undefined) return indexName.variant(leaf.variant, leaf.event);
  if (leaf.step !== undefined) return indexName.step(leaf.step, leaf.event);
  return indexName.type(leaf.event);
}

/** The any-message pseudo-source's name in compiled leaves and `sources` (`any:message`). */
export const ANY_MESSAGE_NAME = sourceName(ANY_MESSAGE);

/**
 * The pseudo-source indexes an any-message leaf stands for: one, or for `engaged` the click's
 * and the opens' (machine: `machine_open`, other: `open`, any: both), per channel when given.
 */
export function anyLeafIndexes(leaf: AnyLeaf): string[] {
  if (leaf.alias !== undefined) return [indexName.alias(leaf.alias)];
  const opens: EventType[] = leaf.opens === 'machine' ? ['machine_open'] : leaf.opens === 'other' ? ['open'] : ['open', 'machine_open'];
  const types: EventType[] = leaf.event === 'engaged' ? ['click', ...opens] : [leaf.event];
  return types.map((t) => (leaf.channel !== undefined ? indexName.channel(leaf.channel, t) : indexName.type(t)));
}

const negate = (d: Duration): Duration =>
  Object.fromEntries(Object.entries(d).map(([k, v]) => [k, -v])) as unknown as Duration;

/** The sources a tag leaf stands for when the lookup runs (the registry's, by tag and kind). */
export type TagResolver = (tag: TagRef) => readonly SourceRef[];

/**
 * Resolves `within` against `now` (after = now - within, months by the UTC calendar), tag
 * leaves against `tagged`, and deduplicates equal leaves so each is read once.
 *
 * A tag leaf over sources S_1..S_n matches when the latest of the user's times t_i (one per
 * source) is in [after, before). As single-source leaves: max(t_i) >= after is "some t_i >=
 * after", and max(t_i) < before is "no t_i >= before", so the leaf becomes
 * `or_i [after, +inf) and not or_i [before, +inf)` (the `not` only meets users with an event of
 * some S_i, who are in the universe). Every backend then evaluates it as it evaluates any leaf,
 * with the same semantics. A tag no source carries stands for no source and matches no user: an
 * empty window, [0, 0), on a source the filter names otherwise.
 */
export function compile(filter: Filter, now: number, tagged: TagResolver): Compiled {
  const resolved = new Map<string, string[]>();
  const sources = new Set<string>();
  const tagSources = (t: TagRef): string[] => {
    const key = `${t.kind ?? ''}|${t.tag}`;
    let names = resolved.get(key);
    if (!names) resolved.set(key, (names = tagged(t).map(sourceName).sort()));
    return names;
  };
  const collect = (f: Filter): void => {
    if ('leaf' in f) for (const s of 'tag' in f.leaf ? tagSources(f.leaf.tag) : 'any' in f.leaf ? [ANY_MESSAGE_NAME] : [sourceName(f.leaf.source)]) sources.add(s);
    else if ('not' in f) collect(f.not);
    else for (const m of 'and' in f ? f.and : f.or) collect(m);
  };
  collect(filter);
  if (sources.size === 0) return { leaves: [], program: { or: [] }, sources: [], needsUniverse: false, leafPrograms: [] };
  const [first] = sources;

  const leaves: CompiledLeaf[] = [];
  const byKey = new Map<string, number>();
  const leaf = (c: CompiledLeaf): Program => {
    const key = `${c.source}|${c.index}|${c.after}|${c.before}${c.count ? `|${c.count.min}|${c.count.max}|${c.count.sources.join(',')}` : ''}`;
    let i = byKey.get(key);
    if (i === undefined) {
      i = leaves.push(c) - 1;
      byKey.set(key, i);
    }
    return { leaf: i };
  };
  const leafPrograms: Program[] = [];
  const walk = (f: Filter): Program => {
    if ('leaf' in f) {
      const p = walkLeaf(f.leaf);
      leafPrograms.push(p);
      return p;
    }
    if ('not' in f) return { not: walk(f.not) };
    if ('and' in f) return { and: f.and.map(walk) };
    return { or: f.or.map(walk) };
  };
  const walkLeaf = (l: Leaf): Program => {
    let after = l.after ?? -Infinity;
    if (l.within !== undefined) {
      const d = parseDuration(l.within)!;
      after = addDuration(now, negate(d));
    }
    const before = l.before ?? Infinity;
    const count = (over: string[]): Pick<CompiledLeaf, 'count'> => (l.times ? { count: { ...l.times, sources: over } } : {});
    if ('source' in l) {
      const source = sourceName(l.source);
      return leaf({ source, index: leafIndex(l), after, before, ...count([source]) });
    }
    // Tag and any-message leaves: the latest over several (source, index) pairs.
    let over: { source: string; index: string }[];
    if ('any' in l) {
      // A count over every source: no source condition (count.sources empty).
      if (l.times) {
        const index = l.channel !== undefined ? indexName.channel(l.channel, l.event as EventType) : indexName.type(l.event as EventType);
        return leaf({ source: ANY_MESSAGE_NAME, index, after, before, ...count([]) });
      }
      over = anyLeafIndexes(l).map((index) => ({ source: ANY_MESSAGE_NAME, index }));
    }
    else {
      const index = l.alias !== undefined ? indexName.alias(l.alias) : indexName.type(l.event);
      over = tagSources(l.tag).map((source) => ({ source, index }));
      // A tag no source carries matches no user, counted or not.
      if (over.length === 0) return leaf({ source: first!, index, after: 0, before: 0 });
      // Counts over a tag's sources add up (an event belongs to one source): one leaf over them all.
      if (l.times) return leaf({ ...over[0]!, after, before, ...count(over.map((o) => o.source)) });
    }
    if (over.length === 1) return leaf({ ...over[0]!, after, before });
    const from = (bound: number): Program => ({ or: over.map((o) => leaf({ ...o, after: bound, before: Infinity })) });
    return before === Infinity ? from(after) : { and: [from(after), { not: from(before) }] };
  };
  const program = walk(filter);
  const c: Compiled = { leaves, program, sources: [...sources], needsUniverse: false, leafPrograms };
  c.needsUniverse = evaluate(c, [], true);
  return c;
}

/**
 * Evaluates a compiled filter for one user. `latest[i]` is the user's latest time in leaf i's
 * index (undefined when none); `known` says whether the user has any event of the sources the
 * filter names: a `not` only matches known users, so a filter never returns strangers. When
 * `needsUniverse` is false, `known` may be passed as true for every user: the answer is the same.
 */
export function evaluate(c: Compiled, latest: ArrayLike<number | undefined>, known: boolean): boolean {
  return known && run(c, c.program, latest, 0);
}

/**
 * `evaluate` for user `u` of a row-major table: `latest[u * c.leaves.length + i]` is the user's
 * latest time in leaf i's index, NaN when none (NaN is in no window), as the hot path reads it
 * (HotLookup.scores), without an array per user.
 */
export function evaluateRow(c: Compiled, latest: ArrayLike<number>, u: number, known: boolean): boolean {
  return known && run(c, c.program, latest, u * c.leaves.length);
}

/** One recursive function, not a closure per call: the hot path evaluates once per user. */
function run(c: Compiled, p: Program, latest: ArrayLike<number | undefined>, offset: number): boolean {
  if ('leaf' in p) {
    const t = latest[offset + p.leaf];
    const l = c.leaves[p.leaf]!;
    if (l.count) {
      // No value (undefined, NaN): no such event, a count of 0.
      const n = t === undefined || Number.isNaN(t) ? 0 : t;
      return n >= l.count.min && n <= l.count.max;
    }
    return t !== undefined && t >= l.after && t < l.before;
  }
  if ('not' in p) return !run(c, p.not, latest, offset);
  if ('and' in p) {
    for (const m of p.and) if (!run(c, m, latest, offset)) return false;
    return true;
  }
  for (const m of p.or) if (run(c, m, latest, offset)) return true;
  return false;
}
