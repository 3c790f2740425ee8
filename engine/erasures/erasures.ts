import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SchedulerLike } from 'rxjs';
import { ANY_MESSAGE, ErasureIndex, TierstreamError, renewWhile, type Erasure, type ErasureFence, type HistoryEraser, type HotEraser, type IndexSource, type IngestErasures, type SourceRef, type SourceRegistry } from '../../core/index.js';

/** The erasures' durable documents (NATS KV `<ns>_erasures`, compare-and-set; KvDocStore). */
export interface ErasureStore {
  get(id: string): Promise<{ doc: Erasure } | null>;
  create(id: string, doc: Erasure): Promise<boolean>;
  update(id: string, fn: (doc: Erasure | null) => Erasure | undefined): Promise<{ doc: Erasure | null; changed: boolean }>;
  values(): IterableIterator<Erasure>;
  onChange(listener: (key: string, doc: Erasure | null) => void): void;
  /** Resolves once `values()` and `onChange` have shown every document stored before the call. */
  sync(): Promise<void>;
}

export interface ErasureOptions {
  /** A worker's claim lapses this long after its last renewal, ms (TIERSTREAM_TIER_LEASE_MS). */
  leaseMs: number;
  /**
   * How long after the request the work starts, ms (default 2_000): a batch that passed the
   * ingest check just before the request appeared in its process is usually stored by then (the
   * check runs at each write attempt, so only a store call in flight can miss it). One that is
   * not (a stalled process, a write slower than this) is found once it lands (`ingest.landed`).
   */
  graceMs?: number;
  /** How often pending erasures are looked for, ms (default 1_000). */
  scanMs?: number;
  now?: () => number;
  /** Lease renewals run on it (virtual time in tests); default Node timers. */
  scheduler?: SchedulerLike;
}

export class ErasureError extends TierstreamError<'erasure_not_found'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('erasure_not_found', message, options);
  }
}

/**
 * Erasure of a user: the request (a durable document), the work (history, then every hot
 * index; leased, resumed by any process after a crash), and the index ingest and restores ask.
 */
