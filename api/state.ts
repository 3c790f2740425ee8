import { formatTime, restoreEtaSeconds, restoreWaiting, sourceName, type History, type HotIndex, type SourceRecord } from '../core/index.js';

const iso = (ms: number | null) => (ms === null ? null : formatTime(ms));

/** A source's state as the API answers it (docs/api.md, "Routes"), from a registry record and the counts. */
export function sourceState(rec: SourceRecord, counts: { hot: number | null; history: number }) {
  return {
    id: rec.id,
    kind: rec.kind,
    name: rec.name,
    tags: rec.tags,
    status: rec.status,
    tier: rec.tier,
    stoppedAt: iso(rec.stoppedAt),
    expiresAt: iso(rec.expiresAt),
    pinnedBy: rec.pinnedBy,
    restore: rec.restore && {
      startedAt: iso(rec.restore.startedAt),
      finishedAt: iso(rec.restore.finishedAt),
      progress: rec.restore.progress,
      etaSeconds: restoreEtaSeconds(rec, Date.now()),
      waiting: restoreWaiting(rec, Date.now()),
    },
    transitions: rec.transitions.map((t) => ({ tier: t.tier, at: iso(t.at), reason: t.reason })),
    counts,
  };
}

/** The stores a state is read from. */
type Stores = { hot: HotIndex; history: History };

/**
 * One source's state, with its counts. `history` is the count history maintains as it stores
 * events (History.countEvents: a few rows read, milliseconds at any size, docs/design.md,
 * "History counts"), read at each request: an event stored or an erasure done shows at once.
 */
export async function stateOf(stores: Stores, rec: SourceRecord) {
  const [hot, history] = await Promise.all([rec.tier === 'hot' ? stores.hot.countUsers(rec) : null, stores.history.countEvents(rec)]);
  return sourceState(rec, { hot, history });
}

/**
 * The states of a page of sources, with their counts read in one grouped ClickHouse query and
 * one pipelined Redis read for the page, not two calls per source.
 */
export async function statesOf(stores: Stores, recs: readonly SourceRecord[]) {
  if (recs.length === 0) return [];
  const hot = recs.filter((r) => r.tier === 'hot');
  const [users, events] = await Promise.all([
    hot.length ? stores.hot.countUsersBySource(hot) : new Map<string, number>(),
    stores.history.countEventsBySource(recs),
  ]);
  return recs.map((r) => {
    const name = sourceName(r);
    return sourceState(r, { hot: r.tier === 'hot' ? users.get(name) ?? 0 : null, history: events.get(name) ?? 0 });
  });
}
