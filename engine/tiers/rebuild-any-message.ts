import { ANY_MESSAGE, foldAnyMessage, type ErasureFence, type History, type HotIndex, type LookupPressure } from '../../core/index.js';
import { loadCountMarks } from './count-marks.js';
import { loadFenced } from './history-copy.js';

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
  try {
    await loadFenced(deps, deps.history.anyMessageAggregate(chunkRows), foldAnyMessage, ANY_MESSAGE, mark);
    await loadCountMarks(deps, ANY_MESSAGE, chunkRows, mark, now);
  } finally {
    if (deps.erasures) await deps.erasures.settle(mark, [ANY_MESSAGE]);
  }
}
