import { lastValueFrom, tap } from 'rxjs';
import { renewWhile, sourceName, type SourceRef } from '../../core/index.js';
import type { TierContext } from './context.js';
import type { CopyState } from './copy.js';
import { loadCountMarks } from './count-marks.js';
import { copySourceHistory, settleErasures } from './history-copy.js';
import { rebuildAnyMessage } from './rebuild-any-message.js';

/** How often a rebuild logs a source's progress, ms. */
const PROGRESS_LOG_MS = 5_000;

/**
 * The Redis-loss check: if the namespace's sentinel is gone, one process claims the rebuild
 * (a lease in Redis, renewed while it runs): close the gates of sources that are not hot (and
 * drop whatever ingest wrote to them meanwhile), then copy every hot or restoring source from
 * history, through the restore's copy (history-copy.ts: bounded concurrency, erasures fenced,
 * progress). Ingest keeps writing throughout; the merge is a max, so nothing it writes is
 * overwritten by older history. The copy here is per source; another kind of data the rebuild
 * must refill (a namespace-wide index) is one more copy of its own spec (copy.ts).
 */
export function createRebuild(ctx: TierContext) {
  const { deps, log } = ctx;
  let rebuildingHere = false;

  async function checkRedis(): Promise<void> {
    const ttl = Math.max(ctx.leaseMs, 5_000);
    const state = await deps.hot.checkSentinel(ctx.owner, ttl);
    if (state !== 'rebuild_claimed') return;
    rebuildingHere = true;
    const records = deps.registry.list();
    // A namespace with no source has had no event: its Redis is new, not lost, and there is
    // nothing to rebuild, so no warning and no count of a rebuild (a false alarm on dashboards).
    const fresh = records.length === 0;
    if (!fresh) {
      deps.metrics.hotRebuilds.inc();
      log.warn('hot tier lost (Redis empty or replaced): rebuilding from history');
    }
    const started = performance.now();
    const renewal = renewWhile(ctx.scheduler, ttl / 3, () => deps.hot.renewRebuild(ctx.owner, ttl));
    // Before any read begins: see restore.ts.
    const mark = deps.erasures?.mark() ?? 0;
    const rebuilt: SourceRef[] = [];
    try {
      try {
        for (const rec of records) {
          if (rec.tier === 'expired' || rec.tier === 'demoting') {
            await deps.hot.setGate(rec, rec.tier);
            await deps.hot.dropSource(rec);
          }
        }
        for (const rec of records) {
          if (rec.tier !== 'hot' && rec.tier !== 'restoring') continue;
          if (rec.tier === 'restoring') await deps.hot.setGate(rec, 'restoring');
          rebuilt.push(rec);
          const total = await deps.history.countAggregateRows(rec);
          await deps.hot.reserve(rec, total);
          const source = sourceName(rec);
          let loggedAt = ctx.now();
          const progress = (s: CopyState) => {
            if (ctx.now() - loggedAt < PROGRESS_LOG_MS) return;
            loggedAt = ctx.now();
            log.info({ source, rows: s.rows, of: total }, 'rebuilding the hot tier: a source in progress');
          };
          await lastValueFrom(copySourceHistory(ctx, rec, { work: 'rebuild', mark }).pipe(tap(progress)), { defaultValue: undefined });
          await loadCountMarks(deps, rec, ctx.chunkRows, mark, ctx.now());
        }
        // The namespace-wide any-message index: every event of every source, whatever its tier.
        if (!fresh) await rebuildAnyMessage(deps, ctx.chunkRows, mark, ctx.now());
      } finally {
        // As a restore does, on every exit: the rebuild is not over until this is done.
        await settleErasures(ctx, mark, rebuilt);
      }
      await deps.hot.renewRebuild(ctx.owner, 0);
      if (!fresh) log.warn({ sources: records.length, seconds: (performance.now() - started) / 1000 }, 'hot tier rebuilt');
    } finally {
      renewal.stop();
      rebuildingHere = false;
    }
  }

  return {
    checkRedis,
    /** True while this process rebuilds the hot tier. */
    rebuildingHere: () => rebuildingHere,
  };
}
