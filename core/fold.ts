import { indexName } from './index-names.js';
import { sourceName } from './sources.js';
import { type AggregateRow, type EventType, type InteractionEvent, type SourceFold, type SourceRef } from './types.js';

function put(indexes: Map<string, Map<string, number>>, name: string, user: string, time: number): void {
  let users = indexes.get(name);
  if (!users) indexes.set(name, (users = new Map()));
  const prev = users.get(user);
  if (prev === undefined || time > prev) users.set(user, time);
}

/** One interaction into every index it belongs to: any, its type, its variant's and step's type. */
function putInteraction(
  indexes: Map<string, Map<string, number>>, user: string, type: EventType, variant: string | undefined, step: string | undefined, time: number,
): void {
  put(indexes, indexName.any, user, time);
  put(indexes, indexName.type(type), user, time);
  if (variant !== undefined) put(indexes, indexName.variant(variant, type), user, time);
  if (step !== undefined) put(indexes, indexName.step(step, type), user, time);
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
    putInteraction(fold.indexes, e.userId, e.type, e.variantId, e.stepId, e.time);
  }
  return [...bySource.values()];
}

/**
 * Folds history aggregate rows of one source into the hot index's shape: the restore path.
 * Same indexes and the same max as foldEvents, so a restore merges with live ingest.
 */
export function foldAggregates(source: SourceRef, rows: Iterable<AggregateRow>): SourceFold {
  const fold: SourceFold = { source, indexes: new Map() };
  for (const r of rows) putInteraction(fold.indexes, r.userId, r.type, r.variantId || undefined, r.stepId || undefined, r.time);
  return fold;
}
