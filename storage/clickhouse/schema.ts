import { CHANNELS, EVENT_TYPES } from '../../core/index.js';
import { sqlIdent, sqlInt, sqlString } from './sql.js';

const enumOf = (values: readonly string[]) => values.map((v, i) => `'${v}' = ${i + 1}`).join(', ');

/**
 * The tables a node stores the history in. On a single server they are the tables queries
 * read; on a cluster (CLICKHOUSE_CLUSTER) every node stores its shard in `events_local` and
 * `latest_local`, and queries read `events` and `latest`, Distributed tables over them
 * (distributedStatements), so every query's text is the same in both layouts.
 */
export interface Tables {
  events: string;
  latest: string;
  /** The raw events in user order, for count leaves (migration 3). */
  byUser: string;
  /** The event ids in time order, for ingest's existence check (migration 4). */
  ids: string;
  /** Each source's stored event ids counted as they are inserted (migration 5). */
  counts: string;
  /** Keyed corrections of those counts: the upgrade's backfill, erasures, audits (migration 5). */
  adjustments: string;
}
export const SINGLE_SERVER: Tables = { events: 'events', latest: 'latest', byUser: 'events_by_user', ids: 'event_ids', counts: 'event_counts', adjustments: 'event_count_adjustments' };
export const SHARD: Tables = { events: 'events_local', latest: 'latest_local', byUser: 'events_by_user_local', ids: 'event_ids_local', counts: 'event_counts_local', adjustments: 'event_count_adjustments_local' };

/**
 * DDL of the history, valid on ClickHouse 18.16 and current releases alike: no DateTime64
 * (times are Int64 epoch milliseconds), no TTL, no LowCardinality, no SimpleAggregateFunction.
 *
 * `events` is the raw history. ReplacingMergeTree keyed by (source, id) collapses duplicates
 * of an event id in the background; until it does, queries count `uniqExact(id)` and take
 * `max(time)`, which are exact whether or not the merge has happened. An event id's partition
 * is fixed by its time, so its duplicates always meet in one partition.
 *
 * `latest` is the aggregate restores and history lookups read: per source, user, type,
 * variant and step, the latest time, kept at insert time by the materialized view
 * `latest_mv` (every block inserted into `events` is also inserted there). It is a
 * ReplacingMergeTree(time): a merge keeps the row of largest time per key, and readers
 * take `max(time)` grouped by the key, so answers are exact before and after merges, and a
 * redelivered event (inserted again) only repeats a max. The user id is in the key, so a
 * user's rows are adjacent: lookups by user read a few granules, restores read in user order.
 * Granules of 256 rows, not 8,192: a history `check` of 100 random users of a 1M-event source
 * touches about 100 granules, which at 8,192 rows was nearly the whole source.
 * No partitions: a key's rows must be able to meet in one merge whatever their times.
 *
 * `schema_version` records the migrations applied (see `MIGRATIONS`).
 *
 * The `type` Enum8 numbers EVENT_TYPES in order, so a new type is appended and existing values
 * keep their numbers; `typeEnumStatement` lets tables created before it accept it (idempotent and
 * metadata-only on 18.16 and current releases alike: an Enum8 that only gains values rewrites
 * no part), run on every start after the migrations.
 */
