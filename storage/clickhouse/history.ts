import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, ClickHouseLogLevel } from '@clickhouse/client';
import { TierstreamError, isAnyMessage, type IndexSource, type RecentEvent, type AggregateRow, type AnyMessageRow, type Channel, type FilterPlan, type EventType, type History, type InteractionEvent, type SourceRef, foldAggregates, sourceName } from '../../core/index.js';
import { ADDED_EVENT_COLUMNS, MIGRATIONS, SHARD, SINGLE_SERVER, addColumnStatement, baseStatements, distributedStatements, eventMonths, recordVersion, schemaVersion, tableColumns, tableEngine, typeEnumStatement, type Tables } from './schema.js';
import { sqlIdent, sqlString } from './sql.js';
import * as queries from './queries.js';
import * as erase from './erase.js';

export interface ClickHouseHistoryOptions {
  /** HTTP endpoint; with `cluster`, the endpoint of every node of the cluster, comma separated. */
  url: string;
  /** Database name: the namespace. */
  database: string;
  /**
   * A cluster of the nodes' `remote_servers`: the history is then sharded by user over its
   * nodes (schema.ts, `Tables`), each node's tables created by migrate(). Unset: one server.
   */
  cluster?: string;
  /** Per-request timeout in ms (default 60_000). */
  requestTimeoutMs?: number;
  /**
   * Whether insert() leaves out the ids `events` holds already (default true). false only for
   * the ingest benchmark's measure of that check: without it the maintained counts count a
   * re-sent or redelivered id again.
   */
  dedupInserts?: boolean;
}

/** What auditCounts did: sources recounted (of which corrected), and sources left for later because something moved meanwhile. */
export interface CountAudit {
  audited: number;
  corrected: number;
  deferred: number;
}

/** Ids longest in one existence query, characters: ClickHouse's max_query_size is 256 KiB. */
const STORED_QUERY_CHARS = 100_000;
/** Event time one group of an existence query spans at most, ms: a batch of live events is one group per source. */
const STORED_GROUP_MS = 3_600_000;

/** A (source, event id) pair as one string; ids hold no tab (core/sources.ts). */
const eventKey = (kind: string, sourceId: string, id: string) => `${kind}:${sourceId}\t${id}`;

/** One ClickHouse node: its endpoint (as configured) and a client of its own. */
export interface ClickHouseNode {
  url: string;
  client: ClickHouseClient;
}

/** Thrown by migrate() when the namespace on a node was made in the other layout (single server or cluster). */
export class HistoryLayoutError extends TierstreamError<'history_layout_mismatch'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('history_layout_mismatch', message, options);
  }
}

