/**
 * Tier rules: expiry, due, lease. Which tier changes are allowed, and the one function that makes
 * them, are in machine.ts.
 */

import { addDuration, type Duration } from '../duration.js';
import type { SourceRecord } from '../types.js';

/** Transitions kept in a record's audit trail. */
export const MAX_TRANSITIONS = 100;

/**
 * The expiry (docs/operating.md, "Tiers: how they work"): for a stopped, unpinned source,
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

/** The record with expiresAt recomputed after a lifecycle or pin change. */
export function recompute(rec: SourceRecord, expireAfter: Duration): SourceRecord {
  return { ...rec, expiresAt: expiresAt(rec, expireAfter) };
}

/** True when a demotion or restore claim has lapsed (its process stopped renewing it). */
export function leaseLapsed(rec: SourceRecord, now: number): boolean {
  return rec.lease === null || rec.lease.until <= now;
}

/**
 * Seconds a restore still needs, estimated from its progress so far at a constant rate: at the
 * last progress report, (report - start) x (1 - progress) / progress were left, less the time
 * since that report; rounded up. Null when the source is not restoring or no chunk has been
 * written yet (no rate to go by). Progress is reported about every 250 ms, so measuring the rate
 * at the report, not at `now`, keeps a stale progress from stretching the estimate (measured:
 * bench/HISTORY.md, "Sizes: 100k, 1M and 5M, idle and under ingest, with the restore ETA
 * (session 3)"). Records without `progressAt` (earlier versions) use `now`.
 */
export function restoreEtaSeconds(rec: SourceRecord, now: number): number | null {
  const r = rec.restore;
  if (rec.tier !== 'restoring' || !r || r.finishedAt !== null || !(r.progress > 0)) return null;
  if (r.progress >= 1) return 0;
  const at = r.progressAt ?? now;
  const left = (Math.max(0, at - r.startedAt) * (1 - r.progress)) / r.progress - Math.max(0, now - at);
  return Math.max(0, Math.ceil(left / 1000));
}

/**
 * Why a restore is not moving, in words for people, or null when it is (or the source is not
 * restoring): its process stopped renewing its claim (stopped or stalled: another process takes
 * the restore over at its next scan and continues where the last chunk written ends), or what
 * its process last reported waiting for (a store that does not answer).
 */
export function restoreWaiting(rec: SourceRecord, now: number): string | null {
  const r = rec.restore;
  if (rec.tier !== 'restoring' || !r || r.finishedAt !== null) return null;
  if (leaseLapsed(rec, now)) {
    const since = rec.lease ? ` ${Math.max(0, Math.round((now - rec.lease.until) / 1000))} s ago` : '';
    const from = r.resume ? `from the ${r.resume.rows.toLocaleString('en-US')} rows already written` : 'from the start';
    return `its claim lapsed${since}: the process running it stopped or stalled; another process takes the restore over and continues ${from}`;
  }
  return r.waiting ?? null;
}
