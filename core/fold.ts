import { fnv1a32 } from './hash.js';
import { indexName } from './index-names.js';
import { sourceName } from './sources.js';
import { ANY_MESSAGE, isAnyMessage, type AggregateRow, type AnyMessageRow, type Channel, type CountMark, type EventType, type IndexSource, type InteractionEvent, type RecentEvent, type SourceFold, type SourceRef } from './types.js';

function put(indexes: Map<string, Map<string, number>>, name: string, user: string, time: number): void {
  let users = indexes.get(name);
  if (!users) indexes.set(name, (users = new Map()));
  const prev = users.get(user);
  if (prev === undefined || time > prev) users.set(user, time);
}

/**
 * Index names of one fold, each built once: a name made per interaction is a fresh string that
 * every Map lookup hashes again (measured: bench/HISTORY.md, "Restore: where the time went (session 3)").
 * Scoped to one fold, so ids of sources long gone are not kept.
 */
class IndexNames {
  private readonly types = new Map<EventType, string>();
  private readonly variants = new Map<string, Map<EventType, string>>();
  private readonly steps = new Map<string, Map<EventType, string>>();
  private readonly channels = new Map<string, Map<EventType, string>>();

  type(type: EventType): string {
    let name = this.types.get(type);
    if (name === undefined) this.types.set(type, (name = indexName.type(type)));
    return name;
  }

  variant(variant: string, type: EventType): string {
    return IndexNames.nested(this.variants, variant, type, indexName.variant);
  }

  step(step: string, type: EventType): string {
    return IndexNames.nested(this.steps, step, type, indexName.step);
  }

  channel(channel: Channel, type: EventType): string {
    return IndexNames.nested(this.channels, channel, type, indexName.channel as (id: string, type: EventType) => string);
  }

  private static nested(cache: Map<string, Map<EventType, string>>, id: string, type: EventType, make: (id: string, type: EventType) => string): string {
    let byType = cache.get(id);
    if (byType === undefined) cache.set(id, (byType = new Map()));
    let name = byType.get(type);
    if (name === undefined) byType.set(type, (name = make(id, type)));
    return name;
  }
}

/** One interaction into every index it belongs to: any, its type, its variant's and step's type. */
function putInteraction(
  indexes: Map<string, Map<string, number>>, names: IndexNames, user: string, type: EventType, variant: string | undefined, step: string | undefined, time: number,
): void {
  put(indexes, indexName.any, user, time);
  put(indexes, names.type(type), user, time);
  if (variant !== undefined) put(indexes, names.variant(variant, type), user, time);
  if (step !== undefined) put(indexes, names.step(step, type), user, time);
}

/** A click's link alias into its source's alias indexes (`a:<alias>`, and the step's). */
function putAlias(indexes: Map<string, Map<string, number>>, user: string, alias: string, step: string | undefined, time: number): void {
  put(indexes, indexName.alias(alias), user, time);
  if (step !== undefined) put(indexes, indexName.stepAlias(step, alias), user, time);
}

/**
 * One event into the any-message pseudo-source (ANY_MESSAGE): its channel's type index (its
 * type's index when it has no channel: `e:<type>` over every channel is read as the latest of
 * both, core anyMessageStored) and a click's alias index, whatever its source.
 */
function putAnyMessage(indexes: Map<string, Map<string, number>>, names: IndexNames, user: string, type: EventType, channel: Channel | undefined, alias: string | undefined, time: number): void {
  put(indexes, indexName.any, user, time);
  if (channel !== undefined) put(indexes, names.channel(channel, type), user, time);
  else put(indexes, names.type(type), user, time);
  if (alias !== undefined) put(indexes, indexName.alias(alias), user, time);
}
function mark(marks: Map<string, CountMark[]>, user: string, m: CountMark): void {
  const list = marks.get(user);
  if (list) list.push(m);
  else marks.set(user, [m]);
}

/**
 * One event's hot-count mark (docs/design.md, "Hot counts") in its source: its type's index,
 * and its variant's and step's type indexes, the indexes a count leaf can name. Repeats (an
 * event twice in a batch) are the same mark, kept once by the store's set merge.
 */
function markInteraction(marks: Map<string, CountMark[]>, names: IndexNames, user: string, type: EventType, variant: string | undefined, step: string | undefined, time: number, id: number): void {
  mark(marks, user, {
    index: names.type(type),
    variant: variant !== undefined ? names.variant(variant, type) : undefined,
    step: step !== undefined ? names.step(step, type) : undefined,
    time,
    id,
  });
}

