import { CHANNELS, EVENT_TYPES } from '../../core/index.js';
import { sqlIdent } from './sql.js';

const enumOf = (values: readonly string[]) => values.map((v, i) => `'${v}' = ${i + 1}`).join(', ');

/**
 * DDL of the history, valid on ClickHouse 18.16 and current releases alike: no DateTime64
 * (times are Int64 epoch milliseconds), no TTL, no LowCardinality.
 *
 * ReplacingMergeTree keyed by (source, id) collapses duplicates of an event id in the
 * background; until it does, queries count `uniqExact(id)` and take `max(time)`, which are
 * exact whether or not the merge has happened. An event id's partition is fixed by its time,
 * so its duplicates always meet in one partition.
 *
 * The `type` Enum8 numbers EVENT_TYPES in order, so a new type is appended and existing values
 * keep their numbers; the MODIFY COLUMN lets a table created before it accept it. It is
 * idempotent, and metadata-only on 18.16 and current releases alike (an Enum8 that only gains
 * values: no part is rewritten), so it runs on every start.
 */
export function schemaStatements(database: string): string[] {
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
    `ALTER TABLE ${db}.events MODIFY COLUMN type Enum8(${enumOf(EVENT_TYPES)})`,
  ];
}
