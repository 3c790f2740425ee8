/**
 * Erasure of a user (README, "Erasure"). An erasure is a durable document (NATS
 * KV); while it is pending, one process at a time (leased) removes the user's events from
 * history and the user from every hot index. What could bring the data back is kept out by
 * the erasure list itself, consulted by ingest (events published before the request, by the
 * stream's timestamp, are dropped: redeliveries and replays alike) and by restores and rebuilds
 * while the history still holds the user (pending erasures). See the README, "Erasure".
 */
import type { SourceRef } from './types.js';

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
}

/** Removes a user's events from history (and any table derived from it); returns distinct ids removed. */
export interface HistoryEraser {
  eraseUser(userId: string): Promise<number>;
}

/** Removes a user from every index of the given sources; returns members removed. */
export interface HotEraser {
  eraseUser(userId: string, sources: readonly SourceRef[]): Promise<number>;
}

/** The erasures by user, as ingest and restores ask: which events and rows to keep out. */
export class ErasureIndex {
  /** user -> latest requestedAt of any of their erasures, and whether one is pending. */
  private readonly byUser = new Map<string, { requestedAt: number; pending: number }>();
  private readonly docs = new Map<string, Erasure>();

  set(doc: Erasure | null, id: string): void {
    const old = this.docs.get(id);
    if (old) this.unindex(old);
    if (doc) {
      this.docs.set(id, doc);
      const u = this.byUser.get(doc.userId) ?? { requestedAt: 0, pending: 0 };
      u.requestedAt = Math.max(u.requestedAt, doc.requestedAt);
      if (doc.status === 'pending') u.pending++;
      this.byUser.set(doc.userId, u);
    } else {
      this.docs.delete(id);
    }
  }

  private unindex(doc: Erasure): void {
    const u = this.byUser.get(doc.userId);
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

  /** Whether history may still hold the user's erased events (restores and rebuilds skip them). */
  pending(userId: string): boolean {
    return (this.byUser.get(userId)?.pending ?? 0) > 0;
  }

  get size(): number {
    return this.byUser.size;
  }
}
