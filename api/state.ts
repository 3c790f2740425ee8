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

/** Count reads under way, per History and set of sources (inFlightCounts). */
const reading = new WeakMap<History, Map<string, Promise<Map<string, number>>>>();

/**
 * History's maintained counts of `recs` (History.countEventsBySource: a few rows read,
 * milliseconds at any size, docs/design.md, "History counts"), read at each request, so an
 * event stored or an erasure done shows at once. A read asked while the same one is under way
 * shares it instead of sending its own: a burst of 200 GETs of one source (a console's tabs, a
 * script) is one ClickHouse query, not 200 queued behind the client's 8 connections.
 */
function inFlightCounts(history: History, recs: readonly SourceRecord[]): Promise<Map<string, number>> {
  let map = reading.get(history);
  if (!map) reading.set(history, (map = new Map()));
  const key = recs.map(sourceName).sort().join(',');
  let p = map.get(key);
  if (!p) {
    const m = map;
    p = history.countEventsBySource(recs).finally(() => m.delete(key));
    map.set(key, p);
  }
  return p;
}

/** One source's state, with its counts (`history`: inFlightCounts). */
export async function stateOf(stores: Stores, rec: SourceRecord) {
  const [hot, counts] = await Promise.all([rec.tier === 'hot' ? stores.hot.countUsers(rec) : null, inFlightCounts(stores.history, [rec])]);
  return sourceState(rec, { hot, history: counts.get(sourceName(rec)) ?? 0 });
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
    inFlightCounts(stores.history, recs),
  ]);
  return recs.map((r) => {
    const name = sourceName(r);
    return sourceState(r, { hot: r.tier === 'hot' ? users.get(name) ?? 0 : null, history: events.get(name) ?? 0 });
  });
}
