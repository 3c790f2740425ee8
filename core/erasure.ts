/**
 * Erasure of a user (docs/operating.md, "Erasure"). An erasure is a durable document (NATS
 * KV); while it is pending, one process at a time (leased) removes the user's events from
 * history and the user from every hot index. What could bring the data back is kept out by
 * the erasure list itself, consulted by ingest (events published before the request, by the
 * stream's timestamp, are dropped: redeliveries and replays alike) and by restores and rebuilds
 * (ErasureFence: rows of a user whose erasure was not done before their read began, and a
 * removal again after their writes). See docs/operating.md, "Erasure".
 */
import type { IndexSource } from './types.js';

export interface Erasure {
  id: string;
  userId: string;
  status: 'pending' | 'done';
  /** Epoch ms: events the stream received at or before this are the user's past, erased. */
  requestedAt: number;
  finishedAt: number | null;
  removed: { history: number; hot: number };
  /** The process working on it and until when its claim holds (absent once done). */
  lease?: { owner: string; until: number } | null;
  /**
   * Times ingest found that a batch it checked before hearing of this erasure landed after
   * the work may have begun, and set it back to `pending` (IngestErasures.landed): the work
   * then runs again, and a run that sees it change while working runs once more.
   */
  reopened?: number;
}

/**
 * Removes a user's events from history (and any table derived from it, and their ids from the
 * maintained counts); returns distinct ids removed. `run` names this run of the erasure (its
 * id and `reopened`): a run repeated after a crash subtracts from the counts once.
 */
export interface HistoryEraser {
  eraseUser(userId: string, run: string): Promise<number>;
}

/** Removes a user from every index of the given sources; returns members removed. */
export interface HotEraser {
  eraseUser(userId: string, sources: readonly IndexSource[]): Promise<number>;
}

/**
 * What a restore or a rebuild asks of erasures so that none is undone by it (docs/operating.md, "Erasure").
 * A history read holds the rows it began with: an erasure that finishes while it streams does
 * not take the user out of the rows still to come, and a chunk read before this process heard
 * of an erasure may land in Redis after the erasure's removal.
 */
export interface ErasureFence {
  /** Taken before a history read begins: which erasures were already done when it began. */
  mark(): number;
  /** Whether rows of `userId` read since `mark` are to be dropped: an erasure of theirs is pending, or was seen since. */
  excludes(userId: string, mark: number): boolean;
  /**
   * Once writes of `userIds` (read since `mark`) have landed: removes from `sources` those
   * that `excludes` now, as this process knows erasures (no round trip). Returns members removed.
   */
  recheck(userIds: Iterable<string>, mark: number, sources: readonly IndexSource[]): Promise<number>;
  /**
   * Once every write of rows read since `mark` has landed: brings this process's view of the
   * erasures up to date with the store (one round trip), then removes from `sources` every
   * user that `excludes`. After it, no erasure recorded before the writes landed is undone
   * by them, however late this process heard of it. `since` (epoch ms): also every user of an
   * erasure pending or finished at or after it, whoever read their rows (a restore resumed
   * after another process wrote part of it and stopped before settling). Returns members removed.
   */
  settle(mark: number, sources: readonly IndexSource[], opts?: { since?: number }): Promise<number>;
}

/**
 * What ingest asks of erasures (docs/operating.md, "Erasure"). A batch is checked at each write attempt,
 * but the check can miss an erasure: one this process had not heard of yet, or one requested
 * while the checked batch waited to be written. Once the erasure's grace is over its work
 * deletes history and the hot index; a batch that lands after that would bring the user back.
 */
export interface IngestErasures {
  /** Whether an event of `userId` the stream received at `publishedMs` is erased (dropped). */
  erased(userId: string, publishedMs: number): boolean;
  /** Taken before a write attempt's check: which erasures this process knew of. */
  mark(): number;
  /**
   * Once a write attempt checked at `mark` has landed (or failed, having perhaps written some):
   * sets back to `pending` every erasure whose work may have run before the landing and that
   * covers one of `written` (user, stream time), so that its work runs again. Asks the store
   * (one round trip) only when this process's view of the erasures may be older than half the
   * grace; otherwise decides from the mirror, and does nothing unless it changed since `mark`.
   * Returns the erasures set back.
   */
  landed(mark: number, written: () => Iterable<readonly [userId: string, publishedMs: number]>): Promise<number>;
}

