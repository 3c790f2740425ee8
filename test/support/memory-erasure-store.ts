import type { Erasure } from '../../core/index.js';
import type { ErasureStore } from '../../engine/erasures/index.js';

/** The erasures' document store in memory: compare-and-set updates, a mirror without lag. */
export class MemoryErasureStore implements ErasureStore {
  private readonly docs = new Map<string, Erasure>();
  private readonly listeners: ((key: string, doc: Erasure | null) => void)[] = [];

  async get(id: string) {
    const doc = this.docs.get(id);
    return doc ? { doc: structuredClone(doc) } : null;
  }

  async create(id: string, doc: Erasure): Promise<boolean> {
    if (this.docs.has(id)) return false;
    this.put(id, doc);
    return true;
  }

  async update(id: string, fn: (doc: Erasure | null) => Erasure | undefined) {
    const next = fn(this.docs.has(id) ? structuredClone(this.docs.get(id)!) : null);
    if (next === undefined) return { doc: this.docs.get(id) ?? null, changed: false };
    this.put(id, next);
    return { doc: structuredClone(next), changed: true };
  }

  /** Stores a document as another process would. */
  put(id: string, doc: Erasure): void {
    this.docs.set(id, structuredClone(doc));
    for (const l of this.listeners) l(id, structuredClone(doc));
  }

  values(): IterableIterator<Erasure> {
    return this.docs.values();
  }

  onChange(listener: (key: string, doc: Erasure | null) => void): void {
    this.listeners.push(listener);
  }

  async sync(): Promise<void> {}
}
