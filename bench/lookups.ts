import type { Benchmark } from './types.js';

/** Placeholder: being written. */
export const lookups: Benchmark = {
  name: 'lookups',
  question: 'TODO',
  options: {},
  async run() {
    throw new Error('not written yet');
  },
};
