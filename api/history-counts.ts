import { sourceName, type History, type SourceRecord } from '../core/index.js';

/**
 * `counts.history` of state answers and listings (GET /v1/campaigns/:id, the /v1/sources pages)
 * without a `uniqExact` over the source's events on every read: the console asks every 5 s per
 * open tab (every second during a restore), and the count costs 0.2-0.5 s at 400,000 events.
 *
 * A count is reused for COST_FACTOR times what it cost, at most MAX_AGE_MS: a count of a few
 * milliseconds (a small source) is fresh within a fraction of a second, one of 0.5 s is reused
 * for 25 s, so a source's counts take at most about 2% of a ClickHouse query's time however
 * often it is read. A source whose record shows a transition the count did not see (a demotion,
 * a restore) is recounted at once. The count is exact as of when it was taken; an event stored
 * or an erasure done since shows within that age. Counts live in the API process, per History.
 */
export const COST_FACTOR = 50;
export const MAX_AGE_MS = 30_000;
/** Sources remembered; past it, expired counts are dropped first, then all. */
const MAX_ENTRIES = 50_000;

interface Entry {
  n: number;
  until: number;
  /** The record's last transition, and the erasures finished, when counted. */
  seen: string;
}

type Counting = Pick<History, 'countEvents' | 'countEventsBySource'>;

const lastTransition = (rec: SourceRecord) => {
  const t = rec.transitions[rec.transitions.length - 1];
  return t ? `${t.tier}@${t.at}` : '';
};

export class HistoryCounts {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly history: Counting,
    private readonly now: () => number = Date.now,
    /** Changes when an erasure finishes (Erasures.finished): every count taken before is stale. */
    private readonly erasures: () => number = () => 0,
  ) {}

  /** Events in history of each record's source, by source name: one grouped query for those without a fresh count. */
  async of(recs: readonly SourceRecord[]): Promise<Map<string, number>> {
    const t = this.now();
    const finished = this.erasures();
    const seen = (rec: SourceRecord) => `${lastTransition(rec)}|${finished}`;
    const out = new Map<string, number>();
    const stale: SourceRecord[] = [];
    for (const rec of recs) {
      const e = this.entries.get(sourceName(rec));
      if (e && e.until > t && e.seen === seen(rec)) out.set(sourceName(rec), e.n);
      else stale.push(rec);
    }
    if (stale.length === 0) return out;
    const started = performance.now();
    const counted =
      stale.length === 1
        ? new Map([[sourceName(stale[0]!), await this.history.countEvents(stale[0]!)]])
        : await this.history.countEventsBySource(stale);
    const until = this.now() + Math.min(MAX_AGE_MS, (performance.now() - started) * COST_FACTOR);
    if (this.entries.size + stale.length > MAX_ENTRIES) this.prune(t);
    for (const rec of stale) {
      const name = sourceName(rec);
      const n = counted.get(name) ?? 0;
      this.entries.delete(name); // re-inserted last: the map stays in order of counting
      this.entries.set(name, { n, until, seen: seen(rec) });
      out.set(name, n);
    }
    return out;
  }

  async one(rec: SourceRecord): Promise<number> {
    return (await this.of([rec])).get(sourceName(rec)) ?? 0;
  }

  private prune(t: number): void {
    for (const [name, e] of this.entries) if (e.until <= t) this.entries.delete(name);
    if (this.entries.size > MAX_ENTRIES / 2) this.entries.clear();
  }
}

const byHistory = new WeakMap<Counting, HistoryCounts>();

/** The counts of one History (one per store connection, so per namespace); `erasures` as HistoryCounts takes it. */
export function historyCounts(history: Counting, erasures?: () => number): HistoryCounts {
  let c = byHistory.get(history);
  if (!c) byHistory.set(history, (c = new HistoryCounts(history, Date.now, erasures)));
  return c;
}
