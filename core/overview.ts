import { sourceName } from './sources.js';
import { MAX_TRANSITIONS, restoreEtaSeconds } from './tiers/rules.js';
import type { SourceKind, SourceRecord } from './types.js';
import { TIERS, type Tier } from './tiers/tiers.js';

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
 * Transitions the maintained summary keeps, newest first: the overview lists at most 100; the
 * rest is slack for transitions that leave (a source deleted, an audit trail past its 100).
 */
export const SUMMARY_TRANSITIONS = 1_000;

/** Newest first, then source name: a total order, so the answer does not depend on the records' order. */
const newerFirst = (a: SourceTransition, b: SourceTransition) => b.at - a.at || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
const transitionKey = (source: string, t: { at: number; tier: Tier }) => `${source}@${t.at}:${t.tier}`;

/**
 * What summarizeSources answers, maintained change by change so the overview costs no scan:
 * counts per tier and kind, the restoring sources, and the newest SUMMARY_TRANSITIONS
 * transitions. `apply` costs O(log SUMMARY_TRANSITIONS) per new transition and O(1) otherwise;
 * `summary` O(restoring + transitions).
 *
 * The transitions kept are always the newest ones of all records: a transition that leaves
 * (its source deleted, or cut from a trail past MAX_TRANSITIONS) leaves a shorter list that is
 * still a prefix of the whole order; once one has been dropped for lack of room, a transition
 * older than the oldest kept is not taken (it may not be next). So the list answers exactly
 * while it holds at least what is asked for; after more than 900 departures with no new
 * transitions it would answer fewer than 100 (summarizeSources over full records would not).
 */
export class SourcesSummaryIndex {
  private total = 0;
  private readonly tiers = zero();
  private readonly kinds: Record<SourceKind, TierCounts> = { campaign: zero(), canvas: zero() };
  private readonly restoring = new Map<string, SourceRecord>();
  private readonly recent: SourceTransition[] = [];
  private readonly recentKeys = new Set<string>();
  /** True while no transition seen has been dropped for lack of room. */
  private complete = true;

  /**
   * One record's change: `before` the record as it was applied last (undefined: new), `after`
   * as it is now (null: deleted), `transitions` its full audit trail (a mirror's record may
   * hold less; default after's own).
   */
  apply(before: SourceRecord | undefined, after: SourceRecord | null, transitions: SourceRecord['transitions'] = after?.transitions ?? []): void {
    if (!before && !after) return; // a deletion of a record never applied
    const name = sourceName((after ?? before)!);
    if (before) {
      this.total--;
      if (TIERS.includes(before.tier)) {
        this.tiers[before.tier]--;
        this.kinds[before.kind][before.tier]--;
      }
      this.restoring.delete(name);
    }
    if (!after) {
      this.dropTransitions((t) => t.source === name);
      return;
    }
    this.total++;
    if (TIERS.includes(after.tier)) {
      this.tiers[after.tier]++;
      this.kinds[after.kind][after.tier]++;
      if (after.tier === 'restoring') this.restoring.set(name, after);
    }
    // Deleted and created again (a watch may skip the deletion, seeing only the next revision): a new trail.
    if (before && before.createdAt !== after.createdAt) this.dropTransitions((t) => t.source === name);
    else if (before && before.name !== after.name) {
      for (let i = 0; i < this.recent.length; i++) if (this.recent[i]!.source === name) this.recent[i] = { ...this.recent[i]!, name: after.name };
    }
    if (transitions.length >= MAX_TRANSITIONS) {
      // The trail may have lost its oldest: those leave (by key, not by time: clocks of two processes differ).
      const kept = new Set(transitions.map((t) => transitionKey(name, t)));
      this.dropTransitions((t) => t.source === name && !kept.has(transitionKey(name, t)));
    }
    // The new ones, newest first, until one older than the oldest kept (older ones cannot enter either).
    const fresh: SourceTransition[] = [];
    for (let i = transitions.length - 1; i >= 0; i--) {
      const t = transitions[i]!;
      const item = { source: name, name: after.name, tier: t.tier, at: t.at, reason: t.reason };
      if (!this.takes(item)) break;
      if (!this.recentKeys.has(transitionKey(name, t))) fresh.push(item);
    }
    // Oldest first, each before its equals: two of one source in one millisecond end newest first, as in the trail.
    for (let i = fresh.length - 1; i >= 0; i--) {
      const item = fresh[i]!;
      if (!this.takes(item)) continue;
      let lo = 0;
      let hi = this.recent.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (newerFirst(this.recent[mid]!, item) < 0) lo = mid + 1;
        else hi = mid;
      }
      this.recent.splice(lo, 0, item);
      this.recentKeys.add(transitionKey(name, item));
      if (this.recent.length > SUMMARY_TRANSITIONS) {
        const out = this.recent.pop()!;
        this.recentKeys.delete(transitionKey(out.source, out));
        this.complete = false;
      }
    }
  }

  /** Whether `item` may enter: there is room and nothing was dropped, or it is newer than the oldest kept. */
  private takes(item: SourceTransition): boolean {
    const last = this.recent[this.recent.length - 1];
    return !last || (this.complete && this.recent.length < SUMMARY_TRANSITIONS) || newerFirst(last, item) > 0;
  }

  private dropTransitions(leaves: (t: SourceTransition) => boolean): void {
    let w = 0;
    for (const t of this.recent) {
      if (leaves(t)) this.recentKeys.delete(transitionKey(t.source, t));
      else this.recent[w++] = t;
    }
    this.recent.length = w;
  }

  /** As summarizeSources(records, now, transitions) answers (transitions at most SUMMARY_TRANSITIONS). */
  summary(now: number, transitions: number): SourcesSummary {
    const restoring: SourcesSummary['restoring'] = [];
    for (const [name, r] of this.restoring) {
      restoring.push({ source: name, name: r.name, startedAt: r.restore?.startedAt ?? null, progress: r.restore?.progress ?? 0, etaSeconds: restoreEtaSeconds(r, now) });
    }
    restoring.sort((a, b) => b.progress - a.progress || (a.source < b.source ? -1 : 1));
    const copy = (c: TierCounts): TierCounts => ({ ...c });
    return {
      total: this.total,
      tiers: copy(this.tiers),
      kinds: { campaign: copy(this.kinds.campaign), canvas: copy(this.kinds.canvas) },
      restoring,
      transitions: this.recent.slice(0, Math.min(transitions, SUMMARY_TRANSITIONS)),
    };
  }
}

/**
 * The hot sources to measure in Redis, largest first by users (`users` from the hot index),
 * at most `max`; ties by source name.
 */
export function largestFirst<T extends { source: string; users: number }>(items: readonly T[], max: number): T[] {
  return [...items].sort((a, b) => b.users - a.users || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)).slice(0, max);
}
