import type { Benchmark } from './types.js';

/** Placeholder: being written. */
export const tiers: Benchmark = {
  name: 'tiers',
  question: 'TODO',
  options: {},
  async run() {
    throw new Error('not written yet');
  },
};
