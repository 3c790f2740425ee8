import type { FilterPlan, Program } from '../../core/index.js';

/** What a step needs of a plan's leaf: its half-open window. */
export type StepLeaf = Pick<FilterPlan['leaves'][number], 'after' | 'before'>;

/**
 * Translates a core filter Program into lua/filter_set.lua's postfix steps (see its header
 * for the step grammar). `count` is the number of steps, one scratch key each.
 */
export function filterSteps(program: Program, leaves: readonly StepLeaf[]): { steps: (string | number)[]; count: number } {
  const steps: (string | number)[] = [];
  let count = 0;
  const emit = (p: Program): void => {
    count++;
    if ('leaf' in p) {
      const l = leaves[p.leaf]!;
      // "NaN" is no ZRANGE bound; the grammar keeps bounds finite or infinite, never NaN.
      if (Number.isNaN(l.after) || Number.isNaN(l.before)) throw new RangeError(`leaf ${p.leaf}: a bound is not a number`);
      const min = l.after === -Infinity ? '-inf' : String(Math.ceil(l.after));
      const max = l.before === Infinity ? '+inf' : `(${Math.ceil(l.before)}`;
      steps.push('L', p.leaf, min, max);
    } else if ('not' in p) {
      emit(p.not);
      steps.push('N');
    } else {
      const members = 'and' in p ? p.and : p.or;
      members.forEach(emit);
      steps.push('and' in p ? 'A' : 'O', members.length);
    }
  };
  emit(program);
  return { steps, count };
}
