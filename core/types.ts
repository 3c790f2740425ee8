import type { FilterPlan } from './filter/program.js';
import type { TagRef } from './filter/grammar.js';
import type { SourcesSummary } from './overview.js';
import type { ExpiringCursor } from './tiers/expiring.js';

/**
 * The interaction event types (docs/producing.md, "Event format"); `send` is Braze's "received", `machine_open` an
 * open made by a machine (a mail privacy proxy prefetching the message), kept apart from
 * `open`; `bounce` is a hard bounce, `soft_bounce` a soft one. The order is the history's Enum8
 * numbering: new types go at the end.
 */
export const EVENT_TYPES = [
  'send', 'delivery', 'open', 'click', 'conversion', 'bounce', 'unsubscribe', 'spam', 'control', 'machine_open', 'soft_bounce',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const CHANNELS = ['email', 'push', 'sms', 'webhook', 'in_app', 'content_card', 'whatsapp'] as const;
export type Channel = (typeof CHANNELS)[number];

export type SourceKind = 'campaign' | 'canvas';

/** A campaign or a canvas: the unit of tiering. */
export interface SourceRef {
  kind: SourceKind;
  id: string;
}

/**
 * The namespace-wide pseudo-source of any-message leaves (`{"any": "message", ...}`): every
 * event is also written to it, whatever its source's tier. It is hot for ever, never in the
 * registry, never demoted; the hot index stores it as a source (`<ns>:{any:message}:...`).
 */
export interface AnyMessageRef {
  kind: 'any';
  id: 'message';
}
export const ANY_MESSAGE: AnyMessageRef = Object.freeze({ kind: 'any', id: 'message' });

/** What the hot index and history lookups keep indexes for: a source, or the any-message pseudo-source. */
export type IndexSource = SourceRef | AnyMessageRef;

export const isAnyMessage = (s: IndexSource): s is AnyMessageRef => s.kind === 'any';

/** A validated interaction event, normalised: times in epoch milliseconds. */
export interface InteractionEvent {
  id: string;
  type: EventType;
  userId: string;
  source: SourceRef;
  variantId?: string;
  stepId?: string;
  channel?: Channel;
  /** Click events only: the link's alias (Braze's `link_alias`), an id. */
  linkAlias?: string;
  /** Canvas events only: the canvas variation (Braze's `canvas_variation_id`), kept in history. */
  canvasVariationId?: string;
  /** Epoch milliseconds. */
  time: number;
  /** Serialised `properties` object, or undefined. Kept in history only. */
  properties?: string;
}

import type { Tier } from './tiers/tiers.js';

export type { Tier };

/** A source's tier gate in the hot index: closed while demoting or expired, open (null) when hot or restoring. */
export type Gate = Exclude<Tier, 'hot'> | null;

/** What the Redis-loss sentinel check found (see storage/redis/lua/sentinel.lua). */
export type SentinelState = 'intact' | 'rebuild_claimed' | 'rebuild_elsewhere';

/**
 * One hot-index write for one source: for each index (a type, a variant's type, a step's type,
 * or `any`) the latest time of each user. Built by the fold; merged into the store with max.
 */
export interface SourceFold {
  source: IndexSource;
  /** index name (see storage/redis/keys) -> userId -> latest epoch ms */
  indexes: Map<string, Map<string, number>>;
  /**
   * Hot counts (docs/design.md, "Hot counts"): userId -> one mark per event (CountMark), each
   * event once. Merged as a set, so replays and duplicates add nothing.
   */
  marks?: Map<string, CountMark[]>;
}

/**
 * One event's hot-count mark: its type's index (on the any-message pseudo-source, its channel's
 * type or its type), the indexes of its variant's and step's type when it has them, its time and
 * a 32-bit hash of its id. One mark counts the event in each of those indexes.
 */
export interface CountMark {
  index: string;
  variant: string | undefined;
  step: string | undefined;
  time: number;
  id: number;
}

/** A raw event of a source within the hot count horizon, as history keeps it: restore and rebuild of hot counts. */
export interface RecentEvent {
  userId: string;
  type: EventType;
  variantId: string;
  stepId: string;
  channel: Channel | undefined;
  time: number;
  id: string;
}

/**
 * A source's latest time for one user, type, variant and step ('' when none): restore input.
 * A row with a `linkAlias` is the latest click on that alias (in `stepId`, or any step).
 */
export interface AggregateRow {
  userId: string;
  type: EventType;
  variantId: string;
  stepId: string;
  time: number;
  linkAlias?: string;
}

/** A user's latest event of a type, channel and link alias over every source: the any-message rebuild's input. */
export interface AnyMessageRow {
  userId: string;
  type: EventType;
  channel: Channel | undefined;
  linkAlias: string | undefined;
  time: number;
}

/** The durable history (ClickHouse). Inserts are idempotent by event id. */
export interface History {
  insert(events: readonly InteractionEvent[]): Promise<void>;
  /** Distinct event ids of a source, as history maintains it when it stores them (cheap at any size). */
  countEvents(source: SourceRef): Promise<number>;
  /**
   * Distinct event ids of each source, by source name (`campaign:A`), in one grouped query: a
   * listing's page costs one query, not one per source. A source without events is 0.
   */
  countEventsBySource(sources: readonly SourceRef[]): Promise<Map<string, number>>;
  /** index name -> latest epoch ms for one user and source: the hot index's shape, from history. */
  userLatest(source: SourceRef, userId: string): Promise<Map<string, number>>;
  /** Rows aggregateSource will yield (for progress). */
  countAggregateRows(source: SourceRef): Promise<number>;
  /**
   * The source's aggregate in chunks of at most `chunkRows` rows, in user id order (a user's
   * rows may straddle two chunks). A (user, type, variant, step) may come more than once, never
   * later than its latest time: merge with max. `fromUser`: only users from this id on (a
   * restore resumed where another process left it).
   */
  aggregateSource(source: SourceRef, chunkRows: number, opts?: { fromUser?: string }): AsyncIterable<AggregateRow[]>;
  /**
   * The any-message pseudo-source's aggregate over every source (latest time per user, type,
   * channel and link alias), in chunks of at most `chunkRows` rows, in user order: the
   * Redis-loss rebuild of ANY_MESSAGE.
   */
  anyMessageAggregate(chunkRows: number): AsyncIterable<AnyMessageRow[]>;
  /**
   * The raw events with time >= `since` of a source (or, for ANY_MESSAGE, of every source), in
   * chunks of at most `chunkRows`, each event id once per chunk or more (merge as a set): what
   * the hot counts of a restored or rebuilt source are loaded from.
   */
  recentEvents(source: IndexSource, since: number, chunkRows: number): AsyncIterable<RecentEvent[]>;
  ping(): Promise<boolean>;
}

/**
 * Audits of history's maintained counts (`countEvents`): each source whose count moved since
 * its last audit is recounted exactly and its correction recorded, unless something moved
 * while it was recounted or `busy()` (then it is `deferred` to a later audit).
 */
export interface CountAuditor {
  auditCounts(opts: { limit?: number; busy?: () => boolean }): Promise<{ audited: number; corrected: number; deferred: number }>;
}

/** The hot retargeting index (Redis). Writes merge with max, so any order gives one state. */
/** How a hot-index write may use Redis. */
export interface ApplyOptions {
  /**
   * Script calls sent at a time (default: all of them). Ingest sends one at a time while
   * lookups queue, so a lookup waits behind at most one short script.
   */
  maxInFlight?: number;
}

export interface HotIndex {
  /** Applies folds; a source whose tier gate is not `hot` is skipped atomically. */
  apply(folds: readonly SourceFold[], opts?: ApplyOptions): Promise<void>;
  /**
   * Merges a fold read from history (a restore or rebuild chunk) into the source's indexes
   * with plain bounded ZADD GT, without checking the tier gate: the caller owns the source's
   * transition. Same max-merge as apply, so it commutes with ingest.
   */
  load(fold: SourceFold, opts?: ApplyOptions): Promise<void>;
  /**
   * Sizes an empty source for about `users` users before a restore or rebuild loads it (no
   * effect on a source holding users): the load then needs no growth step by step.
   */
  reserve(source: IndexSource, users: number): Promise<void>;
  /**
   * The hot counts' horizon (ms; 0: hot counts are off): a restore or rebuild loads the marks of
   * events newer than now minus it (loadMarks), then says the source's counts are complete.
   */
  readonly countHorizonMs: number;
  /** Records that the source's hot counts hold every event from `since` on (after its marks were loaded). */
  countsComplete(source: IndexSource, since: number): Promise<void>;
  /** Distinct users with any hot interaction of the source. */
  countUsers(source: IndexSource): Promise<number>;
  /** countUsers of each source, by source name, in bounded pipelines (a round trip per few hundred sources). */
  countUsersBySource(sources: readonly SourceRef[]): Promise<Map<string, number>>;
  /**
   * Bytes of Redis memory each source's keys take, by source name, as Redis estimates them
   * (MEMORY USAGE with a few samples per key, so each call is bounded whatever the key's size),
   * in bounded pipelines.
   */
  memoryBySource(sources: readonly SourceRef[]): Promise<Map<string, number>>;
  /** index name -> latest epoch ms, for one user and one source (or the any-message pseudo-source). */
  userLatest(source: IndexSource, userId: string): Promise<Map<string, number>>;
  /** Opens (null) or closes the tier gate the write path checks. */
  setGate(source: SourceRef, tier: Gate): Promise<void>;
  /** Removes every key of the source without blocking; returns keys removed. */
  dropSource(source: SourceRef): Promise<number>;
  /** Redis-loss detection: see storage/redis/lua/sentinel.lua. */
  checkSentinel(owner: string, ttlMs: number): Promise<SentinelState>;
  renewRebuild(owner: string, ttlMs: number): Promise<void>;
  rebuilding(): Promise<boolean>;
  ping(): Promise<boolean>;
}

/** Source lifecycle as the registry stores it. Times are epoch ms. */
export interface SourceRecord {
  kind: SourceKind;
  id: string;
  status: 'active' | 'stopped';
  tier: Tier;
  name: string | null;
  tags: string[];
  stoppedAt: number | null;
  expiresAt: number | null;
  /** Filter ids of the active retargeting filters that use this source. */
  pinnedBy: string[];
  /** When the last pin was removed (starts the expiry clock again). */
  lastUnpinAt: number | null;
  /**
   * The last restore. `progressAt`: when `progress` was last reported (absent in records of
   * earlier versions). `resume`: where a restore taken over by another process continues, the
   * key of the last chunk written with every chunk before it (`from`: history is read again from
   * that user on) and the rows written up to there. `waiting`: why the restore is not moving, in
   * words, as its process last reported (a store that does not answer); null or absent when it is.
   */
  restore: {
    startedAt: number;
    finishedAt: number | null;
    progress: number;
    progressAt?: number;
    resume?: { from: string; rows: number } | null;
    waiting?: string | null;
  } | null;
  /**
   * The process running a demotion or restore, and until when its claim holds; a claim not
   * renewed in time is taken over (a crashed process's work is finished by another).
   */
  lease: { owner: string; until: number } | null;
  /** A restore was asked for while demoting: it starts when the demotion ends. */
  pendingRestore?: boolean;
  /** Audit trail, newest last (the last 100 are kept). */
  transitions: { tier: Tier; at: number; reason: string }[];
  /** The last transition whose notice is published (core/tiers/notices.ts); absent: none yet. */
  notified?: { at: number; tier: Tier } | null;
  createdAt: number;
}

/** Where sources are registered; durable (not Redis), safe with several processes. */
export interface SourceRegistry {
  /** Registers sources not yet known as active and hot; known ones are left as they are. */
  ensure(sources: readonly SourceRef[]): Promise<void>;
  get(source: SourceRef): Promise<SourceRecord | null>;
  /**
   * Compare-and-set update: `fn` gets the current record (null if none) and returns the next,
   * or undefined for no change; it is re-run on conflicting writes, so it must be pure.
   */
  update(source: SourceRef, fn: (rec: SourceRecord | null) => SourceRecord | undefined): Promise<{ record: SourceRecord | null; changed: boolean }>;
  /**
   * Every record, as mirrored by this process (eventually consistent, within milliseconds).
   * Mirrored records are compact (core mirrorRecord): their `transitions` hold only the notices
   * still to publish; get() reads the whole record. A copy of the mirror: O(sources).
   */
  list(): SourceRecord[];
  /** One record from the mirror, without a round trip (undefined when the mirror has none); compact as list()'s. */
  peek(source: SourceRef): SourceRecord | undefined;
  /** Records in the mirror. */
  size(): number;
  /**
   * Mirrored records in source-name order (`campaign:…` before `canvas:…`, then by id), from the
   * first after `after`; from a maintained index, O(log sources) to start. Not to be held
   * across an await (the index moves with the mirror).
   */
  inOrder(after?: SourceRef): IterableIterator<SourceRecord>;
  /** The mirrored records in `tier` when it is one few sources are in (restoring, demoting); undefined for the others. */
  inTier(tier: Tier): SourceRecord[] | undefined;
  /** The mirrored records carrying `tag` (of either kind), in no particular order. */
  taggedRecords(tag: string): SourceRecord[];
  /** The sources whose `pinnedBy` holds `filterId`, from the mirror, in no particular order. */
  pinned(filterId: string): SourceRef[];
  /**
   * The expiry preview's records (core expiringSources: hot, unpinned, expiring by `until`)
   * soonest first, ties by source name, after `after`; from a maintained index.
   */
  expiring(until: number, after?: ExpiringCursor): IterableIterator<SourceRecord>;
  /** How many records expiring(until) yields, in O(sources / 512). */
  countExpiring(until: number): number;
  /** summarizeSources over every record, maintained as changes arrive (core SourcesSummaryIndex): no scan. */
  summary(now: number, transitions: number): SourcesSummary;
  /**
   * The sources carrying a tag (of the tag's kind, when it names one), from the mirror without a
   * round trip, in no particular order: what a tag leaf stands for when a lookup runs.
   */
  tagged(tag: TagRef): SourceRef[];
  /** Called for every change the mirror sees (this process's writes and others'); null: deleted. */
  onChange(listener: (rec: SourceRecord | null) => void): void;
  /** How many sources the mirror holds (the `sources` limit), without a scan. */
  size(): number;
  /**
   * Deletes the record if `allow` (given the current record) says so, compare-and-set: a change
   * made meanwhile is seen by `allow` on a fresh read. Resolves with the record deleted, or null
   * when there was none; rejects with `allow`'s error (it throws to refuse).
   */
  remove(source: SourceRef, allow: (rec: SourceRecord) => void): Promise<SourceRecord | null>;
}

/**
 * The distinct variant and step ids of each source (`v:B`, `s:s3`; core variantStepIds), the
 * `variants_and_steps_per_source` limit's memory: durable and shared by every ingest process,
 * kept apart from the registry record so that a new variant costs no registry change.
 */
export interface SourceIdSets {
  /**
   * Admits each entry's ids into its source's set, in order, while the set stays within `max`
   * (an entry's ids are admitted together or not at all; ids already in the set always are).
   * Resolves with whether each entry was admitted.
   */
  admit(source: IndexSource, entries: readonly (readonly string[])[], max: number): Promise<boolean[]>;
  /** Forgets a source's set (the source was deleted). */
  drop(source: SourceRef): Promise<void>;
}

/** What the hot path needs of Redis. */
export interface HotLookup {
  /** The hot counts' horizon, ms (0: off; count leaves then read history). */
  readonly countHorizonMs: number;
  /**
   * Count leaves from the hot counts (docs/design.md, "Hot counts"): for each user u and leaf l,
   * `counts[u * leaves.length + l]`, the user's distinct events of the leaf's index over its
   * sources (every source's when `sources` is empty: ANY_MESSAGE) in [after, before);
   * `complete[l]` 0 when the hot counts cannot answer the leaf (a source's counts do not reach
   * back to `after`, or a source holds nothing hot): its counts are then 0 and must be read from
   * history. One read per source, sent together.
   */
  counts(leaves: readonly CountLeaf[], users: readonly string[]): Promise<{ counts: Float64Array; complete: Uint8Array }>;
  /**
   * For each user u and leaf l, `latest[u * leaves.length + l]`: the user's latest time in the
   * leaf's index, NaN when none; `known[u]` 1 when the user has any event of `sources`.
   * Flat typed arrays: no array per user on the hot path (see core evaluateRow).
   */
  scores(leaves: readonly { source: IndexSource; index: string }[], sources: readonly IndexSource[], users: readonly string[]):
    Promise<{ latest: Float64Array; known: Uint8Array }>;
  /**
   * One bounded step of a walk over the users of `sources` in position order (a hash of the
   * user id; docs/design.md, "Hot index"): the users whose position is in [from, end), end <= to,
   * about `maxUsers` of them, with their leaf times as `scores` gives them; sorted by
   * (position, id) and with their ids unless `ordered` is false (a count needs neither). A walk from 0 to 2^32 meets every user present throughout exactly once,
   * whatever is written between steps.
   */
  segment(
    leaves: readonly { source: IndexSource; index: string }[], sources: readonly IndexSource[], from: number, to: number, maxUsers: number, ordered?: boolean,
  ): Promise<HotSegment>;
}

/** A count leaf as HotLookup.counts reads it. */
export interface CountLeaf {
  /** The sources counted together (a tag's), or [ANY_MESSAGE] for a count over every source. */
  sources: readonly IndexSource[];
  index: string;
  after: number;
  before: number;
}

/** One step of a hot walk (HotLookup.segment). */
export interface HotSegment {
  /** Users in the step (rows of `latest`). */
  size: number;
  /** Their ids, in (position, id) order; empty when the step was not `ordered`. */
  users: string[];
  /** Each user's position, in [0, 2^32). */
  positions: Float64Array;
  /** `latest[u * leaves + l]`: user u's time in leaf l's index, NaN when none. */
  latest: Float64Array;
  /** Every user with a position in [from, end) is in `users`; 2^32 when the walk is over. */
  end: number;
}

/** What the history path needs of ClickHouse. */
export interface HistoryLookup {
  filterUsers(f: FilterPlan, opts: { users?: string[]; afterUser?: string; limit?: number }): Promise<string[]>;
  filterCount(f: FilterPlan): Promise<number>;
  /** Per given user of the filter's universe, a value per leaf: latest time (NaN: none) or a count leaf's count. */
  filterValues(f: FilterPlan, users: readonly string[]): Promise<Map<string, Float64Array>>;
  /** Per given user with any counted event, the count of each count leaf of `leaves` (NaN for the others); absent: 0 everywhere. */
  leafCounts(leaves: FilterPlan['leaves'], users: readonly string[]): Promise<Map<string, Float64Array>>;
}
