import { foldMarks, hotWritesInFlight, type ErasureFence, type History, type HotIndex, type IndexSource, type LookupPressure } from '../../core/index.js';

/**
 * Loads a source's hot counts (docs/design.md, "Hot counts") after a restore or rebuild copied
 * its latest times: the marks of history's events within the horizon, merged as a set with what
 * ingest writes meanwhile, then the source's counts said complete from the horizon's start.
 * Until then count leaves over the source read history. Erasures are fenced as the copy's
 * chunks are (history-copy.ts): rows of users an erasure excludes since `mark` are left out,
 * and a chunk on its way while one was heard of is followed by that erasure again; the caller
 * settles afterwards. Nothing to do when hot counts are off.
 */
export async function loadCountMarks(
  deps: { history: History; hot: HotIndex; erasures?: ErasureFence; pressure?: LookupPressure }, source: IndexSource, chunkRows: number, mark: number, now: number,
): Promise<void> {
  if (!(deps.hot.countHorizonMs > 0)) return;
  const since = now - deps.hot.countHorizonMs;
  const fence = deps.erasures;
  for await (const read of deps.history.recentEvents(source, since, chunkRows)) {
    const rows = fence ? read.filter((r) => !fence.excludes(r.userId, mark)) : read;
    const heard = fence?.mark();
    if (rows.length) await deps.hot.load(foldMarks(source, rows), { maxInFlight: hotWritesInFlight(deps.pressure) });
    if (fence && fence.mark() !== heard) await fence.recheck(rows.map((r) => r.userId), mark, [source]);
  }
  await deps.hot.countsComplete(source, since);
}
