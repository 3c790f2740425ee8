export { createTierManager, TierError, type TierManager, type TierManagerOptions, type Lifecycle } from './tier-manager.js';
export { createFilterService, type FilterService, type FilterDoc, type FilterStore } from './filters.js';
export { expiresAt, isDue, withTier, recompute, newSourceRecord } from './rules.js';
