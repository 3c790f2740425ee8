import type { FilterPlan, Program, SourceRef } from '../../core/index.js';
import { sqlIdent, sqlInt, sqlString } from './sql.js';

/**
 * The history's SQL, as functions of validated inputs, so the same text runs against the
 * ClickHouse server and, in tests, against current ClickHouse in-process (chdb).
 * Every query is exact before and after background merges: uniqExact(id) and max(time).
 * Counts of events read the raw `events`; everything that needs only latest times reads the
 * `latest` aggregate (schema.ts), which holds one row per (source, user, type, variant, step)
 * once merged, a few before.
 */

export function sourceWhere(source: SourceRef): string {
  return `source_kind = ${sqlString(source.kind)} AND source_id = ${sqlString(source.id)}`;
}

export function countEvents(db: string, source: SourceRef): string {
  return `SELECT uniqExact(id) AS n FROM ${sqlIdent(db)}.events WHERE ${sourceWhere(source)}`;
}

/**
 * countEvents of many sources in one grouped query: per kind, `source_id IN (...)`
 * (18.16 reads a tuple IN less well than a plain one), grouped by source. A source without
 * events has no row.
 */
export function countEventsBySource(db: string, sources: readonly SourceRef[]): string {
  const byKind = new Map<string, string[]>();
  for (const s of sources) {
    let ids = byKind.get(s.kind);
    if (!ids) byKind.set(s.kind, (ids = []));
    ids.push(sqlString(s.id));
  }
  const where = [...byKind].map(([kind, ids]) => `(source_kind = ${sqlString(kind)} AND source_id IN (${ids.join(', ')}))`).join(' OR ');
  return `SELECT source_kind, source_id, uniqExact(id) AS n FROM ${sqlIdent(db)}.events WHERE ${where || '0'} GROUP BY source_kind, source_id`;
}

export function userLatest(db: string, source: SourceRef, userId: string): string {
  return `SELECT type, variant_id, step_id, max(time) AS t FROM ${sqlIdent(db)}.latest
    WHERE ${sourceWhere(source)} AND user_id = ${sqlString(userId)}
    GROUP BY type, variant_id, step_id`;
}

/**
 * The latest time per user, type, variant and step of a source: what a restore rebuilds
 * from. The rows of `latest` without GROUP BY: a key whose rows are not merged yet comes more
 * than once, each time with a time no later than its latest, and the restore merges with max
 * (the fold, then ZADD GT), so the result is exact; grouping cost ClickHouse 0.38 s more than
 * this read for 1M events. In user order (0.06 s more than none: the parts are each stored in
 * that order): every user's rows arrive together, whatever the merge state, so each restore
 * chunk sends a user's `any` and type entries once (bench/README.md). `fromUser`: from that
 * user on (inclusive: a resumed restore reads again the user its last chunk ended with).
 */
export function aggregateSource(db: string, source: SourceRef, fromUser?: string): string {
  const from = fromUser === undefined ? '' : ` AND user_id >= ${sqlString(fromUser)}`;
  return `SELECT user_id, type, variant_id, step_id, time FROM ${sqlIdent(db)}.latest
    WHERE ${sourceWhere(source)}${from}
    ORDER BY user_id`;
}

/** Rows aggregateSource returns, for restore progress. */
export function countAggregateRows(db: string, source: SourceRef): string {
  return `SELECT count() AS n FROM ${sqlIdent(db)}.latest WHERE ${sourceWhere(source)}`;
}

function indexCondition(index: string): string {
  if (index.startsWith('e:')) return `type = ${sqlString(index.slice(2))}`;
  const last = index.lastIndexOf(':');
  const id = index.slice(2, last);
  const type = index.slice(last + 1);
  return `${index.startsWith('v:') ? 'variant_id' : 'step_id'} = ${sqlString(id)} AND type = ${sqlString(type)}`;
}

function programSql(p: Program, f: FilterPlan): string {
  if ('leaf' in p) {
    const l = f.leaves[p.leaf]!;
    const parts = [`c${p.leaf} > 0`];
    if (l.after !== -Infinity) parts.push(`l${p.leaf} >= ${sqlInt(Math.ceil(l.after))}`);
    if (l.before !== Infinity) parts.push(`l${p.leaf} < ${sqlInt(Math.ceil(l.before))}`);
    return `(${parts.join(' AND ')})`;
  }
  if ('not' in p) return `(NOT ${programSql(p.not, f)})`;
  const members = ('and' in p ? p.and : p.or).map((m) => programSql(m, f));
  return `(${members.join('and' in p ? ' AND ' : ' OR ')})`;
}

/**
 * The users matching a retargeting filter, from history, with the hot tier's semantics: per
 * user and leaf the latest time (maxIf) and whether any such event exists (countIf: an
 * aggregate row exists only for events that do), read from `latest`; users are those with any event of the named sources, which is what `not` ranges over.
 * `users` restricts to given ids (check); `afterUser`/`limit` page in user id order (audience).
 */
export function filterUsers(db: string, f: FilterPlan, opts: { users?: string[]; afterUser?: string; limit?: number; count?: boolean }): string {
  const cols = f.leaves.map((l, i) => {
    const cond = `${sourceWhere(l.source)} AND ${indexCondition(l.index)}`;
    return `maxIf(time, ${cond}) AS l${i}, countIf(${cond}) AS c${i}`;
  });
  const where = [`(${f.sources.map((s) => `(${sourceWhere(s)})`).join(' OR ')})`];
  if (opts.users) where.push(`user_id IN (${opts.users.map(sqlString).join(', ')})`);
  if (opts.afterUser !== undefined) where.push(`user_id > ${sqlString(opts.afterUser)}`);
  const inner = `SELECT user_id, ${cols.join(', ')} FROM ${sqlIdent(db)}.latest WHERE ${where.join(' AND ')} GROUP BY user_id`;
  if (opts.count) return `SELECT count() AS n FROM (${inner}) WHERE ${programSql(f.program, f)}`;
  const limit = opts.limit !== undefined ? ` LIMIT ${sqlInt(opts.limit)}` : '';
  return `SELECT user_id FROM (${inner}) WHERE ${programSql(f.program, f)} ORDER BY user_id${limit}`;
}
