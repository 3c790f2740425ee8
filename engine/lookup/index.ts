/** Retargeting lookups (check, count, audience) over the hot index or the history. */
export { createLookup, LookupError, type Lookup } from './lookup.js';
export type { Explained, ExplainedLeaf, ExplainedNode, UserFilters } from './explain.js';
