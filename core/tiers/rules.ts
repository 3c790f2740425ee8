import { addDuration, type Duration } from '../duration.js';
import type { SourceRecord, SourceRef, Tier } from '../types.js';

/** Transitions kept in a record's audit trail. */
export const MAX_TRANSITIONS = 100;

/**
 * The contract's expiry: for a stopped, unpinned source,
 * max(stoppedAt, end of the last restore, last unpin) + TIER_EXPIRE_AFTER; otherwise null.
 */
export function expiresAt(rec: SourceRecord, expireAfter: Duration): number | null {
  if (rec.status !== 'stopped' || rec.pinnedBy.length > 0 || rec.stoppedAt === null) return null;
  const from = Math.max(rec.stoppedAt, rec.restore?.finishedAt ?? 0, rec.lastUnpinAt ?? 0);
  return addDuration(from, expireAfter);
}

/** A hot source whose expiry has passed. */
export function isDue(rec: SourceRecord, now: number): boolean {
  return rec.tier === 'hot' && rec.expiresAt !== null && rec.expiresAt <= now && rec.pinnedBy.length === 0;
}

/** The record after a tier transition, with its reason in the audit trail and expiresAt recomputed. */
export function withTier(rec: SourceRecord, tier: Tier, reason: string, now: number, expireAfter: Duration): SourceRecord {
  const next: SourceRecord = {
    ...rec,
    tier,
    transitions: [...rec.transitions, { tier, at: now, reason }].slice(-MAX_TRANSITIONS),
  };
  return { ...next, expiresAt: expiresAt(next, expireAfter) };
}

/** The record with expiresAt recomputed after a lifecycle or pin change. */
export function recompute(rec: SourceRecord, expireAfter: Duration): SourceRecord {
  return { ...rec, expiresAt: expiresAt(rec, expireAfter) };
}

/** True when a demotion or restore claim has lapsed (its process stopped renewing it). */
export function leaseLapsed(rec: SourceRecord, now: number): boolean {
  return rec.lease === null || rec.lease.until <= now;
}

/** A new source: active and hot. */
export function newSourceRecord(source: SourceRef, now: number, reason = 'created by first event'): SourceRecord {
  return {
    kind: source.kind,
    id: source.id,
    status: 'active',
    tier: 'hot',
    name: null,
    tags: [],
    stoppedAt: null,
    expiresAt: null,
    pinnedBy: [],
    lastUnpinAt: null,
    restore: null,
    lease: null,
    pendingRestore: false,
    transitions: [{ tier: 'hot', at: now, reason }],
    createdAt: now,
  };
}

