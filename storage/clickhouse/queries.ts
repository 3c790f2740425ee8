import { isAnyMessage, parseIndexName, type FilterPlan, type IndexSource, type Program, type SourceRef } from '../../core/index.js';
import { sqlIdent, sqlInt, sqlString } from './sql.js';

/**
 * The history's SQL, as functions of validated inputs, so the same text runs against the
 * ClickHouse server and, in tests, against current ClickHouse in-process (chdb).
 * Every query is exact before and after background merges: uniqExact(id), max(time), sums and argMax.
 * A source's count of events reads the maintained count tables (countsBySource); counts of events in a window read the raw `events` (count leaves its copy in user order, `events_by_user`); everything that needs only latest times reads the
 * `latest` aggregate (schema.ts), which holds one row per (source, user, type, variant, step)
 * once merged, a few before.
 */

export function sourceWhere(source: SourceRef): string {
  return `source_kind = ${sqlString(source.kind)} AND source_id = ${sqlString(source.id)}`;
}

/** Rows of any of `sources`, parenthesised: each source's condition, OR-ed. */
function anySourceWhere(sources: readonly IndexSource[]): string {
  return `(${sources.map((s) => `(${sourceWhere(s as SourceRef)})`).join(' OR ')})`;
}

/**
 * The exact count of a source's distinct event ids, over its raw events: what the maintained
 * count (countsBySource) must equal. Costs a read of every event of the source (seconds at
 * 10M): audits and tests only, never a state read.
 */
export function recountEvents(db: string, source: SourceRef): string {
  return `SELECT uniqExact(id) AS n FROM ${sqlIdent(db)}.events WHERE ${sourceWhere(source)}`;
}

/** Rows of the given sources: per kind, `source_id IN (...)` (18.16 reads a tuple IN less well than a plain one). */
function sourcesWhere(sources: readonly SourceRef[]): string {
  const byKind = new Map<string, string[]>();
  for (const s of sources) {
    let ids = byKind.get(s.kind);
    if (!ids) byKind.set(s.kind, (ids = []));
    ids.push(sqlString(s.id));
  }
  return [...byKind].map(([kind, ids]) => `(source_kind = ${sqlString(kind)} AND source_id IN (${ids.join(', ')}))`).join(' OR ') || '0';
}

/** The key of a source's audit row in `event_count_adjustments` (schema.ts, migration 5). */
export const AUDIT_KEY = 'audit';

/**
 * Per source, the rows the maintained count sums (schema.ts, migration 5): `n` from
 * `event_counts` (c = 0: each block inserted into `events`), and per key of
 * `event_count_adjustments` its newest row (c = 1 for the audit row, 2 for the others), with
 * `basis` (the count the audit corrected). `where`: a condition on the source columns.
 */
function countRows(db: string, where: string): string {
  return `SELECT source_kind, source_id, 0 AS c, sum(n) AS n, toInt64(0) AS basis FROM ${sqlIdent(db)}.event_counts WHERE ${where} GROUP BY source_kind, source_id
    UNION ALL
    SELECT source_kind, source_id, if(key = ${sqlString(AUDIT_KEY)}, 1, 2) AS c, argMax(n, at) AS n, argMax(basis, at) AS basis
    FROM ${sqlIdent(db)}.event_count_adjustments WHERE ${where} GROUP BY source_kind, source_id, key`;
}

/**
 * The distinct event ids of each source, maintained as they are stored (schema.ts, migration
 * 5): a sum over a few rows per source, whatever its number of events. A source without
 * events has no row.
 */
export function countsBySource(db: string, sources: readonly SourceRef[]): string {
  return `SELECT source_kind, source_id, sum(n) AS n FROM (${countRows(db, sourcesWhere(sources))}) GROUP BY source_kind, source_id`;
}

/**
 * Sources whose count moved since their last audit (or never audited), with what an audit
 * reads: `counted` (the count without the audit's correction) and `fix` (that correction).
 * Reads only the count tables. At most `limit` sources, in random order: when more move
 * between audits than one audit takes, none waits behind the same first ones every time.
 */
export function auditCandidates(db: string, limit: number): string {
  return `SELECT source_kind, source_id, counted, fix FROM (
      SELECT source_kind, source_id, sumIf(n, c != 1) AS counted, sumIf(n, c = 1) AS fix, sumIf(basis, c = 1) AS basis, countIf(c = 1) AS audited
      FROM (${countRows(db, '1')}) GROUP BY source_kind, source_id
    ) WHERE audited = 0 OR counted != basis ORDER BY rand() LIMIT ${sqlInt(limit)}`;
}

