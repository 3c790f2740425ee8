import { foldAggregates, hotWritesInFlight, retrying, type AggregateRow, type ErasureFence, type HotIndex, type IndexSource, type LookupPressure, type SourceFold, type SourceRef } from '../../core/index.js';
import { copyChunks, type CopyResume, type CopySpec } from './copy.js';
import type { TierContext } from './context.js';

/** Restore and rebuild chunks being written to Redis at once (measured: 3 hides most of the read time). */
export const HISTORY_WRITES_IN_FLIGHT = 3;

/** A chunk less the rows an erasure excludes, and what this process knew of erasures when it filtered. */
interface KeptChunk {
  rows: AggregateRow[];
  heard: number;
}

/**
 * Copies a source's aggregate from history into its hot indexes (copy.ts), fenced against
 * erasures (docs/operating.md, "Erasure"): each chunk loses the rows of users an erasure excludes, pending,
 * or done or first heard of since `mark` (taken before the read began: the read still returns
 * rows a later erasure deleted); a chunk on its way while this process heard of an erasure is
 * followed, once it landed, by that erasure's users removed from the source again. The caller
 * settles (settleErasures) once the copy ended, however it ended.
 */
export function copySourceHistory(
  ctx: TierContext,
  source: SourceRef,
  opts: { work: 'restore' | 'rebuild'; mark: number; resume?: CopyResume | null; lease?: CopySpec<AggregateRow, KeptChunk>['lease'] },
) {
  const { deps, options } = ctx;
  const fence = deps.erasures;
  return copyChunks<AggregateRow, KeptChunk>({
    read: (from) => (from === undefined ? deps.history.aggregateSource(source, ctx.chunkRows) : deps.history.aggregateSource(source, ctx.chunkRows, { fromUser: from })),
    keyOf: (chunk) => chunk[chunk.length - 1]!.userId,
    async prepare(read, chunk) {
      const kept = fence ? { rows: read.filter((r) => !fence.excludes(r.userId, opts.mark)), heard: fence.mark() } : { rows: read, heard: 0 };
      await options.beforeChunkWrite?.({ source, chunk, work: opts.work });
      return kept;
    },
    async write(chunk) {
      if (chunk.rows.length) await deps.hot.load(foldAggregates(source, chunk.rows), { maxInFlight: hotWritesInFlight(deps.pressure) });
      if (fence && fence.mark() !== chunk.heard) await fence.recheck(chunk.rows.map((r) => r.userId), opts.mark, [source]);
    },
    concurrency: HISTORY_WRITES_IN_FLIGHT,
    now: ctx.now,
    ...(opts.resume && { resume: opts.resume }),
    ...(opts.lease && { lease: opts.lease }),
  });
}

/**
 * Loads chunks of history rows into `source`'s hot indexes one after the other, fenced against
 * erasures as copySourceHistory's chunks are: rows of users an erasure excludes since `mark` are
 * left out, and a chunk on its way while this process heard of an erasure is followed, once it
 * landed, by that erasure's users removed again. The caller settles afterwards. For loads
 * without progress or resume points: the any-message rebuild and the hot counts' marks.
 */
export async function loadFenced<R extends { userId: string }>(
  deps: { hot: HotIndex; erasures?: ErasureFence; pressure?: LookupPressure },
  chunks: AsyncIterable<R[]>, fold: (rows: R[]) => SourceFold, source: IndexSource, mark: number,
): Promise<void> {
  const fence = deps.erasures;
  for await (const read of chunks) {
    const rows = fence ? read.filter((r) => !fence.excludes(r.userId, mark)) : read;
    const heard = fence?.mark();
    if (rows.length) await deps.hot.load(fold(rows), { maxInFlight: hotWritesInFlight(deps.pressure) });
    if (fence && fence.mark() !== heard) await fence.recheck(rows.map((r) => r.userId), mark, [source]);
  }
}

/**
 * After a restore's or rebuild's writes have all landed: removes from `sources`, again, every
 * user of an erasure not done before `mark`, as the erasure store says now (not as this
 * process's mirror said: it may have heard late). `since` (a resumed restore: when the restore
 * began, in any process): also every user of an erasure finished since, whose rows an earlier
 * holder may have written before it stopped without settling. Tried for about a minute: until
 * it succeeds, an erasure made during the work may be undone by it.
 */
export async function settleErasures(ctx: TierContext, mark: number, sources: readonly SourceRef[], since?: number): Promise<void> {
  const fence = ctx.deps.erasures;
  if (!fence || sources.length === 0) return;
  await retrying(() => fence.settle(mark, sources, since === undefined ? undefined : { since }), {
    retryable: () => true,
    attempts: 15,
    baseMs: 200,
    maxMs: 5_000,
    onRetry: (err, attempt) => ctx.log.warn({ err, attempt }, 'erasures not settled after a restore or rebuild; retrying'),
  });
}
