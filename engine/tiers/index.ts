/** The tier service: expiry, demotion, restore (resumable), lifecycle and pins, the Redis-loss rebuild, source removal. */
export { createTierManager, type TierManager } from './manager.js';
export { TierError, type TierManagerDeps, type TierManagerOptions, type Lifecycle } from './context.js';
export { copyChunks, type CopySpec, type CopyState, type CopyResume } from './copy.js';
export { removeSource, RemovalError } from './removal.js';
