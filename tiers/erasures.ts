import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ErasureIndex, type Erasure, type ErasureFence, type HistoryEraser, type HotEraser, type SourceRef, type SourceRegistry } from '../core/index.js';

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
   * ingest check just before the request appeared in its process is stored by then (the check
   * runs at each write attempt, so only a store call in flight can miss it).
   */
  graceMs?: number;
  /** How often pending erasures are looked for, ms (default 1_000). */
  scanMs?: number;
  now?: () => number;
}

export class ErasureError extends Error {
  readonly code = 'erasure_not_found' as const;
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
  deps.store.onChange((_key, doc) => doc && index.set(doc, doc.id));

  const claimable = (d: Erasure | null, t: number) => !!d && d.status === 'pending' && (!d.lease || d.lease.owner === owner || d.lease.until <= t);

  async function work(id: string): Promise<void> {
    const t = now();
    const { doc, changed } = await deps.store.update(id, (d) => (claimable(d, t) ? { ...d!, lease: { owner, until: t + opts.leaseMs } } : undefined));
    if (!changed || !doc) return;
    const renew = setInterval(() => {
      void deps.store.update(id, (d) => (d && d.status === 'pending' && d.lease?.owner === owner ? { ...d, lease: { owner, until: now() + opts.leaseMs } } : undefined)).catch(() => undefined);
    }, Math.max(100, opts.leaseMs / 3));
    try {
      // History first: once it holds none of the user's past, restores and rebuilds cannot
      // bring them back, and the hot removal after it is final.
      // Counted as each step ends: a run resumed after a crash adds what it still finds.
      const history = await deps.history.eraseUser(doc.userId);
      await deps.store.update(id, (d) => (d && d.status === 'pending' ? { ...d, removed: { ...d.removed, history: d.removed.history + history } } : undefined));
      const hot = await deps.hot.eraseUser(doc.userId, deps.registry.list());
      await deps.store.update(id, (d) => (d && d.status === 'pending'
        ? { ...d, status: 'done', finishedAt: now(), removed: { ...d.removed, hot: d.removed.hot + hot }, lease: null }
        : undefined));
      log.info({ erasure: id, history, hot }, 'user erased');
    } finally {
      clearInterval(renew);
    }
  }

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
  async function eraseAgain(userIds: Iterable<string>, sources: readonly SourceRef[]): Promise<number> {
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
    async settle(mark, sources) {
      await deps.store.sync();
      const users = index.excludedSince(mark);
      const removed = await eraseAgain(users, sources);
      if (removed) log.info({ users: users.length, removed }, 'erased again after a restore or rebuild: its writes had brought members back');
      return removed;
    },
  };

  return {
    index,
    /** What restores and rebuilds ask so that none undoes an erasure. */
    fence,
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