/** The erasures by user, as ingest and restores ask: which events and rows to keep out. */
export class ErasureIndex {
  /**
   * user -> latest requestedAt of any of their erasures, how many are pending, and the version
   * of this index at which one of them was last seen to change (marks compare with it).
   */
  private readonly byUser = new Map<string, { requestedAt: number; pending: number; seen: number }>();
  private readonly docs = new Map<string, Erasure>();
  /** Counts the changes this index has seen: a mark is its value at some moment. */
  private version = 0;
  /** Erasures not done, over every user. */
  private pendingTotal = 0;

  /** How many erasures are not done, over every user. */
  unfinished(): number {
    return this.pendingTotal;
  }

  set(doc: Erasure | null, id: string): void {
    const old = this.docs.get(id);
    this.version++;
    if (old) this.unindex(old);
    if (doc) {
      this.docs.set(id, doc);
      const u = this.byUser.get(doc.userId) ?? { requestedAt: 0, pending: 0, seen: 0 };
      u.requestedAt = Math.max(u.requestedAt, doc.requestedAt);
      if (doc.status === 'pending') (u.pending++, this.pendingTotal++);
      u.seen = this.version;
      this.byUser.set(doc.userId, u);
    } else {
      this.docs.delete(id);
    }
  }

  private unindex(doc: Erasure): void {
    const u = this.byUser.get(doc.userId);
    if (doc.status === 'pending') this.pendingTotal--;
    if (!u) return;
    if (doc.status === 'pending') u.pending--;
    // requestedAt is a max over the user's erasures: recompute from the others.
    u.requestedAt = 0;
    for (const d of this.docs.values()) if (d.userId === doc.userId && d.id !== doc.id) u.requestedAt = Math.max(u.requestedAt, d.requestedAt);
    if (u.requestedAt === 0 && u.pending <= 0) this.byUser.delete(doc.userId);
  }

  /** Whether an event of `userId` the stream received at `publishedMs` is erased. */
  erased(userId: string, publishedMs: number): boolean {
    const u = this.byUser.get(userId);
    return u !== undefined && publishedMs <= u.requestedAt;
  }

  /** Whether history may still hold the user's erased events. */
  pending(userId: string): boolean {
    return (this.byUser.get(userId)?.pending ?? 0) > 0;
  }

  /** The ids of the erasures of `userId` that cover an event the stream received at `publishedMs`. */
  covering(userId: string, publishedMs: number): string[] {
    if (!this.erased(userId, publishedMs)) return [];
    const out: string[] = [];
    for (const [id, d] of this.docs) if (d.userId === userId && publishedMs <= d.requestedAt) out.push(id);
    return out;
  }

  /** The index's version now: erasures that change after it compare as "since the mark". */
  mark(): number {
    return this.version;
  }

  /**
   * Whether `userId` has an erasure pending, or one this index saw change after `mark` (done
   * since, or first heard of since): history read since the mark may hold their erased rows.
   */
  excludes(userId: string, mark: number): boolean {
    const u = this.byUser.get(userId);
    return u !== undefined && (u.pending > 0 || u.seen > mark);
  }

  /** The users of an erasure pending, or finished at or after `t` (epoch ms). */
  unfinishedSince(t: number): string[] {
    const out = new Set<string>();
    for (const d of this.docs.values()) if (d.status === 'pending' || (d.finishedAt ?? Infinity) >= t) out.add(d.userId);
    return [...out];
  }

  /** The users `excludes` says of at `mark`. */
  excludedSince(mark: number): string[] {
    const out: string[] = [];
    for (const [userId, u] of this.byUser) if (u.pending > 0 || u.seen > mark) out.push(userId);
    return out;
  }

  get size(): number {
    return this.byUser.size;
  }
}
