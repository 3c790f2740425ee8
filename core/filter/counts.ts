import { addDuration, parseDuration, type Duration } from '../duration.js';
import { COUNT_HORIZON_DAYS, FilterError, type Filter, type Leaf } from './grammar.js';

const negate = (d: Duration): Duration =>
  Object.fromEntries(Object.entries(d).map(([k, v]) => [k, -v])) as unknown as Duration;

/** A leaf's half-open window [after, before) at `now`: `within: D` is after = now - D (months by the UTC calendar). */
export function leafWindow(leaf: Leaf, now: number): { after: number; before: number } {
  const after = leaf.within !== undefined ? addDuration(now, negate(parseDuration(leaf.within)!)) : leaf.after ?? -Infinity;
  return { after, before: leaf.before ?? Infinity };
}

/** Whether a filter has a count leaf (`times`): `count` and `audience` answer such filters from history. */
export function hasCountLeaves(f: Filter): boolean {
  if ('leaf' in f) return f.leaf.times !== undefined;
  if ('not' in f) return hasCountLeaves(f.not);
  return ('and' in f ? f.and : f.or).some(hasCountLeaves);
}

/**
 * Refuses a count leaf whose window starts more than COUNT_HORIZON_DAYS before `now` (an
 * `after` fixed when the filter was written drifts out of the horizon as time passes): throws
 * FilterError naming the leaf's path, as parseFilter writes it (`filter.and[1].after`).
 */
export function checkCountHorizon(f: Filter, now: number, path = 'filter'): void {
  if ('leaf' in f) {
    if (f.leaf.times === undefined) return;
    const { after } = leafWindow(f.leaf, now);
    if (!(after >= now - COUNT_HORIZON_DAYS * 86_400_000)) {
      throw new FilterError(`${path}.${f.leaf.within !== undefined ? 'within' : 'after'}`, `a count leaf's window starts at most ${COUNT_HORIZON_DAYS} days before now (history keeps more, but counts are served over ${COUNT_HORIZON_DAYS} days at most)`);
    }
    return;
  }
  if ('not' in f) return checkCountHorizon(f.not, now, `${path}.not`);
  const k = 'and' in f ? 'and' : 'or';
  ('and' in f ? f.and : f.or).forEach((m, i) => checkCountHorizon(m, now, `${path}.${k}[${i}]`));
}
