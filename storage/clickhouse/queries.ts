import type { SourceRef } from '../../engine/types.js';
import { sqlIdent, sqlString } from './sql.js';

/**
 * The history's SQL, as functions of validated inputs, so the same text runs against the
 * ClickHouse server and, in tests, against current ClickHouse in-process (chdb).
 * Every query is exact before and after background merges: uniqExact(id) and max(time).
 */

export function sourceWhere(source: SourceRef): string {
  return `source_kind = ${sqlString(source.kind)} AND source_id = ${sqlString(source.id)}`;
}

export function countEvents(db: string, source: SourceRef): string {
  return `SELECT uniqExact(id) AS n FROM ${sqlIdent(db)}.events WHERE ${sourceWhere(source)}`;
}

export function userLatest(db: string, source: SourceRef, userId: string): string {
  return `SELECT type, variant_id, step_id, max(time) AS t FROM ${sqlIdent(db)}.events
    WHERE ${sourceWhere(source)} AND user_id = ${sqlString(userId)}
    GROUP BY type, variant_id, step_id`;
}

/** The latest time per user, type, variant and step of a source: what a restore rebuilds from. */
export function aggregateSource(db: string, source: SourceRef): string {
  return `SELECT user_id, type, variant_id, step_id, max(time) AS t FROM ${sqlIdent(db)}.events
    WHERE ${sourceWhere(source)}
    GROUP BY user_id, type, variant_id, step_id`;
}

/** Rows aggregateSource returns, for restore progress. */
export function countAggregateRows(db: string, source: SourceRef): string {
  return `SELECT count() AS n FROM (SELECT 1 FROM ${sqlIdent(db)}.events
    WHERE ${sourceWhere(source)} GROUP BY user_id, type, variant_id, step_id)`;
}
