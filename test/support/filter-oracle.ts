/**
 * The filter contract read literally, for brute-force oracles of integration tests: the
 * combinators over a leaf predicate the test writes for its own events, and a leaf's window.
 */

/** Windows the random filters of the tests use, ms. */
export const WITHIN_MS: Readonly<Record<string, number>> = { P3D: 72 * 3_600_000, PT36H: 36 * 3_600_000, P7D: 168 * 3_600_000 };

/** A leaf's window [after, before) at `now`: `within` from now, else `after`; `before` as given. */
export function leafWindow(f: { within?: string; after?: string; before?: number | string }, now: number): { after: number; before: number } {
  const after = f.within !== undefined ? now - WITHIN_MS[f.within]! : f.after !== undefined ? Date.parse(f.after) : -Infinity;
  const before = f.before !== undefined ? Number(f.before) : Infinity;
  return { after, before };
}

/**
 * A random filter tree over `leaf`: and/or of 1 to 3 members and not, at most 3 levels deep,
 * `rand` drawn in the same order for the same tree (the tests' seeds keep their filters).
 */
export function randomFilter(rand: () => number, leaf: () => Record<string, unknown>, depth = 0): Record<string, unknown> {
  const r = rand();
  if (depth >= 3 || r < 0.35) return leaf();
  if (r < 0.6) return { and: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomFilter(rand, leaf, depth + 1)) };
  if (r < 0.85) return { or: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomFilter(rand, leaf, depth + 1)) };
  return { not: randomFilter(rand, leaf, depth + 1) };
}

/**
 * The users of `universe` matching `filter`: and/or/not over `leaf`, a `not` ranging over the
 * universe only (so no stranger ever matches).
 */
export function matchingUsers(filter: unknown, universe: ReadonlySet<string>, leaf: (f: any, user: string) => boolean): Set<string> {
  const match = (f: any, user: string): boolean => {
    if (f.and) return f.and.every((m: unknown) => match(m, user));
    if (f.or) return f.or.some((m: unknown) => match(m, user));
    if (f.not) return !match(f.not, user);
    return leaf(f, user);
  };
  return new Set([...universe].filter((u) => match(filter, u)));
}
