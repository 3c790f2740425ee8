export { createLookup, LookupError, type Lookup, type HotLookup, type HistoryLookup } from './lookup.js';
export { compile, evaluate, leafIndex, type Compiled, type CompiledLeaf, type Program } from './evaluate.js';