/** TabSeparated escaping of a text field: backslash, tab, newline, carriage return. */
export function tsvEscape(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => TSV_ESCAPES[c]!) : value;
}
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One event as a TabSeparated row, columns in table order. TabSeparated costs ClickHouse less
 * to parse than JSONEachRow, and us less to build (bench/HISTORY.md, "After the first
 * optimisation (commit 22dcc6d)"). Ids, types and channels
 * are validated by the id character sets of core/sources.ts (no tab, newline or backslash); properties
 * are escaped. Also used by bench/ingest's stores floor.
 */
export const eventTsvRow = (e: InteractionEvent): string =>
  `${e.source.kind}\t${e.source.id}\t${e.id}\t${e.type}\t${e.userId}\t${e.variantId ?? ''}\t${e.stepId ?? ''}\t${e.channel ?? ''}\t${e.time}\t${e.properties === undefined ? '' : tsvEscape(e.properties)}\t${e.linkAlias ?? ''}\t${e.canvasVariationId ?? ''}\n`;

/**
 * One TabSeparated row of (user_id, type, variant_id, step_id, time), as queries.aggregateSource
 * returns it, as an AggregateRow. The columns hold only ids (character sets of core/sources.ts: no
 * tab, newline or backslash), so a split is exact. Also read by bench/tiers for raw events.
 */
export function aggregateRowFromTsv(text: string): AggregateRow {
  const [userId, type, variantId, stepId, t, linkAlias] = text.split('\t') as [string, EventType, string, string, string, string | undefined];
  const row: AggregateRow = { userId, type, variantId, stepId, time: Number(t) };
  if (linkAlias) row.linkAlias = linkAlias;
  return row;
}

/**
 * The durable history on ClickHouse: the raw events and their `latest` aggregate in database
 * `<namespace>` (schema.ts), on one server or sharded by user over a cluster's nodes.
 *
 * On a cluster every query and insert goes to the first node, through the Distributed tables,
 * with two settings that make the cluster answer as one server or not at all:
 * `insert_distributed_sync=1` (an insert returns once every row is in its shard's table, so
 * an acknowledged event is on its shard, never queued on the first node) and
 * `skip_unavailable_shards=0` (a query that cannot reach a shard fails instead of answering
 * from the others; 18.16's default, set so that no profile can change it).
 */
export class ClickHouseHistory implements History {
  /** The first node's client: every query and insert goes there. */
  readonly client: ClickHouseClient;
  readonly db: string;
  readonly nodes: readonly ClickHouseNode[];
  readonly cluster: string | undefined;
  private readonly dedupInserts: boolean;

  constructor(opts: ClickHouseHistoryOptions) {
    this.db = sqlIdent(opts.database);
    this.dedupInserts = opts.dedupInserts ?? true;
    this.cluster = opts.cluster || undefined;
    const urls = opts.url.split(',').map((u) => u.trim()).filter(Boolean);
    if (urls.length === 0) throw new TypeError('ClickHouseHistory: no url');
    if (urls.length > 1 && !this.cluster) throw new TypeError(`ClickHouseHistory: ${urls.length} urls need a cluster (CLICKHOUSE_CLUSTER)`);
    this.nodes = urls.map((url) => ({
      url,
      client: createClient({
        url,
        request_timeout: opts.requestTimeoutMs ?? 60_000,
        // Errors are the caller's to log, with context; the client would print each one too.
        log: { level: ClickHouseLogLevel.OFF },
        max_open_connections: 8,
        ...(this.cluster && { clickhouse_settings: { insert_distributed_sync: 1, skip_unavailable_shards: 0 } }),
      }),
    }));
    this.client = this.nodes[0]!.client;
  }

  /**
   * Creates the namespace's tables if missing, and upgrades one made by an earlier version in
   * place: each migration newer than the recorded schema version runs (DDL, then its backfill
   * month by month), then is recorded. Safe to run from several processes at once and to
   * interrupt: every step may be repeated (see schema.ts).
   */
  async migrate(): Promise<void> {
    if (!this.cluster) {
      await this.checkLayout(this.nodes[0]!);
      await this.migrateNode(this.nodes[0]!, SINGLE_SERVER);
      return;
    }
    // No ON CLUSTER (it needs ZooKeeper): each node is migrated here, one after the other,
    // its shard's tables first, then the Distributed tables over them. Until every node is
    // done, an insert whose types differ between nodes fails and is retried (ingest waits).
    for (const node of this.nodes) await this.checkLayout(node);
    for (const node of this.nodes) {
      await this.migrateNode(node, SHARD);
      for (const query of distributedStatements(this.db, this.cluster)) await node.client.command({ query });
      await this.addColumns(node, 'events');
      for (const table of [SINGLE_SERVER.events, SINGLE_SERVER.latest, SINGLE_SERVER.byUser]) await node.client.command({ query: typeEnumStatement(this.db, table) });
    }
  }

  /** The schema version and migrations of one node, on the tables it stores the history in. */
  private async migrateNode(node: ClickHouseNode, tables: Tables): Promise<void> {
    const run = (query: string) => node.client.command({ query });
    for (const query of baseStatements(this.db, tables)) await run(query);
    await this.addColumns(node, tables.events);
    await run(typeEnumStatement(this.db, tables.events));
    const [row] = await this.selectOn<{ v: number | string }>(node, schemaVersion(this.db));
    const current = Number(row?.v ?? 0);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const query of m.statements(this.db, tables)) await run(query);
      if (m.backfill) {
        for (const { month } of await this.selectOn<{ month: string }>(node, eventMonths(this.db, tables.events))) {
          await run(m.backfill(this.db, Number(month), tables, this.cluster ? node.url : undefined));
        }
      }
      await run(recordVersion(this.db, m.version));
    }
    // The views' targets gain a type with their source (typeEnumStatement), after the migrations made them.
    await run(typeEnumStatement(this.db, tables.latest));
    await run(typeEnumStatement(this.db, tables.byUser));
  }

  /** Appends to `table` the ADDED_EVENT_COLUMNS it lacks (a table made by an earlier version). */
  private async addColumns(node: ClickHouseNode, table: string): Promise<void> {
    const have = new Set((await this.selectOn<{ name: string }>(node, tableColumns(this.db, table))).map((r) => r.name));
    for (const c of ADDED_EVENT_COLUMNS) if (!have.has(c.name)) await node.client.command({ query: addColumnStatement(this.db, table, c) });
  }

  /**
   * Refuses a namespace made in the other layout: on a cluster, an `events` that is not
   * Distributed is a single server's history (switching is a documented migration, docs/deployment.md,
   * "Moving a namespace to a ClickHouse cluster");
   * on one server, a Distributed `events` belongs to a cluster.
   */
  private async checkLayout(node: ClickHouseNode): Promise<void> {
    const [row] = await this.selectOn<{ engine: string }>(node, tableEngine(this.db, 'events'));
    const engine = row?.engine ?? '';
    if (engine === '') return;
    if (this.cluster && engine !== 'Distributed') {
      throw new HistoryLayoutError(`${node.url}: ${this.db}.events is a ${engine} table, a single server's history; CLICKHOUSE_CLUSTER needs the cluster layout (docs/deployment.md, "Moving a namespace to a ClickHouse cluster")`);
    }
    if (!this.cluster && engine === 'Distributed') {
      throw new HistoryLayoutError(`${node.url}: ${this.db}.events is a Distributed table of a cluster's history; set CLICKHOUSE_CLUSTER and list every node in CLICKHOUSE_URL`);
    }
  }

  /** (source, id) pairs whose check and insert are under way in this process (insert). */
  private readonly writing = new Map<string, Promise<void>>();

  /**
   * Stores the events whose (source, id) history does not hold yet (storedOf), each once, so that the
   * maintained counts (schema.ts, migration 5) count each distinct id once: a copy re-sent
   * past JetStream's duplicate window, a redelivered batch whose insert had landed, the same
   * id twice in a batch are not inserted again (they would collapse in `events` anyway; their
   * `latest` and `events_by_user` rows would repeat a max and a key). The check and the insert
   * of an id are not run by two batches of this process at once (a batch waits for those that
   * hold any of its ids); two processes, or a retry after an insert that failed here but
   * landed later, can still both insert an id: the audit corrects that (auditCounts).
   */
  async insert(events: readonly InteractionEvent[]): Promise<void> {
    if (events.length === 0) return;
    const unique = new Map<string, InteractionEvent>();
    for (const e of events) {
      const key = eventKey(e.source.kind, e.source.id, e.id);
      if (!unique.has(key)) unique.set(key, e);
    }
    const release = await this.claim([...unique.keys()]);
    try {
      const stored = this.dedupInserts ? await this.storedOf([...unique.values()]) : new Set<string>();
      let body = '';
      for (const [key, e] of unique) if (!stored.has(key)) body += eventTsvRow(e);
      if (body) await this.client.insert({ table: `${this.db}.events`, values: Readable.from([Buffer.from(body, 'utf8')], { objectMode: false }), format: 'TabSeparated' });
    } finally {
      release();
    }
  }

  /** Waits until no batch of this process holds any of `keys`, then holds them; returns the release. */
  private async claim(keys: readonly string[]): Promise<() => void> {
    for (;;) {
      const busy = new Set<Promise<void>>();
      for (const k of keys) {
        const p = this.writing.get(k);
        if (p) busy.add(p);
      }
      if (busy.size === 0) break;
      await Promise.all(busy);
    }
    // No await between the look and the claim: the keys are held by this batch alone.
    let done!: () => void;
    const held = new Promise<void>((r) => (done = r));
    for (const k of keys) this.writing.set(k, held);
    return () => {
      for (const k of keys) if (this.writing.get(k) === held) this.writing.delete(k);
      done();
    };
  }

  /**
   * The keys (eventKey) of `events` that history holds already (queries.storedIds): each
   * source's events in groups spanning at most STORED_GROUP_MS of event time, in queries of at
   * most STORED_QUERY_CHARS of ids (under ClickHouse's max_query_size), run side by side.
   */
  private async storedOf(events: readonly InteractionEvent[]): Promise<Set<string>> {
    const bySource = new Map<string, InteractionEvent[]>();
    for (const e of events) {
      const name = sourceName(e.source);
      let list = bySource.get(name);
      if (!list) bySource.set(name, (list = []));
      list.push(e);
    }
    type Group = { source: SourceRef; ids: string[]; minTime: number; maxTime: number };
    const queriesOf: Group[][] = [[]];
    let chars = 0;
    for (const list of bySource.values()) {
      list.sort((a, b) => a.time - b.time);
      let g: Group | undefined;
      for (const e of list) {
        if (!g || e.time - g.minTime > STORED_GROUP_MS || chars > STORED_QUERY_CHARS) {
          if (chars > STORED_QUERY_CHARS) {
            queriesOf.push([]);
            chars = 0;
          }
          g = { source: e.source, ids: [], minTime: e.time, maxTime: e.time };
          queriesOf[queriesOf.length - 1]!.push(g);
          chars += e.source.id.length + 120;
        }
        g.ids.push(e.id);
        g.maxTime = e.time;
        chars += e.id.length + 4;
      }
    }
    const found = new Set<string>();
    await Promise.all(queriesOf.map(async (groups) => {
      const rows = await this.select<{ source_kind: string; source_id: string; id: string }>(queries.storedIds(this.db, groups));
      for (const r of rows) found.add(eventKey(r.source_kind, r.source_id, r.id));
    }));
    return found;
  }

  /** A source's distinct event ids, maintained as they are stored (countEventsBySource). */
  async countEvents(source: SourceRef): Promise<number> {
    return (await this.countEventsBySource([source])).get(sourceName(source)) ?? 0;
  }

  /** Each source's distinct event ids from the maintained counts: a few rows per source, milliseconds at any size. */
  async countEventsBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    const out = new Map(sources.map((s) => [sourceName(s), 0]));
    if (sources.length === 0) return out;
    const rows = await this.select<{ source_kind: string; source_id: string; n: string }>(queries.countsBySource(this.db, sources));
    for (const r of rows) out.set(`${r.source_kind}:${r.source_id}`, Number(r.n));
    return out;
  }

  /** A source's distinct event ids counted over its raw events (uniqExact): exact, and as slow as the source is large. */
  async recountEvents(source: SourceRef): Promise<number> {
    const rows = await this.select<{ n: string }>(queries.recountEvents(this.db, source));
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Audits the maintained counts of at most `limit` sources whose count moved since their last
   * audit (or never audited): see auditCount. `busy` as auditCount takes it.
   */
  async auditCounts(opts: { limit?: number; busy?: () => boolean } = {}): Promise<CountAudit> {
    const out: CountAudit = { audited: 0, corrected: 0, deferred: 0 };
    const rows = await this.select<{ source_kind: SourceRef['kind']; source_id: string }>(queries.auditCandidates(this.db, opts.limit ?? 100));
    for (const r of rows) {
      const result = await this.auditCount({ kind: r.source_kind, id: r.source_id }, opts.busy);
      if (result === 'deferred') out.deferred++;
      else {
        out.audited++;
        if (result === 'corrected') out.corrected++;
      }
    }
    return out;
  }

  /**
   * Recounts a source exactly and records the difference from its maintained count as the
   * source's `audit` row (its correction, replacing the previous one, with the count it
   * corrected as `basis`). The recount and the count are compared only when nothing moved
   * while the recount ran: the count the same before and after it, no mutation (an erasure)
   * created or undone on a node, and `busy()` (erasures in progress) false before and after;
   * otherwise nothing is written ('deferred') and a later audit tries again. Being a
   * replacement, not an increment, an audit run twice (two processes) writes the same
   * correction.
   */
  async auditCount(source: SourceRef, busy?: () => boolean): Promise<'exact' | 'corrected' | 'deferred'> {
    if (busy?.()) return 'deferred';
    const counted = async () => (await this.select<{ counted: string; fix: string }>(queries.countedOf(this.db, source)))[0]!;
    const m0 = await this.mutations();
    if (m0.pending) return 'deferred';
    const before = await counted();
    const exact = await this.recountEvents(source);
    const after = await counted();
    const m1 = await this.mutations();
    if (busy?.() || m1.pending || m1.total !== m0.total || before.counted !== after.counted || before.fix !== after.fix) return 'deferred';
    const basis = Number(after.counted);
    const fix = exact - basis;
    // The newest audit row wins (argMax by `at`): strictly increasing within a process.
    const at = (this.lastAuditAt = Math.max(Date.now(), this.lastAuditAt + 1));
    await this.client.insert({
      table: `${this.db}.event_count_adjustments`,
      values: [{ source_kind: source.kind, source_id: source.id, key: queries.AUDIT_KEY, n: fix, basis, at }],
      format: 'JSONEachRow',
    });
    return fix === Number(after.fix) ? 'exact' : 'corrected';
  }

  private lastAuditAt = 0;

  /**
   * The namespace's mutations on every node: a signature of the ones listed (it changes when one
   * is created, or an old one is forgotten) and how many are not done.
   */
  private async mutations(): Promise<{ total: string; pending: number }> {
    const total: string[] = [];
    let pending = 0;
    for (const node of this.nodes) {
      const [r] = await this.selectOn<{ total: string; pending: string }>(node,
        `SELECT concat(toString(count()), '/', toString(sum(cityHash64(mutation_id)))) AS total, countIf(is_done = 0) AS pending FROM system.mutations WHERE database = ${sqlString(this.db)}`);
      total.push(r?.total ?? '');
      pending += Number(r?.pending ?? 0);
    }
    return { total: total.join(','), pending };
  }

  async userLatest(source: SourceRef, userId: string): Promise<Map<string, number>> {
    const rows = await this.select<{ type: EventType; variant_id: string; step_id: string; t: string }>(
      queries.userLatest(this.db, source, userId),
    );
    const fold = foldAggregates(
      source,
      rows.map((r) => ({ userId, type: r.type, variantId: r.variant_id, stepId: r.step_id, time: Number(r.t) })),
    );
    return new Map([...fold.indexes].map(([name, users]) => [name, users.get(userId)!]));
  }

  async countAggregateRows(source: SourceRef): Promise<number> {
    const rows = await this.select<{ n: string }>(queries.countAggregateRows(this.db, source));
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Streams a source's aggregate (latest time per user, type, variant, step; a key may come
   * more than once before merges, see queries.aggregateSource) in chunks of at most
   * `chunkRows`, so a restore of any size holds one chunk in memory at a time; `fromUser`: from
   * that user id on.
   */
  async *aggregateSource(source: SourceRef, chunkRows: number, opts: { fromUser?: string } = {}): AsyncGenerator<AggregateRow[]> {
    yield* this.tsvChunks(queries.aggregateSource(this.db, source, opts.fromUser), aggregateRowFromTsv, chunkRows);
  }

  async *anyMessageAggregate(chunkRows: number): AsyncGenerator<AnyMessageRow[]> {
    // Every column is an id, a type or a channel: TabSeparated splits exactly, as in aggregateSource.
    const row = (line: string): AnyMessageRow => {
      const [userId, type, channel, linkAlias, t] = line.split('\t') as [string, EventType, string, string, string];
      return { userId, type, channel: (channel || undefined) as Channel | undefined, linkAlias: linkAlias || undefined, time: Number(t) };
    };
    yield* this.tsvChunks(queries.anyMessageAggregate(this.db), row, chunkRows);
  }

  async *recentEvents(source: IndexSource, since: number, chunkRows: number): AsyncGenerator<RecentEvent[]> {
    // Ids, types and channels only: TabSeparated splits exactly, as in aggregateSource.
    const row = (line: string): RecentEvent => {
      const [userId, type, variantId, stepId, channel, t, id] = line.split('\t') as [string, EventType, string, string, string, string, string];
      return { userId, type, variantId, stepId, channel: (channel || undefined) as Channel | undefined, time: Number(t), id };
    };
    yield* this.tsvChunks(queries.recentEvents(this.db, isAnyMessage(source) ? null : source, since), row, chunkRows);
  }

  /**
   * A query's rows as TabSeparated, parsed by `row`, in chunks of at most `chunkRows`.
   * TabSeparated: 18.16 has no JSONCompactEachRow, and the columns these queries return hold only
   * ids of the id character sets of core/sources.ts (ASCII, no tab, newline or backslash), so a
   * split is exact. The response is split into lines here, from its raw buffers: the client's
   * per-row objects cost more than the query (bench/HISTORY.md, "tiers: runs and analyses until
   * 2026-12-06").
   */
  private async *tsvChunks<T>(query: string, row: (line: string) => T, chunkRows: number): AsyncGenerator<T[]> {
    const { stream } = await this.client.exec({ query: `${query} FORMAT TabSeparated` });
    let chunk: T[] = [];
    let tail = '';
    for await (const buf of stream as AsyncIterable<Buffer>) {
      const lines = (tail + buf.toString('latin1')).split('\n');
      tail = lines.pop()!;
      for (const line of lines) {
        chunk.push(row(line));
        if (chunk.length >= chunkRows) {
          yield chunk;
          chunk = [];
        }
      }
    }
    if (tail) chunk.push(row(tail));
    if (chunk.length) yield chunk;
  }

  /** Users matching a filter (see queries.filterUsers), in user id order. */
  async filterUsers(f: FilterPlan, opts: { users?: string[]; afterUser?: string; limit?: number }): Promise<string[]> {
    const rows = await this.select<{ user_id: string }>(queries.filterUsers(this.db, f, opts));
    return rows.map((r) => r.user_id);
  }

  /**
   * Per given user of the filter's universe, one value per leaf: its latest time (NaN when
   * none) or, for a count leaf, its count (queries.filterValues). Users outside the universe are absent.
   */
  async filterValues(f: FilterPlan, users: readonly string[]): Promise<Map<string, Float64Array>> {
    if (users.length === 0) return new Map();
    const rows = await this.select<Record<string, string | number>>(queries.filterValues(this.db, f, { users }));
    return new Map(rows.map((r) => [String(r.user_id), Float64Array.from(f.leaves, (l, i) =>
      l.count ? Number(r[`n${i}`] ?? 0) : Number(r[`c${i}`]) > 0 ? Number(r[`l${i}`]) : NaN)]));
  }

  /**
   * For each given user with any event counted, one value per leaf of `leaves`: the count of a
   * count leaf (queries.leafCounts), NaN for the others. A user absent from the map counts 0 everywhere.
   */
  async leafCounts(leaves: FilterPlan['leaves'], users: readonly string[]): Promise<Map<string, Float64Array>> {
    if (users.length === 0 || !leaves.some((l) => l.count)) return new Map();
    const rows = await this.select<Record<string, string | number>>(queries.leafCounts(this.db, leaves, { users }));
    return new Map(rows.map((r) => [String(r.user_id), Float64Array.from(leaves, (l, i) => (l.count ? Number(r[`n${i}`]) : NaN))]));
  }

  async filterCount(f: FilterPlan): Promise<number> {
    const rows = await this.select<{ n: string }>(queries.filterUsers(this.db, f, { count: true }));
    return Number(rows[0]?.n ?? 0);
  }

  async select<T>(query: string): Promise<T[]> {
    return this.selectOn<T>(this.nodes[0]!, query);
  }

  /** A query on one node (its own tables and system tables), not through the first. */
  async selectOn<T>(node: ClickHouseNode, query: string): Promise<T[]> {
    const rs = await node.client.query({ query, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  /**
   * Whether every node answers. Ingest retries writes without limit while this is false, so a
   * shard that is away never turns events into dead letters (writes of users on other shards
   * may still succeed meanwhile).
   */
  async ping(): Promise<boolean> {
    return (await this.unavailableNodes()).length === 0;
  }

  /** The endpoints of the nodes that do not answer a ping, for /readyz. */
  async unavailableNodes(): Promise<string[]> {
    const answers = await Promise.all(this.nodes.map(async (n) => {
      try {
        return (await n.client.ping()).success;
      } catch {
        return false;
      }
    }));
    return this.nodes.filter((_, i) => !answers[i]).map((n) => n.url);
  }

  /** Erasure of a user: their events out of every history table, on every node (see erase.ts). */
  eraseUser(userId: string, run: string): Promise<number> {
    const tables = this.cluster ? SHARD : SINGLE_SERVER;
    return erase.eraseUser(this.client, this.nodes.map((n) => n.client), this.db, [tables.events, tables.latest, tables.byUser, tables.ids], userId, run);
  }

  /** Drops the namespace's database on every node (tests and benchmarks only). */
  async dropDatabase(): Promise<void> {
    for (const n of this.nodes) await n.client.command({ query: `DROP DATABASE IF EXISTS ${this.db}` });
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.client.close()));
  }
}
