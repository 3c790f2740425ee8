import { sourceName } from './sources.js';
import { restoreEtaSeconds } from './tiers/rules.js';
import type { SourceKind, SourceRecord, Tier } from './types.js';

const TIERS: readonly Tier[] = ['hot', 'demoting', 'expired', 'restoring'];

export type TierCounts = Record<Tier, number>;

/** One recorded tier transition, with its source: what the overview lists, newest first. */
export interface SourceTransition {
  source: string;
  name: string | null;
  tier: Tier;
  at: number;
  reason: string;
}

/** What the overview says of the sources, from registry records alone (no store call). */
export interface SourcesSummary {
  total: number;
  tiers: TierCounts;
  kinds: Record<SourceKind, TierCounts>;
  /** Every source being restored, by progress, with its estimate (seconds left, null: none yet). */
  restoring: { source: string; name: string | null; startedAt: number | null; progress: number; etaSeconds: number | null }[];
  /** The `transitions` newest transitions over every source. */
  transitions: SourceTransition[];
}

const zero = (): TierCounts => ({ hot: 0, demoting: 0, expired: 0, restoring: 0 });

/**
 * Counts per tier (and per kind and tier), the sources being restored, and the `transitions`
 * most recent tier transitions across sources (ties by source name). One pass over the
 * records; the transitions of a record are read newest first and left as soon as they are
 * older than the oldest one kept, so a long audit trail costs little.
 */
export function summarizeSources(records: Iterable<SourceRecord>, now: number, transitions: number): SourcesSummary {
  const tiers = zero();
  const kinds: Record<SourceKind, TierCounts> = { campaign: zero(), canvas: zero() };
  const restoring: SourcesSummary['restoring'] = [];
  const recent: SourceTransition[] = [];
  let total = 0;
  // Newest first, then source name: a total order, so the answer does not depend on the records' order.
  const before = (a: SourceTransition, b: SourceTransition) => b.at - a.at || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
  for (const r of records) {
    total++;
    if (!TIERS.includes(r.tier)) continue;
    tiers[r.tier]++;
    kinds[r.kind][r.tier]++;
    const name = sourceName(r);
    if (r.tier === 'restoring') {
      restoring.push({ source: name, name: r.name, startedAt: r.restore?.startedAt ?? null, progress: r.restore?.progress ?? 0, etaSeconds: restoreEtaSeconds(r, now) });
    }
    for (let i = r.transitions.length - 1; i >= 0 && transitions > 0; i--) {
      const t = r.transitions[i]!;
      const item = { source: name, name: r.name, tier: t.tier, at: t.at, reason: t.reason };
      // `recent` stays sorted and at most `transitions` long: older ones of this record cannot enter.
      if (recent.length >= transitions && before(recent[recent.length - 1]!, item) <= 0) break;
      let j = recent.length;
      while (j > 0 && before(item, recent[j - 1]!) < 0) j--;
      recent.splice(j, 0, item);
      if (recent.length > transitions) recent.pop();
    }
  }
  restoring.sort((a, b) => b.progress - a.progress || (a.source < b.source ? -1 : 1));
  return { total, tiers, kinds, restoring, transitions: recent };
}

/**
 * The hot sources to measure in Redis, largest first by users (`users` from the hot index),
 * at most `max`; ties by source name.
 */
export function largestFirst<T extends { source: string; users: number }>(items: readonly T[], max: number): T[] {
  return [...items].sort((a, b) => b.users - a.users || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)).slice(0, max);
}
