import { evaluate, formatTime, leafWindow, sourceName, type Compiled, type Filter, type FilterPlan, type HistoryLookup, type HotLookup, type Leaf, type IndexSource, type Program, type SourceRef, type TagRef } from '../../core/index.js';

import { countValues, type ServedFrom } from './counts.js';

export type { ServedFrom };

/** A leaf of an explained filter: what was found for the user, in which window, from where. */
export interface ExplainedLeaf {
  matched: boolean;
  /** The leaf as written (times in ISO-8601 UTC). */
  leaf: Record<string, unknown>;
  servedFrom: ServedFrom;
  /** The window resolved at the lookup: null for an open side. */
  window: { after: string | null; before: string | null };
  /** Latest-time leaves: the user's latest such event (any time, not only in the window); null when none. */
  time?: string | null;
  /** Count leaves: the user's distinct such events in the window. */
  count?: number;
  /** Tag leaves: the sources the tag stood for at the lookup. */
  sources?: string[];
}

export type ExplainedNode =
  | ExplainedLeaf
  | { matched: boolean; and: ExplainedNode[] }
  | { matched: boolean; or: ExplainedNode[] }
  | { matched: boolean; not: ExplainedNode };

export interface Explained {
  /** What `check` answers for the user: `inUniverse` and the tree's own `matched`. */
  matched: boolean;
  /** Whether the user has any event of the sources the filter names (what a `not` ranges over). */
  inUniverse: boolean;
  tree: ExplainedNode;
}

const iso = (t: number): string | null => (Number.isFinite(t) ? formatTime(t) : null);

/** The leaf as a caller writes it. */
function leafJson(l: Leaf): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ('source' in l) out[l.source.kind] = l.source.id;
  else if ('any' in l) out.any = l.any;
  else {
    out.tag = l.tag.tag;
    if (l.tag.kind) out.kind = l.tag.kind;
  }
  out.event = l.event;
  if ('channel' in l && l.channel !== undefined) out.channel = l.channel;
  if ('opens' in l && l.opens !== undefined) out.opens = l.opens;
  if ('alias' in l && l.alias !== undefined) out.alias = l.alias;
  if ('variant' in l && l.variant !== undefined) out.variant = l.variant;
  if ('step' in l && l.step !== undefined) out.step = l.step;
  if (l.after !== undefined) out.after = formatTime(l.after);
  if (l.before !== undefined) out.before = formatTime(l.before);
  if (l.within !== undefined) out.within = l.within;
  if (l.times) out.times = l.times.max === Infinity ? { min: l.times.min } : { ...l.times };
  return out;
}

/** The compiled leaves a program reads. */
function leavesOf(p: Program, out: number[] = []): number[] {
  if ('leaf' in p) out.push(p.leaf);
  else if ('not' in p) leavesOf(p.not, out);
  else for (const m of 'and' in p ? p.and : p.or) leavesOf(m, out);
  return out;
}

/**
 * The filter's tree for one user, from the values the lookup read (`row`: one per compiled
 * leaf, NaN when none, as check evaluates them): each leaf's match is its compiled program's
 * (compile's leafPrograms), so the root's answer is check's by construction. A tag leaf's time
 * is the latest over its sources (the max its compiled leaves read).
 */
export function explainFilter(a: {
  filter: Filter; c: Compiled; row: ArrayLike<number>; known: boolean; at: number; tagged: (t: TagRef) => readonly SourceRef[];
  /** Where compiled leaf i's value came from (latest times: the tier asked; counts: counts.ts). */
  servedFrom: (leaf: number) => ServedFrom;
}): Explained {
  let k = 0;
  const walk = (f: Filter): ExplainedNode => {
    if ('leaf' in f) {
      const l = f.leaf;
      const p = a.c.leafPrograms[k++];
      const w = leafWindow(l, a.at);
      const tagSources = 'tag' in l ? a.tagged(l.tag).map(sourceName).sort() : undefined;
      // No program (the filter names no source) or a tag over no source: nothing was read.
      const read = p === undefined || tagSources?.length === 0 ? [] : leavesOf(p);
      const out: ExplainedLeaf = {
        matched: p !== undefined && evaluate({ ...a.c, program: p }, a.row, true),
        leaf: leafJson(l),
        servedFrom: a.servedFrom(read[0] ?? -1),
        window: { after: iso(w.after), before: iso(w.before) },
      };
      if (l.times) out.count = read.length > 0 && !Number.isNaN(a.row[read[0]!]!) ? a.row[read[0]!]! : 0;
      else {
        let t = NaN;
        for (const i of read) if (!Number.isNaN(a.row[i]!) && !(a.row[i]! <= t)) t = a.row[i]!;
        out.time = Number.isNaN(t) ? null : formatTime(t);
      }
      if (tagSources) out.sources = tagSources;
      return out;
    }
    if ('not' in f) {
      const n = walk(f.not);
      return { matched: !n.matched, not: n };
    }
    if ('and' in f) {
      const ms = f.and.map(walk);
      return { matched: ms.every((m) => m.matched), and: ms };
    }
    const ms = f.or.map(walk);
    return { matched: ms.some((m) => m.matched), or: ms };
  };
  const tree = walk(a.filter);
  // A filter naming no source (only tags no source carries) has an empty universe.
  const inUniverse = a.known && a.c.sources.length > 0;
  return { matched: inUniverse && tree.matched, inUniverse, tree };
}

/** The registered filters a user matches, and those not evaluated with why. */
export interface UserFilters {
  matched: string[];
  skipped: { id: string; reason: string; sources: string[] }[];
}

/**
 * Evaluates prepared filters for one user with one hot read: every filter's latest-time leaves,
 * deduplicated by source and index, and each named source's `any` index (the user is in a
 * filter's universe when any of its sources has a time there), in one HotLookup.scores call
 * (one read per source); count leaves of every filter from the hot counts or one history query (counts.ts).
 */
export async function usersFilters(
  filters: readonly { id: string; c: Compiled; leaves: FilterPlan['leaves']; sources: IndexSource[] }[],
  userId: string,
  hot: HotLookup,
  history: HistoryLookup,
  skipped: UserFilters['skipped'],
  now: number,
): Promise<UserFilters> {
  const reads: { source: IndexSource; index: string }[] = [];
  const at = new Map<string, number>();
  const slot = (source: IndexSource, index: string): number => {
    const key = `${sourceName(source)}|${index}`;
    let i = at.get(key);
    if (i === undefined) at.set(key, (i = reads.push({ source, index }) - 1));
    return i;
  };
  const counted: FilterPlan['leaves'] = [];
  const plans = filters.map((f) => ({
    ...f,
    slots: f.leaves.map((l) => (l.count ? -1 - (counted.push(l) - 1) : slot(l.source, l.index))),
    any: f.sources.map((s) => slot(s, 'any')),
  }));
  const [scores, counts] = await Promise.all([
    reads.length > 0 ? hot.scores(reads, [], [userId]) : undefined,
    countValues(hot, history, counted, [userId], now),
  ]);
  const matched: string[] = [];
  for (const f of plans) {
    if (f.sources.length === 0) continue;
    const row = f.slots.map((s) => (s >= 0 ? scores!.latest[s]! : counts.values[-1 - s]!));
    const known = f.any.some((s) => !Number.isNaN(scores!.latest[s]!));
    if (evaluate(f.c, row, known)) matched.push(f.id);
  }
  return { matched, skipped };
}

