import { randomUUID } from 'node:crypto';
import { exhaustMap, interval, type SchedulerLike, asyncScheduler, Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { type AggregateRow, type Duration, type ErasureFence, foldAggregates, hotWritesInFlight, retrying, sourceName, type LookupPressure, type History, type HotIndex, type SourceRecord, type SourceRef, type SourceRegistry, isDue, leaseLapsed, newSourceRecord, recompute, transition } from '../../core/index.js';
import type { Metrics } from '../../core/index.js';
import { rebuildAnyMessage } from './rebuild-any-message.js';

/** Restore chunks being written to Redis at once (measured: 3 hides most of the read time). */
const RESTORE_WRITES_IN_FLIGHT = 3;

export interface TierManagerOptions {
  /** TIER_EXPIRE_AFTER. */
  expireAfter: Duration;
  /** How often expiry and stale work are checked, ms (TIER_SCAN_INTERVAL). */
  scanIntervalMs: number;
  /** How often Redis is checked for data loss, ms (default min(scan interval, 1_000)). */
  sentinelIntervalMs?: number;
  /** A demotion or restore claim lapses this long after its last renewal, ms (default 15_000). */
  leaseMs?: number;
  /** Rows per restore chunk written to Redis (default 20_000). */
  restoreChunkRows?: number;
  /**
   * A fault point (tests): awaited before each restore or rebuild chunk, read and filtered, is
   * written to Redis; `chunk` counts from 0 per source. Holding it models a process that stalls
   * between its history read and its write.
   */
  beforeChunkWrite?: (at: { source: SourceRef; chunk: number; work: 'restore' | 'rebuild' }) => Promise<void>;
  now?: () => number;
  scheduler?: SchedulerLike;
}

export interface TierManagerDeps {
  registry: SourceRegistry;
  hot: HotIndex;
  history: History;
  metrics: Metrics;
  log: Logger;
  /** Lookups queueing (see core/pressure.ts): restore and rebuild writes yield Redis while it says so. */
  pressure?: LookupPressure;
  /**
   * The filter ids that should pin a record given its tags and the filters this process knows
   * (engine/filters/pinning.ts pinsWanted). Applied inside the same compare-and-set as a tag change, so a
   * source never carries a pinned tag unpinned in between, and by `repin`. Absent: tags pin nothing.
   */
  pinsWanted?: (rec: SourceRecord) => string[];
  /**
   * Erasures, as restores and rebuilds must respect them (README, "Erasure"): rows of users it
   * excludes are not written, and users whose erasure is heard of while chunks are on their
   * way are removed again after they land. Absent: history is written as read.
   */
  erasures?: ErasureFence;
}

export class TierError extends Error {
  constructor(readonly code: 'source_not_found' | 'transition_in_progress', message: string) {
    super(message);
    this.name = 'TierError';
  }
}

export interface Lifecycle {
  status: 'active' | 'stopped';
  stoppedAt?: number;
  /** null clears it (PATCH). */
  name?: string | null;
  tags?: string[];
}

/**
 * Moves sources between tiers. Every transition is a compare-and-set on the registry, so with
 * several processes exactly one makes it; the winner holds a lease it renews while it works,
 * and a lease that lapses (its process died) lets another process finish the work.
 *
 * hot -> demoting -> expired: close the Redis tier gate (no batch can write after), unlink
 * the source's keys, mark expired. expired -> restoring -> hot: open the gate for ingest, stream
 * the history aggregate into Redis with the same merge as ingest (max, hot.load), mark hot.
 *
 * Which tier changes are allowed, and why each is taken, is the state machine in
 * core/tiers/machine.ts; every tier change here goes through its `transition()`.
 */
export function createTierManager(deps: TierManagerDeps, options: TierManagerOptions) {
  const owner = randomUUID();
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? 15_000;
  const chunkRows = options.restoreChunkRows ?? 20_000;
  const scheduler = options.scheduler ?? asyncScheduler;
  const log = deps.log.child({ module: 'tiers.manager' });
  const running = new Map<string, Promise<void>>();
  let rebuildingHere = false;
  const subs = new Subscription();

  const logTransition = (rec: SourceRecord) => {
    const t = rec.transitions[rec.transitions.length - 1]!;
    deps.metrics.tierTransitions.inc({ tier: t.tier });
    log.info({ source: sourceName(rec), tier: t.tier, reason: t.reason, at: new Date(t.at).toISOString() }, 'tier transition');
  };

  /**
   * Runs a demotion or a restore once per source in this process; concurrent callers of the same
   * kind share the run. By kind: a restore claimed while this process's demotion of the source is
   * still finishing (a restore asked for during it, a pin) must run, not join the demotion.
   */
  function once(kind: 'demotion' | 'restore', source: SourceRef, work: () => Promise<void>): Promise<void> {
    const key = `${kind} ${sourceName(source)}`;
    let p = running.get(key);
    if (!p) {
      p = work()
        .catch((err) => log.error({ err, source: sourceName(source), work: kind }, 'tier work failed; it resumes when its lease lapses'))
        .finally(() => running.delete(key));
      running.set(key, p);
    }
    return p;
  }

  const lease = () => ({ owner, until: now() + leaseMs });
  const mine = (rec: SourceRecord | null) => rec !== null && rec.lease?.owner === owner;

  // ---- demotion -------------------------------------------------------------------------

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
      return { ...transition(rec, 'demoting', reason, now(), options.expireAfter), lease: lease() };
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    if (record.tier === 'restoring') throw new TierError('transition_in_progress', `${sourceName(source)} is restoring`);
    if (changed) {
      logTransition(record);
      void once('demotion', source, () => runDemotion(source));
    }
    return record;
  }

  async function runDemotion(source: SourceRef): Promise<void> {
    const started = performance.now();
    // The claim is renewed while keys are dropped, as a restore's is: a demotion longer than
    // the lease must not be taken over (and done twice) by another process's scan.
    const renew = setInterval(() => {
      void deps.registry
        .update(source, (rec) => (mine(rec) && rec!.tier === 'demoting' ? { ...rec!, lease: lease() } : undefined))
        .catch(() => undefined);
    }, leaseMs / 3);
    let keys: number;
    try {
      await deps.hot.setGate(source, 'demoting');
      keys = await deps.hot.dropSource(source);
      await deps.hot.setGate(source, 'expired');
    } finally {
      clearInterval(renew);
    }
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!mine(rec) || rec!.tier !== 'demoting') return undefined;
      // demotion_finished (demoting -> expired)
      return { ...transition(rec!, 'expired', `demotion finished: ${keys} keys removed`, now(), options.expireAfter), lease: null };
    });
    if (changed && record) {
      logTransition(record);
      deps.metrics.demoteSeconds.observe((performance.now() - started) / 1000);
      // A restore was asked for while we demoted: it starts now.
      if (wantsHot(record)) await restore(source, 'requested during demotion');
    }
  }

  // ---- chunks of history, and erasures ------------------------------------------------------

  /**
   * A restore or rebuild chunk less the rows of users an erasure excludes: pending, or done or
   * first heard of since `mark`, taken before the read began (the read still returns rows that
   * a later erasure deleted). `heard`: what this process knew of erasures when it filtered.
   */
  function keptRows(read: AggregateRow[], mark: number): { rows: AggregateRow[]; heard: number } {
    const fence = deps.erasures;
    if (!fence) return { rows: read, heard: 0 };
    return { rows: read.filter((r) => !fence.excludes(r.userId, mark)), heard: fence.mark() };
  }

  /**
   * Loads a filtered chunk; if this process heard of an erasure while the chunk was on its way
   * (after keptRows), removes that erasure's users from the source again once the chunk landed.
   */
  async function loadChunk(source: SourceRef, chunk: { rows: AggregateRow[]; heard: number }, mark: number): Promise<void> {
    if (chunk.rows.length) await deps.hot.load(foldAggregates(source, chunk.rows), { maxInFlight: hotWritesInFlight(deps.pressure) });
    const fence = deps.erasures;
    if (fence && fence.mark() !== chunk.heard) await fence.recheck(chunk.rows.map((r) => r.userId), mark, [source]);
  }

  /**
   * After a restore's or rebuild's writes have all landed: removes from `sources`, again, every
   * user of an erasure not done before `mark`, as the erasure store says now (not as this
   * process's mirror said: it may have heard late). Tried for about a minute: until it
   * succeeds, an erasure made during the work may be undone by it.
   */
  async function settleErasures(mark: number, sources: readonly SourceRef[]): Promise<void> {
    const fence = deps.erasures;
    if (!fence || sources.length === 0) return;
    await retrying(() => fence.settle(mark, sources), {
      retryable: () => true,
      attempts: 15,
      baseMs: 200,
      maxMs: 5_000,
      onRetry: (err, attempt) => log.warn({ err, attempt }, 'erasures not settled after a restore or rebuild; retrying'),
    });
  }

  // ---- restore --------------------------------------------------------------------------

  /**
   * Restores an expired source (or resumes a restore whose process died). Resolves with the
   * record after the claim; `started` says whether this call began the work.
   */
  async function restore(source: SourceRef, reason: string): Promise<{ record: SourceRecord; started: boolean }> {
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!rec) return undefined;
      const t = now();
      if (rec.tier === 'restoring' && leaseLapsed(rec, t)) {
        // restore_resumed (restoring -> restoring)
        return { ...transition(rec, 'restoring', `resumed after a lapsed restore: ${reason}`, t, options.expireAfter), lease: lease(), restore: { startedAt: t, finishedAt: null, progress: 0 } };
      }
      // Not a transition: the restore starts when the demotion finishes (see runDemotion, scan).
      if (rec.tier === 'demoting' && !rec.pendingRestore) return { ...rec, pendingRestore: true };
      if (rec.tier !== 'expired') return undefined;
      // restore (expired -> restoring)
      return {
        ...transition(rec, 'restoring', reason, t, options.expireAfter),
        lease: lease(),
        pendingRestore: false,
        restore: { startedAt: t, finishedAt: null, progress: 0 },
      };
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    const started = changed && record.tier === 'restoring';
    if (started) {
      logTransition(record);
      void once('restore', source, () => runRestore(source));
    }
    return { record, started };
  }

  async function runRestore(source: SourceRef): Promise<void> {
    const started = performance.now();
    // The claim and the progress are renewed on a timer for as long as the restore runs, not
    // only between chunks: a count, a read or a write stalled on a busy store longer than the
    // lease must not let another process take the restore over and start it again from the
    // first row. A process that is itself stalled (its timers too) still loses the claim, and the
    // check before each chunk below stops it sending more once it wakes.
    const run: RestoreRun = { total: 0, done: 0, lost: false };
    const renew = setInterval(() => {
      const progress = run.total ? Math.min(run.done / run.total, 0.99) : 0;
      void deps.registry
        .update(source, (rec) =>
          mine(rec) && rec!.tier === 'restoring' ? { ...rec!, lease: lease(), restore: { ...rec!.restore!, progress, progressAt: now() } } : undefined,
        )
        .then(({ changed }) => void (changed || (run.lost = true)))
        .catch(() => undefined);
    }, leaseMs / 3);
    try {
      await restoreChunks(source, started, run);
    } finally {
      clearInterval(renew);
    }
  }

  /** A running restore as its renewal timer sees it: rows to write, rows written, claim lost. */
  interface RestoreRun { total: number; done: number; lost: boolean }

  async function restoreChunks(source: SourceRef, started: number, run: RestoreRun): Promise<void> {
    // Sized while the gate is still closed (the source holds no user): the load then writes
    // into buckets of the right number instead of growing them one split at a time. Aggregate
    // rows are at least the users, so this errs on more, smaller buckets.
    const rows = await deps.history.countAggregateRows(source).catch(() => 0);
    if (rows > 0) await deps.hot.reserve(source, rows);
    await deps.hot.setGate(source, 'restoring');
    // Before the read begins: what it returns may hold users of any erasure not done by now.
    const mark = deps.erasures?.mark() ?? 0;
    // The row count sizes the source and measures progress.
    const total = (run.total = rows);
    let lastReport = performance.now();
    // Up to RESTORE_WRITES_IN_FLIGHT chunks are written to Redis while the next is read from
    // ClickHouse: hot writes are max-merges, so chunks commute.
    const writing = new Set<Promise<void>>();
    let failed: { err: unknown } | undefined;
    let chunk = 0;
    try {
      for await (const rows of deps.history.aggregateSource(source, chunkRows)) {
        if (failed) throw failed.err;
        if (run.lost) return; // the renewal found our claim taken over: the new owner finishes
        // The claim is confirmed before a chunk is sent, not after: hot.load does not check the
        // gate, so a process that stalled past its lease sends nothing more once it wakes.
        if (performance.now() - lastReport > 250) {
          lastReport = performance.now();
          const progress = total ? Math.min(run.done / total, 0.99) : 0;
          const { changed } = await deps.registry.update(source, (rec) =>
            mine(rec) && rec!.tier === 'restoring' ? { ...rec!, lease: lease(), restore: { ...rec!.restore!, progress, progressAt: now() } } : undefined,
          );
          if (!changed) return; // our claim was taken over: the new owner finishes
        }
        const kept = keptRows(rows, mark);
        await options.beforeChunkWrite?.({ source, chunk: chunk++, work: 'restore' });
        const write: Promise<void> = loadChunk(source, kept, mark)
          .then(
            () => void (run.done += rows.length),
            (err: unknown) => void (failed ??= { err }),
          )
          .finally(() => writing.delete(write));
        writing.add(write);
        if (writing.size >= RESTORE_WRITES_IN_FLIGHT) await Promise.race(writing);
      }
    } finally {
      // Every exit (finished, taken over, failed): once what was sent has landed, no erasure
      // recorded meanwhile stays undone by it. Writes never reject (failures are kept in `failed`).
      await Promise.all(writing);
      await settleErasures(mark, [source]);
    }
    if (failed) throw failed.err;
    await deps.hot.setGate(source, null);
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!mine(rec) || rec!.tier !== 'restoring') return undefined;
      const t = now();
      // restore_finished (restoring -> hot)
      const restored = { ...rec!, lease: null, restore: { startedAt: rec!.restore?.startedAt ?? t, finishedAt: t, progress: 1 } };
      return transition(restored, 'hot', `restore finished: ${run.done} aggregate rows`, t, options.expireAfter);
    });
    if (changed && record) {
      logTransition(record);
      deps.metrics.restoreSeconds.observe((performance.now() - started) / 1000);
    }
  }

  // ---- lifecycle and pins -----------------------------------------------------------------

  /**
   * The record with `pinnedBy` set to `pins` (sorted): removing the last pin restarts the expiry
   * clock, as an unpin does. `gained` says whether a pin was added.
   */
  function withPins(rec: SourceRecord, pins: string[]): { next: SourceRecord; gained: string[] } {
    const pinnedBy = [...new Set(pins)].sort();
    const gained = pinnedBy.filter((f) => !rec.pinnedBy.includes(f));
    const lost = rec.pinnedBy.some((f) => !pinnedBy.includes(f));
    const lastUnpinAt = lost && pinnedBy.length === 0 ? now() : rec.lastUnpinAt;
    return { next: recompute({ ...rec, pinnedBy, lastUnpinAt }, options.expireAfter), gained };
  }

  const samePins = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((f) => b.includes(f));
  const notHot = (rec: SourceRecord) => rec.tier === 'expired' || rec.tier === 'demoting';

  /**
   * A restore's reason when pins were gained: the filters that gained them, whether they name
   * the source by id or by one of its tags (was "(tag)" for both).
   */
  const pinnedReason = (gained: readonly string[]) => `pinned by filter ${gained.join(', ')}`;

  /**
   * Sets a source's lifecycle (PUT, creating it when unknown) or changes some of it (PATCH,
   * `create` false: absent fields unchanged; TierError `source_not_found` when unknown).
   */
  async function setLifecycle(source: SourceRef, body: Lifecycle | Partial<Lifecycle>, create = true): Promise<SourceRecord> {
    let gained: string[] = [];
    const { record } = await deps.registry.update(source, (rec) => {
      if (!rec && !create) return undefined;
      const base = rec ?? newSourceRecord(source, now(), 'created by PUT');
      const status = body.status ?? base.status;
      let next: SourceRecord = {
        ...base,
        status,
        stoppedAt: status === 'stopped' ? body.stoppedAt ?? base.stoppedAt ?? now() : null,
        name: body.name === undefined ? base.name : body.name,
        tags: body.tags ?? base.tags,
      };
      gained = [];
      if (deps.pinsWanted) ({ next, gained } = withPins(next, deps.pinsWanted(next)));
      return recompute(next, options.expireAfter);
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    if (notHot(record) && (body.status === 'active' || gained.length > 0)) {
      return (await restore(source, body.status === 'active' ? 'set active' : pinnedReason(gained))).record;
    }
    return record;
  }

  /**
   * Sets a source's pins to what `pinsWanted` says of its current record (a tag filter was
   * registered, replaced or heard of, or the source's tags changed elsewhere); restores it when
   * it gained a pin while expired. Unknown sources are left alone.
   */
  async function repin(source: SourceRef): Promise<void> {
    if (!deps.pinsWanted) return;
    let gained: string[] = [];
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!rec || samePins(rec.pinnedBy, deps.pinsWanted!(rec))) return undefined;
      let next: SourceRecord;
      ({ next, gained } = withPins(rec, deps.pinsWanted!(rec)));
      return next;
    });
    if (changed && record && gained.length > 0 && (notHot(record) || record.tier === 'restoring')) await restore(source, pinnedReason(gained));
  }

  /** Pins sources for a filter (unknown ones are left alone: a filter never creates a source); restores expired ones. */
  async function pin(filterId: string, sources: SourceRef[]): Promise<void> {
    for (const source of sources) {
      const { record } = await deps.registry.update(source, (rec) => {
        if (!rec || rec.pinnedBy.includes(filterId)) return undefined;
        return recompute({ ...rec, pinnedBy: [...rec.pinnedBy, filterId].sort() }, options.expireAfter);
      });
      if (record && (record.tier === 'expired' || record.tier === 'demoting' || record.tier === 'restoring')) {
        await restore(source, `pinned by filter ${filterId}`);
      }
    }
  }

  async function unpin(filterId: string, sources: SourceRef[]): Promise<void> {
    for (const source of sources) {
      await deps.registry.update(source, (rec) => {
        if (!rec || !rec.pinnedBy.includes(filterId)) return undefined;
        const pinnedBy = rec.pinnedBy.filter((f) => f !== filterId);
        return recompute({ ...rec, pinnedBy, lastUnpinAt: pinnedBy.length ? rec.lastUnpinAt : now() }, options.expireAfter);
      });
    }
  }

  // ---- scans ------------------------------------------------------------------------------

  // Only an explicit request brings a source back: setting it active and pinning it restore at
  // once, and an admin may demote an active or pinned source on purpose.
  const wantsHot = (rec: SourceRecord) => rec.pendingRestore === true;

  /** One pass: expire what is due, restore what must be hot, resume work whose process died. */
  async function scan(): Promise<void> {
    const t = now();
    let hot = 0;
    for (const rec of deps.registry.list()) {
      if (rec.tier === 'hot') hot++;
      try {
        if (isDue(rec, t)) await demote(rec, `expired: stopped at ${iso(rec.stoppedAt)}, expiry ${iso(rec.expiresAt)}`);
        else if (rec.tier === 'demoting' && leaseLapsed(rec, t)) await demote(rec, 'resumed after a lapsed demotion');
        else if (rec.tier === 'restoring' && leaseLapsed(rec, t)) await restore(rec, 'resumed');
        else if (rec.tier === 'expired' && wantsHot(rec)) await restore(rec, 'requested during demotion');
      } catch (err) {
        log.warn({ err, source: sourceName(rec) }, 'scan step failed');
      }
    }
    deps.metrics.hotSources.set(hot);
  }

  /**
   * Redis-loss check: if the namespace's sentinel is gone, one process claims the rebuild:
   * close the gates of sources that are not hot (and drop whatever ingest wrote to them
   * meanwhile), then rebuild every hot or restoring source from history. Ingest keeps writing
   * throughout; the merge is a max, so nothing it writes is overwritten by older history.
   */
  async function checkRedis(): Promise<void> {
    const ttl = Math.max(leaseMs, 5_000);
    const state = await deps.hot.checkSentinel(owner, ttl);
    if (state !== 'rebuild_claimed') return;
    rebuildingHere = true;
    deps.metrics.hotRebuilds.inc();
    const started = performance.now();
    log.warn('hot tier lost (Redis empty or replaced): rebuilding from history');
    const renew = setInterval(() => void deps.hot.renewRebuild(owner, ttl).catch(() => undefined), ttl / 3);
    // Before any read begins: see runRestore.
    const mark = deps.erasures?.mark() ?? 0;
    const rebuilt: SourceRef[] = [];
    try {
      const records = deps.registry.list();
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
          await deps.hot.reserve(rec, await deps.history.countAggregateRows(rec));
          let chunk = 0;
          for await (const rows of deps.history.aggregateSource(rec, chunkRows)) {
            const kept = keptRows(rows, mark);
            await options.beforeChunkWrite?.({ source: rec, chunk: chunk++, work: 'rebuild' });
            await loadChunk(rec, kept, mark);
          }
        }
        await rebuildAnyMessage(deps, chunkRows, mark);
      } finally {
        // As a restore does, on every exit: the rebuild is not over until this is done.
        await settleErasures(mark, rebuilt);
      }
      await deps.hot.renewRebuild(owner, 0);
      log.warn({ sources: records.length, seconds: (performance.now() - started) / 1000 }, 'hot tier rebuilt');
    } finally {
      clearInterval(renew);
      rebuildingHere = false;
    }
  }

  return {
    owner,
    demote,
    restore,
    setLifecycle,
    pin,
    unpin,
    repin,
    scan,
    checkRedis,
    /** True while this process rebuilds the hot tier, or Redis says another one does. */
    async rebuilding(): Promise<boolean> {
      return rebuildingHere || (await deps.hot.rebuilding());
    },
    /** Resolves when this process's demotions and restores have finished (tests, drain). */
    async settled(): Promise<void> {
      while (running.size) await Promise.all(running.values());
    },
    /** Starts the scans (expiry, stale work) and the Redis-loss check. */
    start(): void {
      const tick = (fn: () => Promise<void>, what: string) => async () => {
        try {
          await fn();
        } catch (err) {
          log.warn({ err }, `${what} failed`);
        }
      };
      subs.add(interval(options.scanIntervalMs, scheduler).pipe(exhaustMap(tick(scan, 'tier scan'))).subscribe());
      const sentinelMs = options.sentinelIntervalMs ?? Math.min(options.scanIntervalMs, 1_000);
      subs.add(interval(sentinelMs, scheduler).pipe(exhaustMap(tick(checkRedis, 'redis check'))).subscribe());
      void tick(checkRedis, 'redis check')();
    },
    async stop(): Promise<void> {
      subs.unsubscribe();
      await this.settled();
    },
  };
}

export type TierManager = ReturnType<typeof createTierManager>;

const iso = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());