/** One event's mark in the any-message pseudo-source: in the one index putAnyMessage stores it in. */
function markAnyMessage(marks: Map<string, CountMark[]>, names: IndexNames, user: string, type: EventType, channel: Channel | undefined, time: number, id: number): void {
  mark(marks, user, { index: channel !== undefined ? names.channel(channel, type) : names.type(type), variant: undefined, step: undefined, time, id });
}

/**
 * Folds events into one write per source, index and user: the latest time wins. The result is
 * the same for any order and any duplication of the events, and merging two folds with max
 * equals folding the concatenation; that is what makes replays harmless. With each event's
 * hot-count mark unless `marks` is false (hot counts off: no mark is built to be dropped).
 */
export function foldEvents(events: Iterable<InteractionEvent>, opts: { marks?: boolean } = {}): SourceFold[] {
  const marks = opts.marks ?? true;
  const bySource = new Map<string, SourceFold>();
  const names = new IndexNames();
  // Every event also lands in the any-message pseudo-source, in the same write.
  const any = { source: ANY_MESSAGE, indexes: new Map(), marks: new Map() } satisfies SourceFold;
  for (const e of events) {
    const name = sourceName(e.source);
    let fold = bySource.get(name);
    if (!fold) bySource.set(name, (fold = { source: e.source, indexes: new Map(), marks: new Map() }));
    putInteraction(fold.indexes, names, e.userId, e.type, e.variantId, e.stepId, e.time);
    if (e.linkAlias !== undefined) putAlias(fold.indexes, e.userId, e.linkAlias, e.stepId, e.time);
    putAnyMessage(any.indexes, names, e.userId, e.type, e.channel, e.linkAlias, e.time);
    // Hot counts: the store drops marks older than its horizon.
    if (!marks) continue;
    const id = fnv1a32(e.id);
    markInteraction(fold.marks!, names, e.userId, e.type, e.variantId, e.stepId, e.time, id);
    markAnyMessage(any.marks, names, e.userId, e.type, e.channel, e.time, id);
  }
  const out = [...bySource.values()];
  if (any.indexes.size) out.push(any);
  return out;
}

/**
 * Folds history's any-message aggregate rows (queries.anyMessageAggregate: latest time per
 * user, type, channel and link alias) into the pseudo-source's shape: the Redis-loss rebuild.
 */
export function foldAnyMessage(rows: Iterable<AnyMessageRow>): SourceFold {
  const fold: SourceFold = { source: ANY_MESSAGE, indexes: new Map() };
  const names = new IndexNames();
  for (const r of rows) putAnyMessage(fold.indexes, names, r.userId, r.type, r.channel, r.linkAlias, r.time);
  return fold;
}

/**
 * Folds history aggregate rows of one source into the hot index's shape: the restore path.
 * Same indexes and the same max as foldEvents, so a restore merges with live ingest.
 */
export function foldAggregates(source: SourceRef, rows: Iterable<AggregateRow>): SourceFold {
  const fold: SourceFold = { source, indexes: new Map() };
  const names = new IndexNames();
  for (const r of rows) {
    // A link-alias row (history's clicks with an alias) stands for the alias indexes only.
    if (r.linkAlias) putAlias(fold.indexes, r.userId, r.linkAlias, r.stepId || undefined, r.time);
    else putInteraction(fold.indexes, names, r.userId, r.type, r.variantId || undefined, r.stepId || undefined, r.time);
  }
  return fold;
}

/**
 * Hot-count marks of history's recent raw events (History.recentEvents) of one source, or of
 * every source into the any-message pseudo-source: the marks foldEvents gives the same events,
 * and no latest times (the restore's aggregate loads those).
 */
export function foldMarks(source: IndexSource, rows: Iterable<RecentEvent>): SourceFold {
  const marks = new Map<string, CountMark[]>();
  const names = new IndexNames();
  const any = isAnyMessage(source);
  for (const r of rows) {
    const id = fnv1a32(r.id);
    if (any) markAnyMessage(marks, names, r.userId, r.type, r.channel, r.time, id);
    else markInteraction(marks, names, r.userId, r.type, r.variantId || undefined, r.stepId || undefined, r.time, id);
  }
  return { source, indexes: new Map(), marks };
}
