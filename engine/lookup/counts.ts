import { ANY_MESSAGE, type FilterPlan, type HistoryLookup, type HotLookup } from '../../core/index.js';

/** Where a leaf's value came from. */
export type ServedFrom = 'hot' | 'history';

/**
 * The count leaves' values for `users` (docs/filters.md, "Count leaves"): from the hot counts
 * (docs/design.md, "Hot counts") when a leaf's window starts within their horizon and every
 * source it counts holds its events that far back, else from history, in one query for every
 * leaf left (sent after the Redis read, only when one is left). `values[u * leaves.length + i]`
 * is NaN for a leaf that is not a count leaf; `from[i]` where count leaf i was served from.
 */
export async function countValues(
  hot: HotLookup, history: HistoryLookup, leaves: FilterPlan['leaves'], users: readonly string[], now: number,
): Promise<{ values: Float64Array; from: (ServedFrom | undefined)[] }> {
  const width = leaves.length;
  const values = new Float64Array(users.length * width).fill(NaN);
  const from: (ServedFrom | undefined)[] = new Array(width).fill(undefined);
  const counted: number[] = [];
  leaves.forEach((l, i) => l.count && counted.push(i));
  if (counted.length === 0 || users.length === 0) {
    for (const i of counted) from[i] = 'hot';
    return { values, from };
  }
  const horizon = hot.countHorizonMs > 0 ? now - hot.countHorizonMs : Infinity;
  const hotAt = counted.filter((i) => leaves[i]!.after >= horizon);
  let rest = counted;
  if (hotAt.length > 0) {
    const r = await hot.counts(
      hotAt.map((i) => {
        const l = leaves[i]!;
        return { sources: l.count!.sources.length ? l.count!.sources : [ANY_MESSAGE], index: l.index, after: l.after, before: l.before };
      }),
      users,
    );
    hotAt.forEach((i, j) => {
      if (!r.complete[j]) return;
      from[i] = 'hot';
      for (let u = 0; u < users.length; u++) values[u * width + i] = r.counts[u * hotAt.length + j]!;
    });
    rest = counted.filter((i) => from[i] === undefined);
  }
  if (rest.length === 0) return { values, from };
  const read = await history.leafCounts(rest.map((i) => leaves[i]!), users);
  for (const i of rest) from[i] = 'history';
  for (let u = 0; u < users.length; u++) {
    const n = read.get(users[u]!);
    // A user history has no row for counts 0 everywhere.
    rest.forEach((i, j) => (values[u * width + i] = n ? n[j]! : 0));
  }
  return { values, from };
}