/** What an audit reads of one source's count tables before and after its recount (see auditCandidates). */
export function countedOf(db: string, source: SourceRef): string {
  return `SELECT sumIf(n, c != 1) AS counted, sumIf(n, c = 1) AS fix FROM (${countRows(db, sourceWhere(source))})`;
}

/**
 * The event ids of `ids` that history holds already, per group of a source's events close in
 * time: read from `event_ids` (schema.ts, migration 4), sorted by source, time and id, so a
 * group reads the granules of its time range in its source, whatever the source's size. A
 * copy stored with another time than the one asked about is not found (docs/design.md,
 * "History counts").
 */
export function storedIds(db: string, groups: readonly { source: SourceRef; ids: readonly string[]; minTime: number; maxTime: number }[]): string {
  // The ids as one string split by the server, not a list of literals: 18.16 parsed and
  // analysed 5,000 literals in 50 ms, the split in 10 ms. Ids hold no comma (core/sources.ts).
  const where = groups.map((g) => `(${sourceWhere(g.source)} AND time >= ${sqlInt(g.minTime)} AND time <= ${sqlInt(g.maxTime)} AND id IN (SELECT arrayJoin(splitByChar(',', ${sqlString(g.ids.join(','))}))))`);
  return `SELECT DISTINCT source_kind, source_id, id FROM ${sqlIdent(db)}.event_ids WHERE ${where.join(' OR ') || '0'}`;
}

