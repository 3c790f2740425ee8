/**
 * The measured tier transitions of the source: demotion and restore cycles, with the tier
 * manager's store calls timed, the Redis memory before and after, and the hot state checked.
 */
import type { AggregateRow, SourceRef } from '../../core/index.js';
import type { Tierstream } from '../../runtime.js';
import { round, startPhase, timed, type PhaseUsage, type StageTime } from '../measure.js';
import { SOURCE, type Ctx } from './context.js';
import { redisMemory, sourceMemory, type RedisMemory, type SourceMemory } from './redis-memory.js';
import { checkState, differing, digestOf, type Check, type Expected } from './state-check.js';

export type RestoreStages = Record<'history.countAggregateRows' | 'history.aggregateSource (waiting for the next chunk)' | 'hot.load' | 'hot.setGate' | 'registry.update', StageTime>;

export interface RestoreResult extends PhaseUsage {
  seconds: number;
  aggregateRows: number;
  /**
   * (user, time) pairs sent to Redis in the restore's folds, over all indexes. More than the
   * members that result when a user's rows fall into several chunks (each sends its any/type entries).
   */
  membersSent: number;
  stages: RestoreStages;
  check: Check;
}

export interface Cycle {
  run: number;
  /** The hot state before demotion equals the fold of the generated events. */
  before: Check;
  memoryBefore: { source: SourceMemory; redis: RedisMemory };
  demotion: PhaseUsage & {
    seconds: number;
    keysRemoved: number;
    /** After `settled()`, until Redis's background free (UNLINK) reported nothing pending, ms. */
    lazyFreeMs: number;
  };
  memoryAfter: { source: SourceMemory; redis: RedisMemory };
  /** 1 - (source bytes after / before), by MEMORY USAGE over the source's keys. */
  freedShareByKeys: number;
  /**
   * (used_memory before - after demotion) / (used_memory before - used_memory with the source
   * empty, measured at setup): the share of what the source really added to Redis that
   * demotion gave back. Other clients of the same Redis move it by their own writes.
   */
  freedShareByUsedMemory: number;
  restore: RestoreResult;
  /** The restored state equals the state before demotion (digest of every index). */
  equalsBeforeDemotion: boolean;
  memoryAfterRestore: SourceMemory;
}

/** Members the instrumented hot.load was given since the last reset. */
const membersSent = { n: 0 };

/**
 * Times the tier manager's store calls during a restore by wrapping the store objects it was
 * given (it holds the same instances), so the engine's code is measured unchanged.
 */
export function instrument(ts: Tierstream): RestoreStages {
  membersSent.n = 0;
  const stages: RestoreStages = {
    'history.countAggregateRows': { calls: 0, seconds: 0 },
    'history.aggregateSource (waiting for the next chunk)': { calls: 0, seconds: 0 },
    'hot.load': { calls: 0, seconds: 0 },
    'hot.setGate': { calls: 0, seconds: 0 },
    'registry.update': { calls: 0, seconds: 0 },
  };
  ts.history.countAggregateRows = timed(stages['history.countAggregateRows'], ts.history.countAggregateRows.bind(ts.history));
  const load = timed(stages['hot.load'], ts.hot.load.bind(ts.hot));
  ts.hot.load = (fold, opts) => {
    for (const users of fold.indexes.values()) membersSent.n += users.size;
    return load(fold, opts);
  };
  ts.hot.setGate = timed(stages['hot.setGate'], ts.hot.setGate.bind(ts.hot));
  ts.registry.update = timed(stages['registry.update'], ts.registry.update.bind(ts.registry));
  const aggregate = ts.history.aggregateSource.bind(ts.history);
  const waiting = stages['history.aggregateSource (waiting for the next chunk)'];
  ts.history.aggregateSource = async function* (source: SourceRef, chunkRows: number): AsyncGenerator<AggregateRow[]> {
    const it = aggregate(source, chunkRows);
    for (;;) {
      const t = performance.now();
      const r = await it.next();
      waiting.calls++;
      waiting.seconds += (performance.now() - t) / 1000;
      if (r.done) return;
      yield r.value;
    }
  };
  return stages;
}

