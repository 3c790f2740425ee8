import { indexName } from './index-names.js';
import { sourceName, type InteractionEvent, type SourceFold } from './types.js';

function put(indexes: Map<string, Map<string, number>>, name: string, user: string, time: number): void {
  let users = indexes.get(name);
  if (!users) indexes.set(name, (users = new Map()));
  const prev = users.get(user);
  if (prev === undefined || time > prev) users.set(user, time);
}

/**
 * Folds events into one write per source, index and user: the latest time wins. The result is
 * the same for any order and any duplication of the events, and merging two folds with max
 * equals folding the concatenation; that is what makes replays harmless.
 */
export function foldEvents(events: Iterable<InteractionEvent>): SourceFold[] {
  const bySource = new Map<string, SourceFold>();
  for (const e of events) {
    const name = sourceName(e.source);
    let fold = bySource.get(name);
    if (!fold) bySource.set(name, (fold = { source: e.source, indexes: new Map() }));
    put(fold.indexes, indexName.any, e.userId, e.time);
    put(fold.indexes, indexName.type(e.type), e.userId, e.time);
    if (e.variantId !== undefined) put(fold.indexes, indexName.variant(e.variantId, e.type), e.userId, e.time);
    if (e.stepId !== undefined) put(fold.indexes, indexName.step(e.stepId, e.type), e.userId, e.time);
  }
  return [...bySource.values()];
}
