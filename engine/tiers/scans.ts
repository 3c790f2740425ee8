import { isDue, leaseLapsed, sourceName, type SourceRef } from '../../core/index.js';
import { iso, type TierContext } from './context.js';
import { wantsHot } from './demotion.js';

/**
 * One pass over the registry's mirror: expire what is due, resume work whose process died (a
 * lapsed demotion or restore claim), start a restore asked for during a demotion. Only an
 * explicit request brings a source back: setting it active and pinning it restore at once, and
 * an admin may demote an active or pinned source on purpose.
 */
export function createScan(
  ctx: TierContext,
  work: { demote(source: SourceRef, reason: string): Promise<unknown>; restore(source: SourceRef, reason: string): Promise<unknown> },
) {
  return async function scan(): Promise<void> {
    const t = ctx.now();
    let hot = 0;
    for (const rec of ctx.deps.registry.list()) {
      if (rec.tier === 'hot') hot++;
      try {
        if (isDue(rec, t)) await work.demote(rec, `expired: stopped at ${iso(rec.stoppedAt)}, expiry ${iso(rec.expiresAt)}`);
        else if (rec.tier === 'demoting' && leaseLapsed(rec, t)) await work.demote(rec, 'resumed after a lapsed demotion');
        else if (rec.tier === 'restoring' && leaseLapsed(rec, t)) await work.restore(rec, 'resumed');
        else if (rec.tier === 'expired' && wantsHot(rec)) await work.restore(rec, 'requested during demotion');
      } catch (err) {
        ctx.log.warn({ err, source: sourceName(rec) }, 'scan step failed');
      }
    }
    ctx.deps.metrics.hotSources.set(hot);
  };
}
