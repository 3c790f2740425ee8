/**
 * Who may consume the namespace's durable consumer, and how: a readers-writer lease in one
 * shared document (NATS KV, compare-and-set). On an `AckPolicy.All` consumer an ack covers
 * every lower stream sequence, whoever took those messages, so a process acknowledging
 * cumulatively must be the only consumer: it holds the lease `exclusive`. Processes that
 * acknowledge each message hold it `shared`, any number at once. A holder renews its entry
 * every third of the lease; an entry not renewed for `leaseMs` has lapsed (its process died)
 * and no longer counts. A process waits for the lease it needs (a successor of a killed
 * process waits at most `leaseMs`); one that finds its own entry lapsed at a renewal takes it
 * again unless another holder conflicts, and then has lost it and must stop consuming (`onLost`).
 */
import type { SchedulerLike } from 'rxjs';
import { renewWhile, type Renewal } from '../../core/index.js';

export type LeaseMode = 'exclusive' | 'shared';

export interface LeaseHolder {
  mode: LeaseMode;
  /** Epoch ms after which the entry has lapsed. */
  until: number;
}

export interface LeaseDoc {
  holders: Record<string, LeaseHolder>;
}

/** The shared document: read-modify-write with compare-and-set (KvDocStore.update). */
export type LeaseStore = (fn: (doc: LeaseDoc | null) => LeaseDoc | undefined) => Promise<{ doc: LeaseDoc | null; changed: boolean }>;

export interface AckLeaseOptions {
  /** This process's entry. */
  id: string;
  leaseMs: number;
  now?: () => number;
  /**
   * Whether the process holding an entry is still there (answers on NATS). Resolves false
   * only on certainty (no responders); a timeout counts as alive.
   */
  alive?: (id: string) => Promise<boolean>;
  /** Renewals and waits run on it (virtual time in tests); default Node timers. */
  scheduler?: SchedulerLike;
}

export class AckLease {
  private mode: LeaseMode | undefined;
  private renewal: Renewal | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: LeaseStore,
    private readonly opts: AckLeaseOptions,
    private readonly onLost: (err: Error) => void,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get held(): LeaseMode | undefined {
    return this.mode;
  }

  /**
   * Takes the lease in `mode` if the live holders allow it now; true once held. A holder in
   * the way whose process is gone (`alive` says so: its NATS connection closed, as on a
   * SIGKILL) counts as lapsed at once, so a successor need not wait `leaseMs` for it.
   */
  async tryAcquire(mode: LeaseMode): Promise<boolean> {
    const t = this.now();
    const conflicts = (others: [string, LeaseHolder][]) => (mode === 'exclusive' ? others : others.filter(([, h]) => h.mode === 'exclusive'));
    const gone = new Set<string>();
    if (this.opts.alive) {
      const { doc: seen } = await this.store(() => undefined);
      for (const [id] of conflicts(live(seen, t, this.opts.id))) if (!(await this.opts.alive(id))) gone.add(id);
    }
    const { doc } = await this.store((cur) => {
      const others = live(cur, t, this.opts.id).filter(([id]) => !gone.has(id));
      if (conflicts(others).length > 0) return undefined;
      return { holders: { ...Object.fromEntries(others), [this.opts.id]: { mode, until: t + this.opts.leaseMs } } };
    });
    const mine = doc?.holders[this.opts.id];
    if (!mine || mine.mode !== mode || mine.until <= t) return false;
    this.mode = mode;
    this.startRenewing();
    return true;
  }

  /**
   * Waits until the lease is held in `mode`, trying every `retryMs`; `waiting` is told who is
   * in the way once per try that fails. Rejects if `signal` aborts.
   */
  async acquire(mode: LeaseMode, opts: { retryMs?: number; signal?: AbortSignal; waiting?: (holders: string[]) => void } = {}): Promise<void> {
    for (;;) {
      if (await this.tryAcquire(mode)) return;
      opts.waiting?.(await this.holders());
      opts.signal?.throwIfAborted();
      await this.sleep(opts.retryMs ?? Math.max(200, this.opts.leaseMs / 5));
      opts.signal?.throwIfAborted();
    }
  }

  private sleep(ms: number): Promise<void> {
    const scheduler = this.opts.scheduler;
    return new Promise((r) => (scheduler ? scheduler.schedule(() => r(), ms) : setTimeout(r, ms)));
  }

  /** Live holders other than this process, as `id (mode)`. */
  async holders(): Promise<string[]> {
    const { doc } = await this.store(() => undefined);
    return live(doc, this.now(), this.opts.id).map(([id, h]) => `${id} (${h.mode})`);
  }

  private startRenewing(): void {
    this.renewal?.stop();
    this.renewal = renewWhile(this.opts.scheduler, Math.max(100, this.opts.leaseMs / 3), () => this.renew());
  }

  /**
   * Extends this process's entry. An entry that lapsed (a long pause) is taken again if no
   * other holder conflicts with it; if one does, the lease is lost: that process may consume
   * in a way this one's acks would break.
   */
  async renew(): Promise<void> {
    const mode = this.mode;
    if (!mode) return;
    const t = this.now();
    let lost = false;
    try {
      await this.store((cur) => {
        const others = live(cur, t, this.opts.id);
        const mine = cur?.holders[this.opts.id];
        if (!mine || mine.until <= t) {
          lost = mode === 'exclusive' ? others.length > 0 : others.some(([, h]) => h.mode === 'exclusive');
          if (lost) return undefined;
        }
        return { holders: { ...Object.fromEntries(others), [this.opts.id]: { mode, until: t + this.opts.leaseMs } } };
      });
    } catch {
      return; // NATS away: the next renewal tries again
    }
    if (lost && this.mode === mode) {
      this.stop();
      this.onLost(new Error(`the ${mode} ingest lease of ${this.opts.id} lapsed and another process holds it now`));
    }
  }

  /** Gives the lease up, so a successor need not wait for it to lapse. */
  async release(): Promise<void> {
    const had = this.mode;
    this.stop();
    if (!had) return;
    await this.store((cur) => {
      if (!cur?.holders[this.opts.id]) return undefined;
      const { [this.opts.id]: _mine, ...rest } = cur.holders;
      return { holders: rest };
    });
  }

  private stop(): void {
    this.renewal?.stop();
    this.renewal = undefined;
    this.mode = undefined;
  }
}

/** Entries that have not lapsed at `t`, except `self`'s. */
function live(doc: LeaseDoc | null, t: number, self: string): [string, LeaseHolder][] {
  return Object.entries(doc?.holders ?? {}).filter(([id, h]) => id !== self && h.until > t);
}
