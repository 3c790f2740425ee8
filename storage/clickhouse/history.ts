import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, ClickHouseLogLevel } from '@clickhouse/client';
import { type AggregateRow, type FilterPlan, type EventType, type History, type InteractionEvent, type SourceRef, foldAggregates, sourceName } from '../../core/index.js';
import { MIGRATIONS, baseStatements, eventMonths, recordVersion, schemaVersion, typeEnumStatement } from './schema.js';
import { sqlIdent } from './sql.js';
import * as queries from './queries.js';
import * as erase from './erase.js';

export interface ClickHouseHistoryOptions {
  url: string;
  /** Database name: the namespace. */
  database: string;
  /** Per-request timeout in ms (default 60_000). */
  requestTimeoutMs?: number;
}

/** TabSeparated escaping of a text field: backslash, tab, newline, carriage return. */
export function tsvEscape(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => TSV_ESCAPES[c]!) : value;
}
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One event as a TabSeparated row, columns in table order. TabSeparated costs ClickHouse less
 * to parse than JSONEachRow, and us less to build (bench/README.md). Ids, types and channels
 * are validated by the contract's character sets (no tab, newline or backslash); properties
 * are escaped.
 */
const toTsv = (e: InteractionEvent): string =>
  `${e.source.kind}\t${e.source.id}\t${e.id}\t${e.type}\t${e.userId}\t${e.variantId ?? ''}\t${e.stepId ?? ''}\t${e.channel ?? ''}\t${e.time}\t${e.properties === undefined ? '' : tsvEscape(e.properties)}\n`;

/**
 * One TabSeparated row of (user_id, type, variant_id, step_id, time), as queries.aggregateSource
 * returns it, as an AggregateRow. The columns hold only ids of the contract's character sets (no
 * tab, newline or backslash), so a split is exact. Also read by bench/tiers for raw events.
 */
export function aggregateRowFromTsv(text: string): AggregateRow {
  const [userId, type, variantId, stepId, t] = text.split('\t') as [string, EventType, string, string, string];
  return { userId, type, variantId, stepId, time: Number(t) };
}

/** The durable history on ClickHouse: the raw events and their `latest` aggregate in database `<namespace>` (schema.ts). */
export class ClickHouseHistory implements History {
  readonly client: ClickHouseClient;
  readonly db: string;

  constructor(opts: ClickHouseHistoryOptions) {
    this.db = sqlIdent(opts.database);
    this.client = createClient({
      url: opts.url,
      request_timeout: opts.requestTimeoutMs ?? 60_000,
      // Errors are the caller's to log, with context; the client would print each one too.
      log: { level: ClickHouseLogLevel.OFF },
      max_open_connections: 8,
    });
  }

  /**
   * Creates the namespace's tables if missing, and upgrades one made by an earlier version in
   * place: each migration newer than the recorded schema version runs (DDL, then its backfill
   * month by month), then is recorded. Safe to run from several processes at once and to
   * interrupt: every step may be repeated (see schema.ts).
   */
  async migrate(): Promise<void> {
    for (const query of baseStatements(this.db)) await this.client.command({ query });
    await this.client.command({ query: typeEnumStatement(this.db, 'events') });
    const [row] = await this.select<{ v: number | string }>(schemaVersion(this.db));
    const current = Number(row?.v ?? 0);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const query of m.statements(this.db)) await this.client.command({ query });
      if (m.backfill) {
        for (const { month } of await this.select<{ month: string }>(eventMonths(this.db))) {
          await this.client.command({ query: m.backfill(this.db, Number(month)) });
        }
      }
      await this.client.command({ query: recordVersion(this.db, m.version) });
    }
    await this.client.command({ query: typeEnumStatement(this.db, 'latest') });
  }

  async insert(events: readonly InteractionEvent[]): Promise<void> {
    if (events.length === 0) return;
    let body = '';
    for (const e of events) body += toTsv(e);
    await this.client.insert({ table: `${this.db}.events`, values: Readable.from([Buffer.from(body, 'utf8')], { objectMode: false }), format: 'TabSeparated' });
  }

  async countEvents(source: SourceRef): Promise<number> {
    const rows = await this.select<{ n: string }>(queries.countEvents(this.db, source));
    return Number(rows[0]?.n ?? 0);
  }

  async countEventsBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    const out = new Map(sources.map((s) => [sourceName(s), 0]));
    if (sources.length === 0) return out;
    const rows = await this.select<{ source_kind: string; source_id: string; n: string }>(queries.countEventsBySource(this.db, sources));
    for (const r of rows) out.set(`${r.source_kind}:${r.source_id}`, Number(r.n));
    return out;
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
   * `chunkRows`, so a restore of any size holds one chunk in memory at a time.
   */
  async *aggregateSource(source: SourceRef, chunkRows: number): AsyncGenerator<AggregateRow[]> {
    // TabSeparated: 18.16 has no JSONCompactEachRow, and the columns hold only ids of the
    // contract's character sets (ASCII, no tab, newline or backslash), so a split is exact.
    // The response is split into lines here, from its raw buffers: the client's per-row
    // objects cost more than the query (bench/README.md).
    const { stream } = await this.client.exec({ query: `${queries.aggregateSource(this.db, source)} FORMAT TabSeparated` });
    let chunk: AggregateRow[] = [];
    let tail = '';
    for await (const buf of stream as AsyncIterable<Buffer>) {
      const lines = (tail + buf.toString('latin1')).split('\n');
      tail = lines.pop()!;
      for (const line of lines) {
        chunk.push(aggregateRowFromTsv(line));
        if (chunk.length >= chunkRows) {
          yield chunk;
          chunk = [];
        }
      }
    }
    if (tail) chunk.push(aggregateRowFromTsv(tail));
    if (chunk.length) yield chunk;
  }

  /** Users matching a filter (see queries.filterUsers), in user id order. */
  async filterUsers(f: FilterPlan, opts: { users?: string[]; afterUser?: string; limit?: number }): Promise<string[]> {
    const rows = await this.select<{ user_id: string }>(queries.filterUsers(this.db, f, opts));
    return rows.map((r) => r.user_id);
  }

  async filterCount(f: FilterPlan): Promise<number> {
    const rows = await this.select<{ n: string }>(queries.filterUsers(this.db, f, { count: true }));
    return Number(rows[0]?.n ?? 0);
  }

  async select<T>(query: string): Promise<T[]> {
    const rs = await this.client.query({ query, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.client.ping()).success;
    } catch {
      return false;
    }
  }

  /** Erasure of a user: their events out of every history table (see erase.ts). */
  eraseUser(userId: string): Promise<number> {
    return erase.eraseUser(this.client, this.db, ['events', 'latest'], userId);
  }

  /** Drops the namespace's database (tests and benchmarks only). */
  async dropDatabase(): Promise<void> {
    await this.client.command({ query: `DROP DATABASE IF EXISTS ${this.db}` });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
