/**
 * The tiers, written once: every list of them (the state machine's states, the API's enums,
 * the overview's counts) is this one, in this order.
 */
export const TIERS = ['hot', 'demoting', 'expired', 'restoring'] as const;

/** A source's tier (core/tiers/machine.ts: the transitions between them). */
export type Tier = (typeof TIERS)[number];

/** The tiers a source passes through while its data moves: few sources are in them at a time. */
export const MOVING_TIERS: readonly Tier[] = ['restoring', 'demoting'];