function resetStages(stages: RestoreStages): void {
  for (const s of Object.values(stages)) (s.calls = 0), (s.seconds = 0);
  membersSent.n = 0;
}

const snapshotStages = (stages: RestoreStages): RestoreStages =>
  Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { calls: v.calls, seconds: round(v.seconds, 3) }])) as RestoreStages;

/** `restore` + `settled()` of the (expired) source, timed; then its hot state checked in full. */
export async function restoreOnce(ctx: Ctx, ts: Tierstream, stages: RestoreStages, expected: Expected, reason: string): Promise<RestoreResult> {
  resetStages(stages);
  const end = startPhase();
  const t0 = performance.now();
  const { started } = await ts.tiers.restore(SOURCE, reason);
  if (!started) throw new Error(`restore of ${SOURCE.id} did not start (the source was not expired)`);
  await ts.tiers.settled();
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const rec = await ts.registry.get(SOURCE);
  if (rec?.tier !== 'hot') throw new Error(`after the restore the source is ${rec?.tier ?? 'unknown'}, not hot (see the log)`);
  const last = rec.transitions[rec.transitions.length - 1]?.reason ?? '';
  const { check } = await checkState(ts.hot, SOURCE, expected);
  ctx.signal.throwIfAborted();
  return {
    seconds: round(seconds, 3),
    aggregateRows: Number(/(\d+) aggregate rows/.exec(last)?.[1] ?? NaN),
    membersSent: membersSent.n,
    stages: snapshotStages(stages),
    check,
    ...usage,
  };
}

export async function demoteAndRestore(
  ctx: Ctx, ts: Tierstream, stages: RestoreStages, expected: Expected, run: number, usedMemoryEmpty: number,
): Promise<Cycle> {
  const { check: before, digest: beforeDigest } = await checkState(ts.hot, SOURCE, expected);
  const memoryBefore = { source: await sourceMemory(ctx, SOURCE), redis: await redisMemory(ctx) };

  const end = startPhase();
  const t0 = performance.now();
  const claimed = await ts.tiers.demote(SOURCE, 'bench: demotion', true);
  if (claimed.tier !== 'demoting') throw new Error(`demotion not claimed: the source is ${claimed.tier}`);
  await ts.tiers.settled();
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const rec = await ts.registry.get(SOURCE);
  if (rec?.tier !== 'expired') throw new Error(`after the demotion the source is ${rec?.tier ?? 'unknown'}, not expired (see the log)`);
  const redisAfter = await redisMemory(ctx);
  const memoryAfter = { source: await sourceMemory(ctx, SOURCE), redis: redisAfter };
  const keysRemoved = Number(/(\d+) keys removed/.exec(rec.transitions[rec.transitions.length - 1]?.reason ?? '')?.[1] ?? NaN);

  const restore = await restoreOnce(ctx, ts, stages, expected, 'bench: restore');
  const restoredDigest = digestOf(await ts.hot.snapshot(SOURCE));
  return {
    run,
    before,
    memoryBefore: { source: memoryBefore.source, redis: { usedMemory: memoryBefore.redis.usedMemory, usedMemoryRss: memoryBefore.redis.usedMemoryRss } },
    demotion: { seconds: round(seconds, 4), keysRemoved, lazyFreeMs: redisAfter.lazyFreeMs, ...usage },
    memoryAfter: { source: memoryAfter.source, redis: { usedMemory: redisAfter.usedMemory, usedMemoryRss: redisAfter.usedMemoryRss } },
    freedShareByKeys: round(1 - memoryAfter.source.bytes / memoryBefore.source.bytes, 5),
    freedShareByUsedMemory: round((memoryBefore.redis.usedMemory - redisAfter.usedMemory) / (memoryBefore.redis.usedMemory - usedMemoryEmpty), 4),
    restore,
    equalsBeforeDemotion: differing(beforeDigest, restoredDigest).length === 0,
    memoryAfterRestore: await sourceMemory(ctx, SOURCE),
  };
}