/** A user's distinct event ids per source, counted before an erasure deletes them (erase.ts). */
export function userEventsBySource(db: string, userId: string): string {
  return `SELECT source_kind, source_id, uniqExact(id) AS n FROM ${sqlIdent(db)}.events WHERE user_id = ${sqlString(userId)} GROUP BY source_kind, source_id`;
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
 * chunk sends a user's `any` and type entries once (bench/HISTORY.md, "tiers: runs and analyses
 * until 2026-12-06"). `fromUser`: from that
 * user on (inclusive: a resumed restore reads again the user its last chunk ended with).
 */
export function aggregateSource(db: string, source: SourceRef, fromUser?: string): string {
  const from = fromUser === undefined ? '' : ` AND user_id >= ${sqlString(fromUser)}`;
  // Clicks with a link alias are not in `latest` (its key has no alias): their latest per user,
  // step and alias comes from `events`, as rows with the alias in the last column.
  return `SELECT user_id, type, variant_id, step_id, time, link_alias FROM (
      SELECT user_id, toString(type) AS type, variant_id, step_id, time, '' AS link_alias FROM ${sqlIdent(db)}.latest
      WHERE ${sourceWhere(source)}${from}
      UNION ALL
      SELECT user_id, 'click' AS type, '' AS variant_id, step_id, max(time) AS time, link_alias FROM ${sqlIdent(db)}.events
      WHERE ${sourceWhere(source)}${from} AND type = 'click' AND link_alias != ''
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

/**
 * The raw events with time >= `since` of a source (from `events_by_user`, in user order, a few
 * months' partitions) or of every source (`events`, which keeps channels: the any-message
 * pseudo-source's marks): what a restore or rebuild loads the hot counts from. A duplicate not
 * merged yet comes twice: the same mark, kept once.
 */
export function recentEvents(db: string, source: SourceRef | null, since: number): string {
  const after = `time >= ${sqlInt(Math.floor(since))}`;
  if (source === null) {
    return `SELECT user_id, toString(type) AS type, '' AS variant_id, '' AS step_id, toString(channel) AS channel, time, id
      FROM ${sqlIdent(db)}.events WHERE ${after}`;
  }
  return `SELECT user_id, toString(type) AS type, variant_id, step_id, '' AS channel, time, id
    FROM ${sqlIdent(db)}.events_by_user WHERE ${sourceWhere(source)} AND ${after} ORDER BY user_id`;
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
    if (l.count) {
      const bounds = [`n${p.leaf} >= ${sqlInt(l.count.min)}`];
      if (l.count.max !== Infinity) bounds.push(`n${p.leaf} <= ${sqlInt(l.count.max)}`);
      return `(${bounds.join(' AND ')})`;
    }
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
  const inner = filterValues(db, f, opts);
  if (opts.count) return `SELECT count() AS n FROM (${inner}) WHERE ${programSql(f.program, f)}`;
  const limit = opts.limit !== undefined ? ` LIMIT ${sqlInt(opts.limit)}` : '';
  return `SELECT user_id FROM (${inner}) WHERE ${programSql(f.program, f)} ORDER BY user_id${limit}`;
}

/**
 * filterValues for a filter with any-message leaves (their universe is every user of the
 * namespace) or leaves of channels and link aliases (read from `events`: `latest` keeps
 * neither): the rows of `latest` (r = 0) and of the events such leaves need (r = 1), one GROUP
 * BY over both; count leaves joined by user as in filterValues.
 */
function extendedValues(db: string, f: FilterPlan, opts: { users?: readonly string[]; afterUser?: string }): string {
  const users = userWhere(opts);
  const { cols, names } = leafColumns(f, (l) => unionCondition(l.source, l.index));
  if (cols.length === 0) cols.push('count() AS rows');
  const universe = f.sources.some(isAnyMessage) ? '1' : anySourceWhere(f.sources);
  const eventLeaves = f.leaves.filter((l) => !l.count && fromEvents(l.index)).map((l) => `(${unionCondition(l.source, l.index).replace('r = 1 AND ', '')})`);
  const rows = [
    `SELECT 0 AS r, source_kind, source_id, user_id, toString(type) AS type, variant_id, step_id, '' AS channel, '' AS link_alias, time
      FROM ${sqlIdent(db)}.latest WHERE ${[universe, ...users].join(' AND ')}`,
  ];
  if (eventLeaves.length) {
    rows.push(`SELECT 1 AS r, source_kind, source_id, user_id, toString(type) AS type, variant_id, step_id, toString(channel) AS channel, link_alias, time
      FROM ${sqlIdent(db)}.events WHERE ${[`(${eventLeaves.join(' OR ')})`, ...users].join(' AND ')}`);
  }
  const inner = `SELECT user_id, ${cols.join(', ')} FROM (${rows.join(' UNION ALL ')}) GROUP BY user_id`;
  if (!f.leaves.some((l) => l.count)) return inner;
  return `SELECT user_id, ${names.join(', ')} FROM (${inner}) AS u ANY LEFT JOIN (${leafCounts(db, f.leaves, opts)}) AS k USING user_id`;
}

type PlanLeaf = FilterPlan['leaves'][number];

/** The users a query is restricted to: given ids (check), or those after one in id order (audience). */
function userWhere(opts: { users?: readonly string[]; afterUser?: string }): string[] {
  const where: string[] = [];
  if (opts.users) where.push(`user_id IN (${opts.users.map(sqlString).join(', ')})`);
  if (opts.afterUser !== undefined) where.push(`user_id > ${sqlString(opts.afterUser)}`);
  return where;
}

/**
 * Per user of the filter's universe (any row in `latest` of the named sources), a column per
 * leaf: `l<i>` (latest time, maxIf) and `c<i>` (rows, countIf) for a latest-time leaf, `n<i>`
 * (distinct events in its window) for a count leaf. Count leaves read the raw `events`
 * (leafCounts), joined by user: a user without such events gets 0 (ANY LEFT JOIN's default),
 * and the universe stays `latest`'s, which every event reaches through its view.
 */
export function filterValues(db: string, f: FilterPlan, opts: { users?: readonly string[]; afterUser?: string }): string {
  const extended = f.sources.some(isAnyMessage) || f.leaves.some((l) => !l.count && fromEvents(l.index));
  return extended ? extendedValues(db, f, opts) : latestValues(db, f, opts);
}

/**
 * The per-user columns of a filter's leaves: `l<i>` (latest time, maxIf) and `c<i>` (rows,
 * countIf) of a latest-time leaf under its condition; a count leaf's `n<i>` is only named (its
 * column comes from leafCounts, joined by user).
 */
function leafColumns(f: FilterPlan, condition: (l: PlanLeaf) => string): { cols: string[]; names: string[] } {
  const cols: string[] = [];
  const names: string[] = [];
  f.leaves.forEach((l, i) => {
    if (l.count) {
      names.push(`n${i}`);
      return;
    }
    const cond = condition(l);
    cols.push(`maxIf(time, ${cond}) AS l${i}, countIf(${cond}) AS c${i}`);
    names.push(`l${i}`, `c${i}`);
  });
  return { cols, names };
}

/** filterValues of a filter whose latest-time leaves `latest` answers alone. */
function latestValues(db: string, f: FilterPlan, opts: { users?: readonly string[]; afterUser?: string }): string {
  const { cols, names } = leafColumns(f, (l) => `${sourceWhere(l.source as SourceRef)} AND ${indexCondition(l.index)}`);
  // 18.16 needs an aggregate in a GROUP BY query's select: a filter of count leaves only has none.
  if (cols.length === 0) cols.push('count() AS rows');
  const where = [anySourceWhere(f.sources), ...userWhere(opts)];
  const universe = `SELECT user_id, ${cols.join(', ')} FROM ${sqlIdent(db)}.latest WHERE ${where.join(' AND ')} GROUP BY user_id`;
  if (!f.leaves.some((l) => l.count)) return universe;
  return `SELECT user_id, ${names.join(', ')} FROM (${universe}) AS u ANY LEFT JOIN (${leafCounts(db, f.leaves, opts)}) AS k USING user_id`;
}

/**
 * Per user, for each count leaf i of `leaves` (the others are skipped), `n<i>`: the distinct
 * event ids (uniqExact: duplicates not merged yet count once) of its index over its sources
 * with time in [after, before). Users without any such event have no row. Read from
 * `events_by_user` (schema.ts, migration 3): the raw events sorted by source, user and index
 * and partitioned by month, so a check reads a few granules per user and month of the window.
 * A count of one channel over every source (`c:<channel>:<type>`) reads `events`, which keeps
 * channels (`events_by_user` does not): every source's events of the window's months, so such a
 * leaf costs more from history than from the hot counts. With both kinds, the two reads are
 * added up per user (UNION ALL, then sum: 18.16 has no FULL JOIN of this shape).
 */
export function leafCounts(db: string, leaves: readonly PlanLeaf[], opts: { users?: readonly string[]; afterUser?: string }): string {
  const read = (table: string, mine: (l: PlanLeaf) => boolean, conditionOf: (index: string) => string, width: 'plain' | 'padded'): string | undefined => {
    const conds: string[] = [];
    const cols: string[] = [];
    let any = false;
    leaves.forEach((l, i) => {
      if (!l.count) return;
      if (!mine(l)) {
        if (width === 'padded') cols.push(`toUInt64(0) AS m${i}`);
        return;
      }
      any = true;
      // No sources: a count over every source (an any-message leaf).
      const over = l.count.sources.length ? [anySourceWhere(l.count.sources)] : [];
      const parts = [...over, conditionOf(l.index), `time >= ${sqlInt(Math.ceil(l.after))}`];
      if (l.before !== Infinity) parts.push(`time < ${sqlInt(Math.ceil(l.before))}`);
      const cond = parts.join(' AND ');
      conds.push(`(${cond})`);
      // Padded: one part of a UNION ALL, columns m<i> of one type, summed into n<i> (an alias
      // equal to the summed column's name would be cyclic).
      cols.push(width === 'padded' ? `toUInt64(uniqExactIf(id, ${cond})) AS m${i}` : `uniqExactIf(id, ${cond}) AS n${i}`);
    });
    if (!any && width === 'padded') return undefined;
    const where = [`(${conds.join(' OR ') || '0'})`, ...userWhere(opts)];
    return `SELECT user_id, ${cols.join(', ')} FROM ${sqlIdent(db)}.${table} WHERE ${where.join(' AND ')} GROUP BY user_id`;
  };
  const byChannel = (l: PlanLeaf) => l.index.startsWith('c:');
  if (!leaves.some((l) => l.count && byChannel(l))) return read('events_by_user', () => true, indexCondition, 'plain')!;
  const channelCondition = (index: string) => {
    const p = parseIndexName(index) as { channel: string; type: string };
    return `channel = ${sqlString(p.channel)} AND type = ${sqlString(p.type)}`;
  };
  const parts = [
    read('events_by_user', (l) => !byChannel(l), indexCondition, 'padded'),
    read('events', byChannel, channelCondition, 'padded'),
  ].filter((q): q is string => q !== undefined);
  const names = leaves.flatMap((l, i) => (l.count ? [`sum(m${i}) AS n${i}`] : []));
  return `SELECT user_id, ${names.join(', ')} FROM (${parts.join(' UNION ALL ')}) GROUP BY user_id`;
}
