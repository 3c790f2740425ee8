import type { ClickHouseClient } from '@clickhouse/client';
import { userEventsBySource } from './queries.js';
import { sqlIdent, sqlString } from './sql.js';

/** How often a mutation's progress is read, ms. */
const MUTATION_POLL_MS = 200;

/**
 * Removes a user's events from the history tables with `ALTER TABLE ... DELETE` (a mutation:
 * ClickHouse 18.16 and current alike; the parts are rewritten in the background), then waits
 * until no mutation of those tables is left undone, so what follows reads no erased row.
 * Returns the user's distinct event ids before the delete, counted through `reader` (the
 * `events` it reads, Distributed on a cluster). On a cluster `nodes` are every node and
 * `tables` the local ones: a mutation runs only on the node it is sent to (no ON CLUSTER
 * without ZooKeeper), and a Distributed table takes none. Idempotent: a rerun removes what a
 * crash left, and finds 0.
 *
 * The maintained counts (schema.ts, migration 5) go down by the user's distinct ids in each
 * source, counted before the delete: one row per source in `event_count_adjustments`, keyed
 * by `run` (the erasure and its run), written before the mutations. A run repeated after a
 * crash writes the same keys again (replacing, not adding); one that finds nothing left writes
 * nothing, so the rows of the run that deleted stay. An event of the user stored between the
 * count and the mutation is deleted without being subtracted (docs/design.md, "History
 * counts": the audit corrects it).
 */
export async function eraseUser(
  reader: ClickHouseClient,
  nodes: readonly ClickHouseClient[],
  database: string,
  tables: readonly string[],
  userId: string,
  run: string,
  now: () => number = Date.now,
): Promise<number> {
  const db = sqlIdent(database);
  const rs = await reader.query({ query: userEventsBySource(db, userId), format: 'JSONEachRow' });
  const bySource = await rs.json<{ source_kind: string; source_id: string; n: string | number }>();
  const removed = bySource.reduce((sum, r) => sum + Number(r.n), 0);
  if (bySource.length) {
    const at = now();
    await reader.insert({
      table: `${db}.event_count_adjustments`,
      values: bySource.map((r) => ({ source_kind: r.source_kind, source_id: r.source_id, key: `erasure:${run}`, n: -Number(r.n), basis: 0, at })),
      format: 'JSONEachRow',
    });
  }
  for (const client of nodes) {
    for (const table of tables) {
      await client.command({ query: `ALTER TABLE ${db}.${sqlIdent(table)} DELETE WHERE user_id = ${sqlString(userId)}` });
    }
  }
  const list = tables.map((t) => sqlString(t)).join(', ');
  for (const client of nodes) {
    for (;;) {
      const q = await client.query({
        query: `SELECT count() AS n FROM system.mutations WHERE database = ${sqlString(db)} AND table IN (${list}) AND is_done = 0`,
        format: 'JSONEachRow',
      });
      if (Number((await q.json<{ n: string }>())[0]?.n ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, MUTATION_POLL_MS));
    }
  }
  return removed;
}
