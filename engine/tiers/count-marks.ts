import { foldMarks, type ErasureFence, type History, type HotIndex, type IndexSource, type LookupPressure } from '../../core/index.js';
import { loadFenced } from './history-copy.js';

/**
 * Loads a source's hot counts (docs/design.md, "Hot counts") after a restore or rebuild copied
 * its latest times: the marks of history's events within the horizon, merged as a set with what
 * ingest writes meanwhile, then the source's counts said complete from the horizon's start.
 * Until then count leaves over the source read history. Erasures are fenced as the copy's
 * chunks are (history-copy.ts, loadFenced); the caller settles afterwards. Nothing to do when
 * hot counts are off.
 */
export async function loadCountMarks(
  deps: { history: History; hot: HotIndex; erasures?: ErasureFence; pressure?: LookupPressure }, source: IndexSource, chunkRows: number, mark: number, now: number,
): Promise<void> {
  if (!(deps.hot.countHorizonMs > 0)) return;
  const since = now - deps.hot.countHorizonMs;
  await loadFenced(deps, deps.history.recentEvents(source, since, chunkRows), (rows) => foldMarks(source, rows), source, mark);
  await deps.hot.countsComplete(source, since);
}
