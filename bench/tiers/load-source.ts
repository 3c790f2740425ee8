/**
 * Setup, not measured: the source's generated events loaded into ClickHouse and folded in
 * memory (the expected hot state), and the wait for ClickHouse merges before measured phases.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { foldEvents, validateEvent, type InteractionEvent } from '../../core/index.js';
import { queries } from '../../storage/index.js';
import { generateEvents } from '../../scripts/generate.js';
import { round } from '../measure.js';
import { STALL_MS } from '../namespace.js';
import { SOURCE, type Ctx } from './context.js';
import { digestOf, type Expected } from './state-check.js';

/** Events per history.insert while loading the source (setup, not measured). */
export const LOAD_CHUNK = 100_000;

/**
 * Generates the source's events, inserts them into ClickHouse in chunks of LOAD_CHUNK and folds
 * them in memory: the fold's digest is what every hot state of the source must equal.
 * Then merges the tables' parts (a stopped campaign's history is long merged).
 */
export async function loadSource(ctx: Ctx) {
  const { p } = ctx;
  const t0 = performance.now();
  const indexes = new Map<string, Map<string, number>>();
  let insertSeconds = 0;
  let chunk: InteractionEvent[] = [];
  const flush = async () => {
    const t = performance.now();
    await ctx.history.insert(chunk);
    insertSeconds += (performance.now() - t) / 1000;
    for (const fold of foldEvents(chunk)) {
      for (const [name, users] of fold.indexes) {
        let into = indexes.get(name);
        if (!into) indexes.set(name, (into = new Map()));
        for (const [u, time] of users) {
          const prev = into.get(u);
          if (prev === undefined || time > prev) into.set(u, time);
        }
      }
    }
    chunk = [];
    ctx.signal.throwIfAborted();
  };
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-src`;
  for (const e of generateEvents({ count: p.events, campaigns: 1, users: p.users, variants: p.variants, canvasShare: 0, seed: p.seed, idPrefix })) {
    // The contract's mapping of a wire event, as ingest decodes it.
    chunk.push(validateEvent(e));
    if (chunk.length >= LOAD_CHUNK) await flush();
  }
  if (chunk.length) await flush();
  const seconds = (performance.now() - t0) / 1000;

  const tOpt = performance.now();
  const db = ctx.history.db;
  const partitions = await ctx.history.select<{ partition: string }>(
    `SELECT DISTINCT partition FROM system.parts WHERE database = '${db}' AND table = 'events' AND active`,
  );
  for (const { partition } of partitions) {
    await ctx.history.client.command({ query: `OPTIMIZE TABLE ${db}.events PARTITION ${Number(partition)} FINAL` });
  }
  // The latest-time aggregate (no partitions) is merged too, as a long-stopped campaign's is.
  await ctx.history.client.command({ query: `OPTIMIZE TABLE ${db}.latest FINAL` });
  await waitForMerges(ctx);
  const optimizeSeconds = (performance.now() - tOpt) / 1000;
  const [parts] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.parts WHERE database = '${db}' AND table = 'events' AND active`);

  const [counts] = await ctx.history.select<{ events: string; users: string }>(
    `SELECT uniqExact(id) AS events, uniqExact(user_id) AS users FROM ${db}.events WHERE ${queries.sourceWhere(SOURCE)}`,
  );
  const aggregateRows = await ctx.history.countAggregateRows(SOURCE);
  const digest = digestOf(indexes);
  const expected: Expected = {
    digest,
    distinctUsers: indexes.get('any')?.size ?? 0,
    members: [...digest.values()].reduce((s, d) => s + d.members, 0),
  };
  return {
    seconds: round(seconds, 2),
    insertSeconds: round(insertSeconds, 2),
    optimizeSeconds: round(optimizeSeconds, 2),
    parts: Number(parts?.n ?? 0),
    clickhouse: { events: Number(counts?.events ?? 0), users: Number(counts?.users ?? 0), aggregateRows },
    expected,
  };
}

/** Waits until ClickHouse runs no merge in the namespace's database: none competes with a measured phase. */
export async function waitForMerges(ctx: Ctx): Promise<void> {
  const started = performance.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const [r] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = '${ctx.history.db}'`);
    if (Number(r?.n ?? 0) === 0) return;
    if (performance.now() - started > STALL_MS) throw new Error(`ClickHouse merges in ${ctx.history.db} still running after ${STALL_MS / 1000} s`);
    await sleep(200);
  }
}
