import { exhaustMap, interval, Subscription } from 'rxjs';
import { createTierContext, type TierManagerDeps, type TierManagerOptions } from './context.js';
import { createDemotions } from './demotion.js';
import { createLifecycle } from './lifecycle.js';
import { createRebuild } from './rebuild.js';
import { createRestores } from './restore.js';
import { createScan } from './scans.js';

/**
 * Moves sources between tiers. Every transition is a compare-and-set on the registry, so with
 * several processes exactly one makes it; the winner holds a lease it renews while it works,
 * and a lease that lapses (its process died) lets another process finish the work.
 *
 * The parts, one file each: demotion.ts (hot -> demoting -> expired), restore.ts (expired ->
 * restoring -> hot, resumable), lifecycle.ts (status, tags, pins), scans.ts (expiry and lapsed
 * work), rebuild.ts (Redis lost), all copying history into Redis through copy.ts.
 *
 * Which tier changes are allowed, and why each is taken, is the state machine in
 * core/tiers/machine.ts; every tier change here goes through its `transition()`.
 */
export function createTierManager(deps: TierManagerDeps, options: TierManagerOptions) {
  const ctx = createTierContext(deps, options);
  const { restore } = createRestores(ctx);
  const { demote } = createDemotions(ctx, restore);
  const { setLifecycle, pin, unpin, repin } = createLifecycle(ctx, restore);
  const scan = createScan(ctx, { demote, restore });
  const rebuild = createRebuild(ctx);
  const subs = new Subscription();

  return {
    owner: ctx.owner,
    demote,
    restore,
    setLifecycle,
    pin,
    unpin,
    repin,
    scan,
    checkRedis: rebuild.checkRedis,
    /** True while this process rebuilds the hot tier, or Redis says another one does. */
    async rebuilding(): Promise<boolean> {
      return rebuild.rebuildingHere() || (await deps.hot.rebuilding());
    },
    /** Resolves when this process's demotions and restores have finished (tests, drain). */
    async settled(): Promise<void> {
      while (ctx.running.size) await Promise.all(ctx.running.values());
    },
    /** Starts the scans (expiry, stale work) and the Redis-loss check, on the scheduler. */
    start(): void {
      const tick = (fn: () => Promise<void>, what: string) => async () => {
        try {
          await fn();
        } catch (err) {
          ctx.log.warn({ err }, `${what} failed`);
        }
      };
      subs.add(interval(options.scanIntervalMs, ctx.scheduler).pipe(exhaustMap(tick(scan, 'tier scan'))).subscribe());
      const sentinelMs = options.sentinelIntervalMs ?? Math.min(options.scanIntervalMs, 1_000);
      subs.add(interval(sentinelMs, ctx.scheduler).pipe(exhaustMap(tick(rebuild.checkRedis, 'redis check'))).subscribe());
      void tick(rebuild.checkRedis, 'redis check')();
    },
    async stop(): Promise<void> {
      subs.unsubscribe();
      await this.settled();
    },
  };
}

export type TierManager = ReturnType<typeof createTierManager>;
