import { isDue, leaseLapsed, renewWhile, sourceName, transition, type SourceRecord, type SourceRef } from '../../core/index.js';
import { TierError, type TierContext } from './context.js';

/** A restore was asked for while the source demoted: it starts once the demotion finished. */
export const wantsHot = (rec: SourceRecord) => rec.pendingRestore === true;

/**
 * hot -> demoting -> expired: close the Redis tier gate (no batch can write after), unlink the
 * source's keys, mark expired. `restore` starts a restore asked for meanwhile.
 */
export function createDemotions(ctx: TierContext, restore: (source: SourceRef, reason: string) => Promise<unknown>) {
  const { deps, options, now } = ctx;

  /**
   * Demotes a source: `force` (admin) even if pinned or not yet due. Resolves with the record
   * after the claim (tier demoting), or the unchanged record when nothing was to be done;
   * the work continues in the background (`settled()` waits for it).
   */
  async function demote(source: SourceRef, reason: string, force = false): Promise<SourceRecord> {
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!rec) return undefined;
      const resume = rec.tier === 'demoting' && leaseLapsed(rec, now());
      if (!resume && !(rec.tier === 'hot' && (force || isDue(rec, now())))) return undefined;
      // demote (hot -> demoting) or demotion_resumed (demoting -> demoting)
      return { ...transition(rec, 'demoting', reason, now(), options.expireAfter), lease: ctx.lease() };
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    if (record.tier === 'restoring') throw new TierError('transition_in_progress', `${sourceName(source)} is restoring`);
    if (changed) {
      ctx.logTransition(record);
      void ctx.once('demotion', source, () => runDemotion(source));
    }
    return record;
  }

  async function runDemotion(source: SourceRef): Promise<void> {
    const started = performance.now();
    // The claim is renewed while keys are dropped, as a restore's is: a demotion longer than
    // the lease must not be taken over (and done twice) by another process's scan.
    const renewal = renewWhile(ctx.scheduler, ctx.leaseMs / 3, () =>
      deps.registry.update(source, (rec) => (ctx.mine(rec) && rec.tier === 'demoting' ? { ...rec, lease: ctx.lease() } : undefined)),
    );
    let keys: number;
    try {
      await deps.hot.setGate(source, 'demoting');
      keys = await deps.hot.dropSource(source);
      await deps.hot.setGate(source, 'expired');
    } finally {
      renewal.stop();
    }
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!ctx.mine(rec) || rec.tier !== 'demoting') return undefined;
      // demotion_finished (demoting -> expired)
      return { ...transition(rec, 'expired', `demotion finished: ${keys} keys removed`, now(), options.expireAfter), lease: null };
    });
    if (changed && record) {
      ctx.logTransition(record);
      deps.metrics.demoteSeconds.observe((performance.now() - started) / 1000);
      // A restore was asked for while we demoted: it starts now.
      if (wantsHot(record)) await restore(source, 'requested during demotion');
    }
  }

  return { demote };
}
