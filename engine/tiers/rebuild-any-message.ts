import { ANY_MESSAGE, foldAnyMessage, hotWritesInFlight, type ErasureFence, type History, type HotIndex, type LookupPressure } from '../../core/index.js';
import { loadCountMarks } from './count-marks.js';

/**
 * The Redis-loss rebuild of the any-message pseudo-source (ANY_MESSAGE): every event of every
 * source, whatever its tier, from history's raw events (queries.anyMessageAggregate), merged
 * with max as ingest writes it, so ingest may go on meanwhile. Rows of users an erasure
 * excludes since `mark` (taken before the read) are left out, and once every chunk landed the
 * erasures are settled on the pseudo-source too, as a source's rebuild does. Its hot counts are
 * loaded last (count-marks.ts).
 */
export async function rebuildAnyMessage(
  deps: { history: History; hot: HotIndex; erasures?: ErasureFence; pressure?: LookupPressure }, chunkRows: number, mark: number, now: number,
): Promise<void> {
  const fence = deps.erasures;
  try {
    for await (const read of deps.history.anyMessageAggregate(chunkRows)) {
      const rows = fence ? read.filter((r) => !fence.excludes(r.userId, mark)) : read;
      const heard = fence?.mark();
      if (rows.length) await deps.hot.load(foldAnyMessage(rows), { maxInFlight: hotWritesInFlight(deps.pressure) });
      if (fence && fence.mark() !== heard) await fence.recheck(rows.map((r) => r.userId), mark, [ANY_MESSAGE]);
    }
    await loadCountMarks(deps, ANY_MESSAGE, chunkRows, mark, now);
  } finally {
    if (fence) await fence.settle(mark, [ANY_MESSAGE]);
  }
}
