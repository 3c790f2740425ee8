/**
 * The domain room: types and ports, source names and ids, time and durations, event
 * validation, index names, the fold, the filter grammar and program, the tier rules and state
 * machine. It imports nothing of ours; every other room may import it, through this file.
 */
export * from './errors.js';
export * from './metrics.js';
export * from './types.js';
export * from './hash.js';
export * from './sources.js';
export * from './time.js';
export * from './duration.js';
export * from './deadline.js';
export * from './retry.js';
export * from './pool.js';
export * from './renew.js';
export * from './readiness.js';
export * from './pressure.js';
export * from './validate.js';
export * from './event-schema.js';
export * from './index-names.js';
export * from './fold.js';
export * from './filter/grammar.js';
export * from './filter/schema.js';
export * from './filter/program.js';
export * from './tiers/tiers.js';
export * from './filter/counts.js';
export * from './tiers/rules.js';
export * from './tiers/machine.js';
export * from './tiers/notices.js';
export * from './tiers/expiring.js';
export * from './erasure.js';
export * from './overview.js';
export * from './limits.js';
export * from './mirror.js';
export * from './ingest.js';
export * from './mappings/mapped.js';
export * from './mappings/braze-currents.js';
export * from './mappings/segment.js';
