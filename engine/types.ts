/** The interaction event types of the contract; `send` is Braze's "received". */
export const EVENT_TYPES = [
  'send', 'delivery', 'open', 'click', 'conversion', 'bounce', 'unsubscribe', 'spam', 'control',
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

/** `campaign:A`: a source as one string, the way the API names sources. */
export function sourceName(source: SourceRef): string {
  return `${source.kind}:${source.id}`;
}

/** A validated interaction event, normalised: times in epoch milliseconds. */
export interface InteractionEvent {
  id: string;
  type: EventType;
  userId: string;
  source: SourceRef;
  variantId?: string;
  stepId?: string;
  channel?: Channel;
  /** Epoch milliseconds. */
  time: number;
  /** Serialised `properties` object, or undefined. Kept in history only. */
  properties?: string;
}

export type Tier = 'hot' | 'demoting' | 'expired' | 'restoring';

/**
 * One hot-index write for one source: for each index (a type, a variant's type, a step's type,
 * or `any`) the latest time of each user. Built by the fold; merged into the store with max.
 */
export interface SourceFold {
  source: SourceRef;
  /** index name (see storage/redis/keys) -> userId -> latest epoch ms */
  indexes: Map<string, Map<string, number>>;
}

/** The durable history (ClickHouse). Inserts are idempotent by event id. */
export interface History {
  insert(events: readonly InteractionEvent[]): Promise<void>;
  /** Distinct event ids of a source. */
  countEvents(source: SourceRef): Promise<number>;
  /** index name -> latest epoch ms for one user and source: the hot index's shape, from history. */
  userLatest(source: SourceRef, userId: string): Promise<Map<string, number>>;
  ping(): Promise<boolean>;
}

/** Result of applying one source's fold to the hot index. */
export type ApplyResult = 'applied' | 'skipped_not_hot';

/** The hot retargeting index (Redis). Writes merge with max, so any order gives one state. */
export interface HotIndex {
  /** Applies folds; a source whose tier gate is not `hot` is skipped atomically. */
  apply(folds: readonly SourceFold[]): Promise<ApplyResult[]>;
  /** Distinct users with any hot interaction of the source. */
  countUsers(source: SourceRef): Promise<number>;
  /** index name -> latest epoch ms, for one user and one source. */
  userLatest(source: SourceRef, userId: string): Promise<Map<string, number>>;
  ping(): Promise<boolean>;
}

/** Source lifecycle as the registry stores it. */
export interface SourceRecord {
  kind: SourceKind;
  id: string;
  status: 'active' | 'stopped';
  tier: Tier;
  name: string | null;
  tags: string[];
  stoppedAt: number | null;
  expiresAt: number | null;
  pinnedBy: string[];
  restore: { startedAt: number; finishedAt: number | null; progress: number } | null;
  transitions: { tier: Tier; at: number; reason: string }[];
  createdAt: number;
}

/** Where sources are registered; durable (not Redis). */
export interface SourceRegistry {
  /** Registers sources not yet known as active and hot; known ones are left as they are. */
  ensure(sources: readonly SourceRef[]): Promise<void>;
  get(source: SourceRef): Promise<SourceRecord | null>;
}
