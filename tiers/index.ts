/** The tier manager (expiry, demotion, restore, Redis-loss rebuild). */
export { createTierManager, TierError, type TierManager, type TierManagerOptions, type Lifecycle } from './tier-manager.js';
export { createNotifier, type Notifier, type NoticeChannel } from './notifier.js';
export { createErasures, ErasureError, type Erasures, type ErasureStore } from './erasures.js';
export { removeSource, RemovalError } from './removal.js';
