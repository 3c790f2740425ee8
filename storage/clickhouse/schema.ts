import { CHANNELS, EVENT_TYPES } from '../../core/index.js';
import { sqlIdent, sqlInt, sqlString } from './sql.js';

const enumOf = (values: readonly string[]) => values.map((v, i) => `'${v}' = ${i + 1}`).join(', ');

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
export function baseStatements(database: string): string[] {
  const db = sqlIdent(database);
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.events (
      source_kind Enum8('campaign' = 1, 'canvas' = 2),
      source_id String,
      id String,
      type Enum8(${enumOf(EVENT_TYPES)}),
      user_id String,
      variant_id String,
      step_id String,
      channel Enum8('' = 0, ${enumOf(CHANNELS)}),
      time Int64,
      properties String
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
    ORDER BY (source_kind, source_id, id)`,
    `CREATE TABLE IF NOT EXISTS ${db}.schema_version (
      version UInt32,
      applied_at DateTime DEFAULT now()
    ) ENGINE = MergeTree() ORDER BY version`,
  ];
}

const LATEST_COLUMNS = 'source_kind, source_id, user_id, type, variant_id, step_id, time';

export interface Migration {
  version: number;
  /** DDL, each statement safe to repeat. */
  statements: (db: string) => string[];
  /** Copies what already exists, one month partition of `events` at a time; safe to repeat. */
  backfill?: (db: string, month: number) => string;
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
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.latest (
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
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.latest_mv TO ${db}.latest AS SELECT ${LATEST_COLUMNS} FROM ${db}.events`,
    ],
    backfill: (db, month) =>
      `INSERT INTO ${db}.latest (${LATEST_COLUMNS}) SELECT ${LATEST_COLUMNS} FROM ${db}.events
      WHERE toYYYYMM(toDateTime(intDiv(time, 1000))) = ${sqlInt(month)}`,
  },
];

/** The month partitions `events` holds now (yyyymm), for backfills. */
export function eventMonths(database: string): string {
  return `SELECT DISTINCT partition_id AS month FROM system.parts
    WHERE database = ${sqlString(sqlIdent(database))} AND table = 'events' AND active`;
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
 * a new type together (migrate() in history.ts).
 */
export function typeEnumStatement(database: string, table: 'events' | 'latest'): string {
  return `ALTER TABLE ${sqlIdent(database)}.${table} MODIFY COLUMN type Enum8(${enumOf(EVENT_TYPES)})`;
}
