import { foldAggregates, isAnyMessage, sourceName, type AggregateRow, type AnyMessageRow, type History, type IndexSource, type InteractionEvent, type RecentEvent, type SourceRef } from '../../core/index.js';
import { Valve } from './valve.js';

/**
 * The durable history in memory: events by id (an insert of a known id changes nothing), the
 * aggregate (latest time per source, user, type, variant, step) in user id order, read in
 * chunks as the ClickHouse history streams it. `valve` stalls every chunk read while closed,
 * `inserting` every insert, and `failInserts` makes the next inserts fail;
 * `reads` records each aggregate read (where it started: a resumed restore reads from a user).
 */
export class MemoryHistory implements History {
  private readonly events = new Map<string, InteractionEvent>();
  readonly valve = new Valve();
  readonly reads: { source: string; fromUser: string | undefined }[] = [];
  /** Stalls every insert while closed (a slow or stopped ClickHouse). */
  readonly inserting = new Valve();
  /** The next inserts reject with these, one each, before writing anything. */
  readonly failInserts: Error[] = [];
  /** Inserts attempted (held by `inserting` or not, failed or not). */
  insertCalls = 0;

  async insert(events: readonly InteractionEvent[]): Promise<void> {
    await this.inserting.pass();
    this.insertCalls++;
    const fail = this.failInserts.shift();
    if (fail) throw fail;
    for (const e of events) if (!this.events.has(`${sourceName(e.source)} ${e.id}`)) this.events.set(`${sourceName(e.source)} ${e.id}`, e);
  }

  /** Removes a user's events (the erasures' HistoryEraser). */
  async eraseUser(userId: string): Promise<number> {
    let n = 0;
    for (const [k, e] of this.events) if (e.userId === userId) (this.events.delete(k), n++);
    return n;
  }

  private of(source: SourceRef): InteractionEvent[] {
    return [...this.events.values()].filter((e) => sourceName(e.source) === sourceName(source));
  }

  /** The source's aggregate rows in user order (then type, variant, step). */
  aggregate(source: SourceRef): AggregateRow[] {
    const latest = new Map<string, AggregateRow>();
    for (const e of this.of(source)) {
      const row = { userId: e.userId, type: e.type, variantId: e.variantId ?? '', stepId: e.stepId ?? '', time: e.time };
      const key = `${row.userId}\t${row.type}\t${row.variantId}\t${row.stepId}`;
      if ((latest.get(key)?.time ?? -Infinity) < row.time) latest.set(key, row);
    }
    return [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  }

  /** The hot index's shape of the source, from history: what a restore must produce. */
  fold(source: SourceRef): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [index, users] of foldAggregates(source, this.aggregate(source)).indexes) out[index] = Object.fromEntries([...users].sort());
    return out;
  }

  async countEvents(source: SourceRef): Promise<number> {
    return this.of(source).length;
  }

  async countEventsBySource(sources: readonly SourceRef[]): Promise<Map<string, number>> {
    return new Map(sources.map((s) => [sourceName(s), this.of(s).length]));
  }

  async userLatest(source: SourceRef, userId: string): Promise<Map<string, number>> {
    const fold = foldAggregates(source, this.aggregate(source).filter((r) => r.userId === userId));
    return new Map([...fold.indexes].map(([name, users]) => [name, users.get(userId)!]));
  }

  async countAggregateRows(source: SourceRef): Promise<number> {
    return this.aggregate(source).length;
  }

  async *aggregateSource(source: SourceRef, chunkRows: number, opts: { fromUser?: string } = {}): AsyncGenerator<AggregateRow[]> {
    this.reads.push({ source: sourceName(source), fromUser: opts.fromUser });
    // Read when the query starts, as a server's snapshot: rows deleted later still come.
    const rows = this.aggregate(source).filter((r) => opts.fromUser === undefined || r.userId >= opts.fromUser);
    for (let i = 0; i < rows.length; i += chunkRows) {
      await this.valve.pass();
      yield rows.slice(i, i + chunkRows);
    }
  }

  /** The any-message pseudo-source's rows: latest time per user, type, channel and link alias over every source, in user order. */
  async *recentEvents(source: IndexSource, since: number, chunkRows: number): AsyncGenerator<RecentEvent[]> {
    const rows: RecentEvent[] = [];
    for (const e of this.events.values()) {
      if (e.time < since || (!isAnyMessage(source) && sourceName(e.source) !== sourceName(source))) continue;
      rows.push({ userId: e.userId, type: e.type, variantId: e.variantId ?? '', stepId: e.stepId ?? '', channel: e.channel, time: e.time, id: e.id });
    }
    for (let i = 0; i < rows.length; i += chunkRows) {
      await this.valve.pass();
      yield rows.slice(i, i + chunkRows);
    }
  }

  async *anyMessageAggregate(chunkRows: number): AsyncGenerator<AnyMessageRow[]> {
    const latest = new Map<string, AnyMessageRow>();
    for (const e of this.events.values()) {
      const key = `${e.userId}\t${e.type}\t${e.channel ?? ''}\t${e.linkAlias ?? ''}`;
      if ((latest.get(key)?.time ?? -Infinity) < e.time) latest.set(key, { userId: e.userId, type: e.type, channel: e.channel, linkAlias: e.linkAlias, time: e.time });
    }
    const rows = [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    for (let i = 0; i < rows.length; i += chunkRows) {
      await this.valve.pass();
      yield rows.slice(i, i + chunkRows);
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }
}
