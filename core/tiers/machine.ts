/**
 * The tier state machine: the one page that says which tier a source may move to, when, and why.
 *
 * A source's data lives in the hot tier (Redis) or only in history (ClickHouse). Every change of
 * `SourceRecord.tier` goes through `transition()` below (the record's first tier through
 * `newSourceRecord()`), which refuses a change not in `TIER_TRANSITIONS` with an
 * `IllegalTransitionError` (code 'illegal_transition'). The tier manager (engine/tiers/)
 * decides *when* to transition: each transition is a compare-and-set on the registry, so with
 * several processes exactly one makes it, and the winner holds a lease while it works.
 *
 *                         (none)
 *                           | created
 *                           v
 *                      +---------+
 *            +-------->|   hot   |---------+
 *            |         +---------+         |
 *     restore_finished                   demote
 *            |                             v
 *     +-------------+ --+           +-------------+ --+
 *     |  restoring  |   |           |  demoting   |   | demotion_resumed
 *     +-------------+ <-+           +-------------+ <-+ (lapsed lease)
 *            ^     restore_resumed         |
 *            |     (lapsed lease)          | demotion_finished
 *         restore                          v
 *            |                      +-------------+
 *            +----------------------|   expired   |
 *                                   +-------------+
 *
 * The transitions (from -> to, event: reason):
 *
 *   (none)    -> hot        created:            an unknown source is first seen: its first event
 *                                               (registry ensure), a PUT of its lifecycle, or a
 *                                               filter pinning it.
 *   hot       -> demoting   demote:             expired (stopped, unpinned, expiresAt passed; found
 *                                               by the scan) or demote requested (admin, forced
 *                                               even if active or pinned). Takes a lease.
 *   demoting  -> demoting   demotion_resumed:   resumed after a lapsed demotion: the claim's lease
 *                                               ran out (its process died); another process (or
 *                                               the same one) claims it again and redoes the work.
 *   demoting  -> expired    demotion_finished:  demotion finished: gate closed, the source's Redis
 *                                               keys unlinked; only the lease owner. Drops the lease.
 *   expired   -> restoring  restore:            restore requested: set active, pinned by a filter,
 *                                               restored by the API (one or bulk), or asked for
 *                                               during the demotion (pendingRestore), which starts
 *                                               when the demotion finishes or on the next scan.
 *                                               Takes a lease, clears pendingRestore.
 *   restoring -> restoring  restore_resumed:    resumed after a lapsed restore: the claim's lease
 *                                               ran out; the restore starts over under a new lease.
 *   restoring -> hot        restore_finished:   restore finished: the history aggregate is in
 *                                               Redis and the gate open; only the lease owner.
 *                                               Drops the lease; the expiry clock restarts.
 *
 * Not transitions (the tier stays as it is):
 *   - A restore asked for while demoting sets `pendingRestore` on the demoting record; the tier
 *     changes only at demotion finished, then by expired -> restoring above.
 *   - The Redis-loss rebuild closes the gates of demoting and expired sources and refills hot
 *     and restoring ones from history; it changes no record.
 *   - Lifecycle and pin changes recompute `expiresAt` only (`recompute` in rules.ts); a demotion
 *     or restore they lead to is one of the transitions above.
 *
 * Any other change (hot -> restoring, expired -> hot, restoring -> demoting, ...) throws.
 */
import type { Duration } from '../duration.js';
import { sourceName } from '../sources.js';
import { TierstreamError } from '../errors.js';
import type { SourceRecord, SourceRef, Tier } from '../types.js';
import { MAX_TRANSITIONS, expiresAt } from './rules.js';


/** The tier a new record starts in. */
export const INITIAL_TIER = 'hot' satisfies Tier;

/** The event that causes a transition. */
export type TierEvent = 'created' | 'demote' | 'demotion_resumed' | 'demotion_finished' | 'restore' | 'restore_resumed' | 'restore_finished';

export interface TierTransition {
  /** null: the record does not exist yet. */
  from: Tier | null;
  to: Tier;
  event: TierEvent;
  /** Why it is taken, in general (each audit entry's own reason says why that time). */
  reason: string;
}

const TABLE: TierTransition[] = [
  { from: null, to: 'hot', event: 'created', reason: 'first seen: its first event, a PUT of its lifecycle, or a filter pinning it' },
  { from: 'hot', to: 'demoting', event: 'demote', reason: 'expired or demote requested' },
  { from: 'demoting', to: 'demoting', event: 'demotion_resumed', reason: 'resumed after a lapsed demotion' },
  { from: 'demoting', to: 'expired', event: 'demotion_finished', reason: 'demotion finished' },
  { from: 'expired', to: 'restoring', event: 'restore', reason: 'restore requested (set active, pinned, API restore, or pendingRestore after a demotion)' },
  { from: 'restoring', to: 'restoring', event: 'restore_resumed', reason: 'resumed after a lapsed restore' },
  { from: 'restoring', to: 'hot', event: 'restore_finished', reason: 'restore finished' },
];

/** Every allowed transition; anything else is an IllegalTransitionError. */
export const TIER_TRANSITIONS: readonly Readonly<TierTransition>[] = Object.freeze(TABLE.map((t) => Object.freeze(t)));

/** A tier change not in TIER_TRANSITIONS. */
export class IllegalTransitionError extends TierstreamError<'illegal_transition'> {
  constructor(
    readonly from: Tier | null,
    readonly to: Tier,
    /** The source, when there is a record. */
    readonly source?: string,
    options?: { cause?: unknown },
  ) {
    super('illegal_transition', `illegal tier transition ${from ?? '(none)'} -> ${to}${source ? ` for ${source}` : ''}`, options);
  }
}

/** The table's entry for from -> to, or undefined when it is not allowed. */
export function findTransition(from: Tier | null, to: Tier): TierTransition | undefined {
  return TIER_TRANSITIONS.find((t) => t.from === from && t.to === to);
}

/** The table's entry for from -> to; throws IllegalTransitionError when it is not allowed. */
export function assertTransition(from: Tier | null, to: Tier, source?: SourceRef): TierTransition {
  const t = findTransition(from, to);
  if (!t) throw new IllegalTransitionError(from, to, source && sourceName(source));
  return t;
}

/**
 * The record after a tier transition, with `reason` in its audit trail (the last
 * MAX_TRANSITIONS kept) and expiresAt recomputed. The only place a record's tier changes;
 * throws IllegalTransitionError for a transition not in TIER_TRANSITIONS.
 */
export function transition(rec: SourceRecord, to: Tier, reason: string, now: number, expireAfter: Duration): SourceRecord {
  assertTransition(rec.tier, to, rec);
  const next: SourceRecord = {
    ...rec,
    tier: to,
    transitions: [...rec.transitions, { tier: to, at: now, reason }].slice(-MAX_TRANSITIONS),
  };
  return { ...next, expiresAt: expiresAt(next, expireAfter) };
}

/** A new source: active and in the initial tier (hot), its creation the first audit entry. */
export function newSourceRecord(source: SourceRef, now: number, reason = 'created by first event'): SourceRecord {
  const tier = assertTransition(null, INITIAL_TIER, source).to;
  return {
    kind: source.kind,
    id: source.id,
    status: 'active',
    tier,
    name: null,
    tags: [],
    stoppedAt: null,
    expiresAt: null,
    pinnedBy: [],
    lastUnpinAt: null,
    restore: null,
    lease: null,
    pendingRestore: false,
    transitions: [{ tier, at: now, reason }],
    createdAt: now,
  };
}
