import { isAnyMessage, parseIndexName, type FilterPlan, type IndexSource, type Program, type SourceRef } from '../../core/index.js';
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
 * chunk sends a user's `any` and type entries once (bench/README.md).
 */
export function aggregateSource(db: string, source: SourceRef): string {
  // Clicks with a link alias are not in `latest` (its key has no alias): their latest per user,
  // step and alias comes from `events`, as rows with the alias in the last column.
  return `SELECT user_id, type, variant_id, step_id, time, link_alias FROM (
      SELECT user_id, toString(type) AS type, variant_id, step_id, time, '' AS link_alias FROM ${sqlIdent(db)}.latest
      WHERE ${sourceWhere(source)}
      UNION ALL
      SELECT user_id, 'click' AS type, '' AS variant_id, step_id, max(time) AS time, link_alias FROM ${sqlIdent(db)}.events
      WHERE ${sourceWhere(source)} AND type = 'click' AND link_alias != ''
      GROUP BY user_id, step_id, link_alias
    ) ORDER BY user_id`;
}

/**
 * The any-message pseudo-source's aggregate, for the Redis-loss rebuild: the latest time per
 * user, type, channel and link alias over every source, from the raw events (no aggregate
 * table keeps channels or aliases), in user order.
 */
export function anyMessageAggregate(db: string): string {
  return `SELECT user_id, toString(type) AS type, toString(channel) AS channel, link_alias, max(time) AS time
    FROM ${sqlIdent(db)}.events GROUP BY user_id, type, channel, link_alias ORDER BY user_id`;
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

/** Whether a leaf needs rows of `events` (a channel or a link alias: `latest` keeps neither). */
const fromEvents = (index: string): boolean => /^(a|sa|c):/.test(index);

/**
 * A leaf's condition on the rows of filterUsers' union: `r = 0` the rows of `latest`, `r = 1`
 * those of `events` (channels and aliases). An any-message leaf has no source condition.
 */
function unionCondition(source: IndexSource, index: string): string {
  const where = isAnyMessage(source) ? [] : [sourceWhere(source)];
  const p = parseIndexName(index);
  if (p.kind === 'alias') where.push('r = 1', `link_alias = ${sqlString(p.alias)}`);
  else if (p.kind === 'stepAlias') where.push('r = 1', `step_id = ${sqlString(p.step)}`, `link_alias = ${sqlString(p.alias)}`);
  else if (p.kind === 'channel') where.push('r = 1', `channel = ${sqlString(p.channel)}`, `type = ${sqlString(p.type)}`);
  else where.push('r = 0', indexCondition(index));
  return where.join(' AND ');
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
  const users: string[] = [];
  if (opts.users) users.push(`user_id IN (${opts.users.map(sqlString).join(', ')})`);
  if (opts.afterUser !== undefined) users.push(`user_id > ${sqlString(opts.afterUser)}`);
  const extended = f.sources.some(isAnyMessage) || f.leaves.some((l) => fromEvents(l.index));
  let inner: string;
  if (!extended) {
    const cols = f.leaves.map((l, i) => {
      const cond = `${sourceWhere(l.source as SourceRef)} AND ${indexCondition(l.index)}`;
      return `maxIf(time, ${cond}) AS l${i}, countIf(${cond}) AS c${i}`;
    });
    const where = [`(${f.sources.map((s) => `(${sourceWhere(s as SourceRef)})`).join(' OR ')})`, ...users];
    inner = `SELECT user_id, ${cols.join(', ')} FROM ${sqlIdent(db)}.latest WHERE ${where.join(' AND ')} GROUP BY user_id`;
  } else {
    // Any-message leaves range over every source (the universe is every user of the
    // namespace), and channels and link aliases are read from `events`: the rows of `latest`
    // (r = 0) and of the events such leaves need (r = 1), one GROUP BY over both.
    const cols = f.leaves.map((l, i) => {
      const cond = unionCondition(l.source, l.index);
      return `maxIf(time, ${cond}) AS l${i}, countIf(${cond}) AS c${i}`;
    });
    const universe = f.sources.some(isAnyMessage) ? '1' : `(${f.sources.map((s) => `(${sourceWhere(s as SourceRef)})`).join(' OR ')})`;
    const eventLeaves = f.leaves.filter((l) => fromEvents(l.index)).map((l) => `(${unionCondition(l.source, l.index).replace('r = 1 AND ', '')})`);
    const rows = [
      `SELECT 0 AS r, source_kind, source_id, user_id, toString(type) AS type, variant_id, step_id, '' AS channel, '' AS link_alias, time
        FROM ${sqlIdent(db)}.latest WHERE ${[universe, ...users].join(' AND ')}`,
    ];
    if (eventLeaves.length) {
      rows.push(`SELECT 1 AS r, source_kind, source_id, user_id, toString(type) AS type, variant_id, step_id, toString(channel) AS channel, link_alias, time
        FROM ${sqlIdent(db)}.events WHERE ${[`(${eventLeaves.join(' OR ')})`, ...users].join(' AND ')}`);
    }
    inner = `SELECT user_id, ${cols.join(', ')} FROM (${rows.join(' UNION ALL ')}) GROUP BY user_id`;
  }
  if (opts.count) return `SELECT count() AS n FROM (${inner}) WHERE ${programSql(f.program, f)}`;
  const limit = opts.limit !== undefined ? ` LIMIT ${sqlInt(opts.limit)}` : '';
  return `SELECT user_id FROM (${inner}) WHERE ${programSql(f.program, f)} ORDER BY user_id${limit}`;
}
