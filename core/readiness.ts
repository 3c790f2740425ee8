/**
 * Readiness: named checks, each null when healthy or what is wrong. `/readyz` answers 503
 * `hot_tier_rebuilding` (not `not_ready`) when the hot tier's check says REBUILDING.
 */
export type Readiness = Record<string, string | null>;

/** What the hot tier's readiness check reports while Redis is rebuilt from history. */
export const REBUILDING = 'rebuilding from history';