export function baseStatements(database: string, tables: Tables = SINGLE_SERVER): string[] {
  const db = sqlIdent(database);
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(tables.events)} (
      source_kind Enum8('campaign' = 1, 'canvas' = 2),
      source_id String,
      id String,
      type Enum8(${enumOf(EVENT_TYPES)}),
      user_id String,
      variant_id String,
      step_id String,
      channel Enum8('' = 0, ${enumOf(CHANNELS)}),
      time Int64,
      properties String,
      ${ADDED_EVENT_COLUMNS.map((c) => `${c.name} ${c.type}`).join(',\n      ')}
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
    ORDER BY (source_kind, source_id, id)`,
    `CREATE TABLE IF NOT EXISTS ${db}.schema_version (
      version UInt32,
      applied_at DateTime DEFAULT now()
    ) ENGINE = MergeTree() ORDER BY version`,
  ];
}

/**
 * Columns `events` gained after its first release, in table order (appended, so an insert
 * without a column list fills them last: eventTsvRow). 18.16 has no `ADD COLUMN IF NOT
 * EXISTS`, so migrate() adds the ones system.columns does not list (addColumnStatement), on
 * every start: a table of any age ends with the same columns, and a repeat adds nothing.
 * `link_alias`: a click's link alias; `canvas_variation_id`: a canvas event's variation.
 */
export const ADDED_EVENT_COLUMNS: readonly { name: string; type: string }[] = [
  { name: 'link_alias', type: 'String' },
  { name: 'canvas_variation_id', type: 'String' },
];

/** The columns a table has now (name), to add the missing ADDED_EVENT_COLUMNS. */
export function tableColumns(database: string, table: string): string {
  return `SELECT name FROM system.columns WHERE database = ${sqlString(sqlIdent(database))} AND table = ${sqlString(sqlIdent(table))}`;
}

/** Appends one of ADDED_EVENT_COLUMNS to a table (`events`, or on a cluster its local and Distributed tables). */
export function addColumnStatement(database: string, table: string, column: { name: string; type: string }): string {
  return `ALTER TABLE ${sqlIdent(database)}.${sqlIdent(table)} ADD COLUMN ${sqlIdent(column.name)} ${column.type}`;
}

const LATEST_COLUMNS = 'source_kind, source_id, user_id, type, variant_id, step_id, time';
const BY_USER_COLUMNS = `${LATEST_COLUMNS}, id`;
const ID_COLUMNS = 'source_kind, source_id, time, id, user_id';

export interface Migration {
  version: number;
  /** DDL, each statement safe to repeat, on the tables a node stores the history in. */
  statements: (db: string, tables?: Tables) => string[];
  /**
   * Copies what already exists, one month partition of `events` at a time; safe to repeat.
   * `node`: on a cluster, the node it runs on (its endpoint), for rows that must stay apart per shard.
   */
  backfill?: (db: string, month: number, tables?: Tables, node?: string) => string;
}

/**
 * Migrations after the base schema, in order. A namespace records each one once it has run
 * entirely; one interrupted (a crash, a restart) runs again from its first statement, so
 * every statement is safe to repeat.
 *
 * Version 2, the `latest` aggregate: the view is created before the backfill, so an event
 * inserted meanwhile reaches `latest` through the view, the backfill, or both; twice is
 * harmless (a max), and none is missed. A backfill repeated after a crash likewise only
 * repeats maxima. The backfill runs per month partition (listed after the view exists), so
 * no single statement of a large namespace outlasts the request timeout.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 2,
    statements: (db, t = SINGLE_SERVER) => [
      `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(t.latest)} (
        source_kind Enum8('campaign' = 1, 'canvas' = 2),
        source_id String,
        user_id String,
        type Enum8(${enumOf(EVENT_TYPES)}),
        variant_id String,
        step_id String,
        time Int64
      ) ENGINE = ReplacingMergeTree(time)
      ORDER BY (source_kind, source_id, user_id, type, variant_id, step_id)
      SETTINGS index_granularity = 256`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.latest_mv TO ${db}.${sqlIdent(t.latest)} AS SELECT ${LATEST_COLUMNS} FROM ${db}.${sqlIdent(t.events)}`,
    ],
    backfill: (db, month, t = SINGLE_SERVER) =>
      `INSERT INTO ${db}.${sqlIdent(t.latest)} (${LATEST_COLUMNS}) SELECT ${LATEST_COLUMNS} FROM ${db}.${sqlIdent(t.events)}
      WHERE toYYYYMM(toDateTime(intDiv(time, 1000))) = ${sqlInt(month)}`,
  },
  /*
   * Version 3, `events_by_user`: the raw events again, sorted by source, user, index and time,
   * for count leaves (distinct events of a user in a window). `events` is sorted by event id, so
   * counting 100 users' events there reads every event of the source in the window (165,000
   * rows: 20-30 ms a query here, which a check at 200/s cannot afford); here they read a few
   * granules of 256 rows per user. Partitioned by month as `events`, so a window reads its
   * months only. Filled by its view and a backfill as `latest` (twice is harmless: a replayed
   * row has the same key, and counts are uniqExact(id)).
   */
  {
    version: 3,
    statements: (db, t = SINGLE_SERVER) => [
      `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(t.byUser)} (
        source_kind Enum8('campaign' = 1, 'canvas' = 2),
        source_id String,
        user_id String,
        type Enum8(${enumOf(EVENT_TYPES)}),
        variant_id String,
        step_id String,
        time Int64,
        id String
      ) ENGINE = ReplacingMergeTree()
      PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
      ORDER BY (source_kind, source_id, user_id, type, variant_id, step_id, time, id)
      SETTINGS index_granularity = 256`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.events_by_user_mv TO ${db}.${sqlIdent(t.byUser)} AS SELECT ${BY_USER_COLUMNS} FROM ${db}.${sqlIdent(t.events)}`,
    ],
    backfill: (db, month, t = SINGLE_SERVER) =>
      `INSERT INTO ${db}.${sqlIdent(t.byUser)} (${BY_USER_COLUMNS}) SELECT ${BY_USER_COLUMNS} FROM ${db}.${sqlIdent(t.events)}
      WHERE toYYYYMM(toDateTime(intDiv(time, 1000))) = ${sqlInt(month)}`,
  },
  /*
   * Version 4, `event_ids`: each event's (source, time, id) and user, sorted by source, time
   * and id, filled by its view and a backfill as `latest`, for ingest's existence check
   * (ClickHouseHistory.insert). `events` is sorted by id: the ids of a batch, random in the
   * source's id order, touch a granule each, so a batch of 5,000 read nearly every id of a 10M
   * source. Here a batch's ids are near each other in time, so the check reads the granules of
   * a few minutes of the source. A row repeated (the view and the backfill) is harmless: the
   * check asks only whether an id is there. Erasure deletes the user's rows (`user_id`).
   */
  {
    version: 4,
    statements: (db, t = SINGLE_SERVER) => [
      `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(t.ids)} (
        source_kind Enum8('campaign' = 1, 'canvas' = 2),
        source_id String,
        time Int64,
        id String,
        user_id String
      ) ENGINE = ReplacingMergeTree()
      PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
      ORDER BY (source_kind, source_id, time, id)
      SETTINGS index_granularity = 1024`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_ids_mv TO ${db}.${sqlIdent(t.ids)} AS SELECT ${ID_COLUMNS} FROM ${db}.${sqlIdent(t.events)}`,
    ],
    backfill: (db, month, t = SINGLE_SERVER) =>
      `INSERT INTO ${db}.${sqlIdent(t.ids)} (${ID_COLUMNS}) SELECT ${ID_COLUMNS} FROM ${db}.${sqlIdent(t.events)}
      WHERE toYYYYMM(toDateTime(intDiv(time, 1000))) = ${sqlInt(month)}`,
  },
  /*
   * Version 5, the maintained counts behind `counts.history` (docs/design.md, "History
   * counts"). `event_counts` is a SummingMergeTree filled by the view `event_counts_mv`: every
   * block inserted into `events` adds its rows per source. Ingest inserts only event ids not
   * stored yet (ClickHouseHistory.insert), so a row there is a new distinct id.
   * `event_count_adjustments` holds keyed corrections, one row per (source, key), the newest
   * `at` winning (ReplacingMergeTree(at), and readers take argMax(n, at) per key, so answers do
   * not wait for merges): `backfill:<month>` (this migration's count of what `events` held, so a
   * backfill repeated after a crash replaces its rows instead of adding to them),
   * `erasure:<id>:<run>` (minus a user's ids, erase.ts) and `audit` (an exact recount's
   * correction, with the count it corrected in `basis`). Reading a source's count is a sum
   * over a few rows of both tables, whatever the number of events.
   */
  {
    version: 5,
    statements: (db, t = SINGLE_SERVER) => [
      `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(t.counts)} (
        source_kind Enum8('campaign' = 1, 'canvas' = 2),
        source_id String,
        n Int64
      ) ENGINE = SummingMergeTree(n)
      ORDER BY (source_kind, source_id)`,
      `CREATE TABLE IF NOT EXISTS ${db}.${sqlIdent(t.adjustments)} (
        source_kind Enum8('campaign' = 1, 'canvas' = 2),
        source_id String,
        key String,
        n Int64,
        basis Int64,
        at UInt64
      ) ENGINE = ReplacingMergeTree(at)
      ORDER BY (source_kind, source_id, key)`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_counts_mv TO ${db}.${sqlIdent(t.counts)} AS
      SELECT source_kind, source_id, toInt64(count()) AS n FROM ${db}.${sqlIdent(t.events)} GROUP BY source_kind, source_id`,
    ],
    // Each id's copies share its time, so its month: per month, uniqExact counts it once. On a
    // cluster each node counts its shard, under a key of its own (readers take one row per key).
    backfill: (db, month, t = SINGLE_SERVER, node) =>
      `INSERT INTO ${db}.${sqlIdent(t.adjustments)} (source_kind, source_id, key, n, basis, at)
      SELECT source_kind, source_id, ${sqlString(`backfill:${sqlInt(month)}${node ? `:${node}` : ''}`)} AS key, toInt64(uniqExact(id)) AS n, toInt64(0) AS basis, toUInt64(0) AS at
      FROM ${db}.${sqlIdent(t.events)} WHERE toYYYYMM(toDateTime(intDiv(time, 1000))) = ${sqlInt(month)} GROUP BY source_kind, source_id`,
  },
];

/** The month partitions `events` holds now (yyyymm), for backfills. */
export function eventMonths(database: string, table = 'events'): string {
  return `SELECT DISTINCT partition_id AS month FROM system.parts
    WHERE database = ${sqlString(sqlIdent(database))} AND table = ${sqlString(sqlIdent(table))} AND active`;
}

/** The highest migration recorded (0 when none is). */
export function schemaVersion(database: string): string {
  return `SELECT max(version) AS v FROM ${sqlIdent(database)}.schema_version`;
}

export function recordVersion(database: string, version: number): string {
  return `INSERT INTO ${sqlIdent(database)}.schema_version (version) VALUES (${sqlInt(version)})`;
}

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * A table's event-type enum brought to EVENT_TYPES (see the header). `events` is altered
 * before the migrations and `latest` after them: ClickHouse 18.16 pushes into a materialized
 * view only between columns of the very same type, so the view's source and target must gain
 * a new type together (migrate() in history.ts). On a cluster the Distributed tables are
 * altered too (a metadata change): 18.16 sends a block to a shard only with the very types of
 * the shard's table.
 */
export function typeEnumStatement(database: string, table: string): string {
  return `ALTER TABLE ${sqlIdent(database)}.${sqlIdent(table)} MODIFY COLUMN type Enum8(${enumOf(EVENT_TYPES)})`;
}

/**
 * The sharding key: a deterministic hash of the user id, so all of a user's events, their
 * duplicates and their `latest` rows are on one shard. Dedup (ReplacingMergeTree within a
 * shard) and per-user aggregates are then shard-local, and counts merge exactly across shards
 * (uniqExact and count states are merged by the node that asked).
 */
export const SHARDING_KEY = 'cityHash64(user_id)';

/**
 * On a cluster, on every node: `events` and `latest` as Distributed tables over the node's
 * `events_local` and `latest_local` and those of every other shard of `cluster` (its
 * remote_servers), after the local tables exist (they take their columns).
 */
export function distributedStatements(database: string, cluster: string): string[] {
  const db = sqlIdent(database);
  // The count tables have no user: a row inserted through them (an erasure's, an audit's)
  // goes to any shard, and readers sum or take the newest per key over every shard.
  return (['events', 'latest', 'byUser', 'ids', 'counts', 'adjustments'] as const).map((t) =>
    `CREATE TABLE IF NOT EXISTS ${db}.${SINGLE_SERVER[t]} AS ${db}.${SHARD[t]} ENGINE = Distributed(${sqlString(cluster)}, ${db}, ${SHARD[t]}, ${t === 'counts' || t === 'adjustments' ? 'rand()' : SHARDING_KEY})`);
}

/** The engine of a table of the namespace ('' when it does not exist), to tell the layouts apart. */
export function tableEngine(database: string, table: string): string {
  return `SELECT engine FROM system.tables WHERE database = ${sqlString(sqlIdent(database))} AND name = ${sqlString(sqlIdent(table))}`;
}
