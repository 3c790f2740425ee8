/** The tier manager (expiry, demotion, restore, Redis-loss rebuild). */
export { createTierManager, TierError, type TierManager, type TierManagerOptions, type Lifecycle } from './tier-manager.js';
export { removeSource, RemovalError } from './removal.js';
