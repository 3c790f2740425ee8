/** Erasures: a user's data removed from history and the hot index, fenced against ingest and restores. */
export { createErasures, ErasureError, type Erasures, type ErasureStore } from './erasures.js';
