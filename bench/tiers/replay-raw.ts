/**
 * The baselines the aggregated restore is compared with: the source rebuilt from its raw events
 * in ClickHouse, one by one, pipelined, or folded per chunk (the ingest write path).
 */
import { foldEvents, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { RedisHotIndex, queries } from '../../storage/index.js';
import { aggregateRowFromTsv } from '../../storage/clickhouse/index.js';
import { round, startPhase, type PhaseUsage } from '../measure.js';
import { SOURCE, type Ctx } from './context.js';
import { fmt } from './format.js';
import { checkState, type Check, type Expected } from './state-check.js';

/** Raw rows per chunk read from ClickHouse by the replays. */
export const RAW_CHUNK = 10_000;

export interface ReplayResult extends PhaseUsage {
  method: 'one-by-one' | 'pipelined' | 'folded';
  description: string;
  /** Raw events replayed (a prefix when fewer than the source holds). */
  events: number;
  sourceEvents: number;
  /** hot.apply calls (one script call each, or one per 40,000 values for a large fold). */
  redisCalls: number;
  seconds: number;
  eventsPerSecond: number;
  /** seconds × sourceEvents / events: equal to `seconds` when the whole source was replayed. */
  secondsForAll: number;
  extrapolated: boolean;
  /** Time spent waiting for ClickHouse rows (query, transfer, TSV parse) and in hot.apply. */
  clickhouseWaitSeconds: number;
  applySeconds: number;
  check?: Check;
}

/** Raw events of SOURCE from ClickHouse, streamed in chunks of RAW_CHUNK (at most `limit`), as events of `as`. */
async function* rawEvents(ctx: Ctx, as: SourceRef, limit: number | undefined): AsyncGenerator<InteractionEvent[]> {
  const query = `SELECT user_id, type, variant_id, step_id, time FROM ${ctx.history.db}.events WHERE ${queries.sourceWhere(SOURCE)}` +
    (limit === undefined ? '' : ` LIMIT ${limit}`);
  // TabSeparated, parsed as the restore's rows are: the same five columns in the same order.
  const rs = await ctx.history.client.query({ query, format: 'TabSeparated' });
  let chunk: InteractionEvent[] = [];
  for await (const rows of rs.stream()) {
    for (const row of rows) {
      const { userId, type, variantId, stepId, time } = aggregateRowFromTsv(row.text);
      const e: InteractionEvent = { id: '', type, userId, source: as, time };
      if (variantId) e.variantId = variantId;
      if (stepId) e.stepId = stepId;
      chunk.push(e);
      if (chunk.length >= RAW_CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length) yield chunk;
}

/**
 * Rebuilds a copy of the source (another campaign id, same namespace, same RedisHotIndex and
 * Lua script as ingest) from its raw events:
 * - one-by-one: `await hot.apply(foldEvents([event]))` per event, the next only after the reply;
 * - pipelined: one event per script call, `replayGroup` calls sent before awaiting them all;
 * - folded: `hot.apply(foldEvents(chunk))` per `chunkRows` raw events (the ingest write path).
 */
export async function replay(ctx: Ctx, method: ReplayResult['method'], expected: Expected, sourceEvents: number): Promise<ReplayResult> {
  const { p } = ctx;
  const copy: SourceRef = { kind: 'campaign', id: `${SOURCE.id}-replay-${method}` };
  const hot = new RedisHotIndex(ctx.redis, { namespace: ctx.ns });
  const limit = method === 'one-by-one' && p.replayEvents < sourceEvents ? p.replayEvents : undefined;
  const description = {
    'one-by-one': 'raw events one by one: await hot.apply(foldEvents([e])) per event',
    pipelined: `raw events, one per script call, ${fmt(p.replayGroup)} calls in flight`,
    folded: `raw events folded per ${fmt(p.chunkRows)}: hot.apply(foldEvents(chunk)) (the ingest write path)`,
  }[method];
  console.log(`\nreplay ${method}: ${description}${limit ? `; the first ${fmt(limit)} of ${fmt(sourceEvents)} events, time extrapolated` : ''}`);
  let events = 0;
  let calls = 0;
  let chWait = 0;
  let applySeconds = 0;
  let pending: InteractionEvent[] = [];
  const end = startPhase();
  const t0 = performance.now();
  const it = rawEvents(ctx, copy, limit);
  for (;;) {
    const tw = performance.now();
    const r = await it.next();
    chWait += (performance.now() - tw) / 1000;
    if (r.done) break;
    const ta = performance.now();
    if (method === 'one-by-one') {
      for (const e of r.value) await hot.apply(foldEvents([e]));
      calls += r.value.length;
    } else if (method === 'pipelined') {
      for (let i = 0; i < r.value.length; i += p.replayGroup) {
        await Promise.all(r.value.slice(i, i + p.replayGroup).map((e) => hot.apply(foldEvents([e]))));
      }
      calls += r.value.length;
    } else {
      pending.push(...r.value);
      while (pending.length >= p.chunkRows) {
        await hot.apply(foldEvents(pending.slice(0, p.chunkRows)));
        pending = pending.slice(p.chunkRows);
        calls++;
      }
    }
    applySeconds += (performance.now() - ta) / 1000;
    events += r.value.length;
    ctx.signal.throwIfAborted();
  }
  if (pending.length) {
    const ta = performance.now();
    await hot.apply(foldEvents(pending));
    applySeconds += (performance.now() - ta) / 1000;
    calls++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const check = limit === undefined ? (await checkState(hot, copy, expected)).check : undefined;
  // The copy's keys would otherwise count in the memory of everything measured afterwards.
  await hot.dropSource(copy);
  return {
    method,
    description,
    events,
    sourceEvents,
    redisCalls: calls,
    seconds: round(seconds, 3),
    eventsPerSecond: Math.round(events / seconds),
    secondsForAll: round(seconds * (sourceEvents / events), 2),
    extrapolated: events < sourceEvents,
    clickhouseWaitSeconds: round(chWait, 3),
    applySeconds: round(applySeconds, 3),
    ...(check && { check }),
    ...usage,
  };
}
