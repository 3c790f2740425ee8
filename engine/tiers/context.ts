import { randomUUID } from 'node:crypto';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { Logger } from 'pino';
import { sourceName, TierstreamError, type Duration, type Metrics, type ErasureFence, type History, type HotIndex, type LookupPressure, type SourceRecord, type SourceRef, type SourceRegistry } from '../../core/index.js';

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
   * written to Redis; `chunk` counts from 0 per source and run. Holding it models a process that
   * stalls between its history read and its write.
   */
  beforeChunkWrite?: (at: { source: SourceRef; chunk: number; work: 'restore' | 'rebuild' }) => Promise<void>;
  now?: () => number;
  /** Scans, the Redis-loss check and every lease renewal run on it (virtual time in tests). */
  scheduler?: SchedulerLike;
}

export interface TierManagerDeps {
  registry: SourceRegistry;
  hot: HotIndex;
  history: History;
  metrics: Pick<Metrics, 'tierTransitions' | 'demoteSeconds' | 'restoreSeconds' | 'hotRebuilds' | 'hotSources'>;
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
   * Erasures, as restores and rebuilds must respect them (docs/operating.md, "Erasure"): rows of users it
   * excludes are not written, and users whose erasure is heard of while chunks are on their
   * way are removed again after they land. Absent: history is written as read.
   */
  erasures?: ErasureFence;
}

/** Why a source's tier may not change now: it is not known, or another transition holds it. */
export class TierError extends TierstreamError<'source_not_found' | 'transition_in_progress'> {
  constructor(code: 'source_not_found' | 'transition_in_progress', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface Lifecycle {
  status: 'active' | 'stopped';
  stoppedAt?: number;
  /** null clears it (PATCH). */
  name?: string | null;
  tags?: string[];
}

/** What the parts of the tier manager share: this process's identity, its clock, its claims. */
export interface TierContext {
  deps: TierManagerDeps;
  options: TierManagerOptions;
  log: Logger;
  /** This process, as the owner of its claims. */
  owner: string;
  now: () => number;
  scheduler: SchedulerLike;
  leaseMs: number;
  chunkRows: number;
  /** A claim held by this process from now for `leaseMs`. */
  lease(): { owner: string; until: number };
  /** Whether the record is claimed by this process. */
  mine(rec: SourceRecord | null): rec is SourceRecord;
  /** Counts and logs the record's last transition. */
  logTransition(rec: SourceRecord): void;
  /**
   * Runs a demotion or a restore once per source in this process; concurrent callers of the same
   * kind share the run. By kind: a restore claimed while this process's demotion of the source is
   * still finishing (a restore asked for during it, a pin) must run, not join the demotion.
   */
  once(kind: 'demotion' | 'restore', source: SourceRef, work: () => Promise<void>): Promise<void>;
  /** This process's demotions and restores under way, by kind and source. */
  running: Map<string, Promise<void>>;
}

export function createTierContext(deps: TierManagerDeps, options: TierManagerOptions): TierContext {
  const owner = randomUUID();
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? 15_000;
  const log = deps.log.child({ module: 'tiers.manager' });
  const running = new Map<string, Promise<void>>();
  return {
    deps,
    options,
    log,
    owner,
    now,
    scheduler: options.scheduler ?? asyncScheduler,
    leaseMs,
    chunkRows: options.restoreChunkRows ?? 20_000,
    running,
    lease: () => ({ owner, until: now() + leaseMs }),
    mine: (rec): rec is SourceRecord => rec !== null && rec.lease?.owner === owner,
    logTransition(rec) {
      const t = rec.transitions[rec.transitions.length - 1]!;
      deps.metrics.tierTransitions.inc({ tier: t.tier });
      log.info({ source: sourceName(rec), tier: t.tier, reason: t.reason, at: new Date(t.at).toISOString() }, 'tier transition');
    },
    once(kind, source, work) {
      const key = `${kind} ${sourceName(source)}`;
      let p = running.get(key);
      if (!p) {
        p = work()
          .catch((err) => log.error({ err, source: sourceName(source), work: kind }, 'tier work failed; it resumes when its lease lapses'))
          .finally(() => running.delete(key));
        running.set(key, p);
      }
      return p;
    },
  };
}

export const iso = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());