export function createErasures(
  deps: { store: ErasureStore; registry: SourceRegistry; history: HistoryEraser; hot: HotEraser; log: Logger },
  opts: ErasureOptions,
) {
  const log = deps.log.child({ module: 'tiers.erasures' });
  const now = opts.now ?? Date.now;
  const owner = randomUUID();
  const index = new ErasureIndex();
  const working = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  for (const doc of deps.store.values()) index.set(doc, doc.id);
  deps.store.onChange((_key, doc) => {
    if (doc) index.set(doc, doc.id);
  });

  const claimable = (d: Erasure | null, t: number) => !!d && d.status === 'pending' && (!d.lease || d.lease.owner === owner || d.lease.until <= t);

  async function work(id: string): Promise<void> {
    const t = now();
    let { doc, changed } = await deps.store.update(id, (d) => (claimable(d, t) ? { ...d!, lease: { owner, until: t + opts.leaseMs } } : undefined));
    if (!changed || !doc) return;
    const renewal = renewWhile(opts.scheduler, Math.max(100, opts.leaseMs / 3), () =>
      deps.store.update(id, (d) => (d && d.status === 'pending' && d.lease?.owner === owner ? { ...d, lease: { owner, until: now() + opts.leaseMs } } : undefined)),
    );
    try {
      // Run again while ingest reopens it meanwhile (a batch it checked before hearing of this
      // erasure landed after this run's history delete may have begun; see ingest.landed).
      while (doc && doc.status === 'pending' && doc.lease?.owner === owner) {
        const since = doc.reopened ?? 0;
        // History first: once it holds none of the user's past, restores and rebuilds cannot
        // bring them back, and the hot removal after it is final.
        // Counted as each step ends: a run resumed after a crash adds what it still finds.
        const history = await deps.history.eraseUser(doc.userId, `${id}:${since}`);
        await deps.store.update(id, (d) => (d && d.status === 'pending' ? { ...d, removed: { ...d.removed, history: d.removed.history + history } } : undefined));
        // Every source, and the any-message pseudo-source every event also went to.
        const hot = await deps.hot.eraseUser(doc.userId, [...deps.registry.list(), ANY_MESSAGE]);
        ({ doc } = await deps.store.update(id, (d) => {
          if (!d || d.status !== 'pending') return undefined;
          const removed = { ...d.removed, hot: d.removed.hot + hot };
          return (d.reopened ?? 0) === since ? { ...d, status: 'done', finishedAt: now(), removed, lease: null } : { ...d, removed };
        }));
        if (doc?.status === 'done') log.info({ erasure: id, history, hot }, 'user erased');
        else log.info({ erasure: id, history, hot }, 'erasure reopened by ingest while it ran; running it again');
      }
    } finally {
      renewal.stop();
    }
  }

  /**
   * Sets an erasure back to `pending` (counting it in `reopened`) unless its work has not
   * begun: a pending erasure nobody claimed deletes, when claimed, what landed before.
   */
  async function reopen(id: string): Promise<boolean> {
    const { changed } = await deps.store.update(id, (d) => {
      if (!d || (d.status === 'pending' && !d.lease)) return undefined;
      return { ...d, status: 'pending', finishedAt: null, reopened: (d.reopened ?? 0) + 1, lease: d.status === 'done' ? null : d.lease };
    });
    return changed;
  }

  // Ingest's view of the erasures is known complete up to `freshAt` (now() when the last sync
  // that completed began; the watch usually brings them sooner). A background sync keeps it
  // within a quarter of the grace while batches land, so that a batch waits for one only after
  // a pause (idle ingest, a stalled process, a slow store).
  const graceMs = opts.graceMs ?? 2_000;
  let freshAt = -Infinity;
  let background: { startedAt: number; done: Promise<void> } | undefined;
  const syncFrom = async (startedAt: number) => {
    await deps.store.sync();
    freshAt = Math.max(freshAt, startedAt);
  };

  const ingest: IngestErasures = {
    erased: (userId, publishedMs) => index.erased(userId, publishedMs),
    mark: () => index.mark(),
    async landed(mark, written) {
      // An erasure's work deletes no earlier than its requestedAt + grace, so one that could
      // have run before this landing was stored before now - grace: with a view complete up to
      // now - grace / 2 (half the grace for clock skew between processes and the request's own
      // store call), this process knows every such erasure.
      const t = now();
      const need = t - graceMs / 2;
      if (freshAt < need) {
        if (background && background.startedAt >= need) await background.done;
        if (freshAt < need) await syncFrom(now());
      } else if (freshAt < t - graceMs / 4 && !background) {
        const startedAt = now();
        const done = syncFrom(startedAt)
          .catch((err) => log.debug({ err }, 'erasure sync failed; the next batch syncs'))
          .finally(() => (background = undefined));
        background = { startedAt, done };
      }
      // Unchanged since the check: it dropped every event any known erasure covers.
      if (index.mark() === mark) return 0;
      const earliest = new Map<string, number>();
      for (const [userId, publishedMs] of written()) {
        if (index.erased(userId, publishedMs)) earliest.set(userId, Math.min(earliest.get(userId) ?? Infinity, publishedMs));
      }
      const ids = new Set<string>();
      for (const [userId, publishedMs] of earliest) for (const id of index.covering(userId, publishedMs)) ids.add(id);
      let reopened = 0;
      for (const id of ids) if (await reopen(id)) reopened++;
      if (reopened) log.warn({ users: earliest.size, reopened }, 'a batch checked before its process heard of an erasure landed after it may have run; erasure set back to pending');
      return reopened;
    },
  };

  async function scan(): Promise<void> {
    const t = now();
    for (const d of deps.store.values()) {
      if (stopped || working.has(d.id) || !claimable(d, t) || t < d.requestedAt + (opts.graceMs ?? 2_000)) continue;
      working.add(d.id);
      void work(d.id)
        .catch((err) => log.warn({ err, erasure: d.id }, 'erasure failed; retried at the next scan'))
        .finally(() => working.delete(d.id));
    }
  }

  /** Removes each user from `sources` again (see ErasureFence). */
  async function eraseAgain(userIds: Iterable<string>, sources: readonly IndexSource[]): Promise<number> {
    let removed = 0;
    for (const userId of userIds) removed += await deps.hot.eraseUser(userId, sources);
    return removed;
  }

  const fence: ErasureFence = {
    mark: () => index.mark(),
    excludes: (userId, mark) => index.excludes(userId, mark),
    async recheck(userIds, mark, sources) {
      const hit = new Set<string>();
      for (const u of userIds) if (index.excludes(u, mark)) hit.add(u);
      const removed = await eraseAgain(hit, sources);
      if (hit.size) log.info({ users: hit.size, removed }, 'erased again: rows read before this process heard of the erasure were written');
      return removed;
    },
    async settle(mark, sources, settleOpts) {
      await deps.store.sync();
      const users = [...new Set([...index.excludedSince(mark), ...(settleOpts?.since === undefined ? [] : index.unfinishedSince(settleOpts.since))])];
      const removed = await eraseAgain(users, sources);
      if (removed) log.info({ users: users.length, removed }, 'erased again after a restore or rebuild: its writes had brought members back');
      return removed;
    },
  };

  return {
    index,
    /** What ingest asks: events to drop, and erasures a landed batch may have undone. */
    ingest,
    /** What restores and rebuilds ask so that none undoes an erasure. */
    fence,
    /** Whether an erasure is not done, as this process knows them: audits of the history counts wait (ClickHouseHistory.auditCount). */
    unfinished: (): boolean => index.unfinished() > 0,
    /** Records the request; the work starts after the grace period in some process. */
    async request(userId: string): Promise<Erasure> {
      const requestedAt = now();
      // Time-ordered ids: the newest-first listing is their reverse order.
      const id = `${requestedAt.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
      const doc: Erasure = { id, userId, status: 'pending', requestedAt, finishedAt: null, removed: { history: 0, hot: 0 }, lease: null };
      await deps.store.create(id, doc);
      index.set(doc, id); // at once in this process: its own ingest drops the user's past now
      return doc;
    },
    async get(id: string): Promise<Erasure> {
      const got = await deps.store.get(id);
      if (!got) throw new ErasureError(`erasure ${id} is not known`);
      return got.doc;
    },
    /** Newest first, after the id `after` (a cursor). */
    list(limit: number, after?: string): { items: Erasure[]; next: string | null } {
      const all = [...deps.store.values()].filter((d) => after === undefined || d.id < after).sort((a, b) => (a.id < b.id ? 1 : -1));
      const items = all.slice(0, limit);
      return { items, next: all.length > limit ? items[items.length - 1]!.id : null };
    },
    /** Looks for pending work every scan period (processes that run ingest). */
    start(): void {
      timer = setInterval(() => void scan(), opts.scanMs ?? 1_000);
      timer.unref();
    },
    /** Resolves when this process has no erasure in progress (tests, drain). */
    async settled(): Promise<void> {
      while (working.size) await new Promise((r) => setTimeout(r, 50));
    },
    stop(): void {
      stopped = true;
      clearInterval(timer);
    },
  };
}

export type Erasures = ReturnType<typeof createErasures>;
