/** Items per chunk before it splits: inserts move at most this many pointers, not the whole list. */
const CHUNK = 512;

/**
 * Items kept in order by `compare`, as a list of sorted chunks: insert and remove cost
 * O(log n + CHUNK) (a 1M-item flat array moves 8 MB per insert at its front), a walk from any
 * point costs O(log n) to start, and a rank (items before a probe) O(n / CHUNK). Items that
 * compare equal are the same item: inserting one replaces it.
 */
export class SortedList<T> {
  private chunks: T[][] = [];
  private count = 0;

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.count;
  }

  /** Index of the first chunk whose last item is >= probe (chunks.length when none). */
  private chunkOf(probe: T): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid]!;
      if (this.compare(c[c.length - 1]!, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index in `chunk` of the first item >= probe. */
  private lowerBound(chunk: T[], probe: T): number {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(chunk[mid]!, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts `item`, or replaces the item equal to it. */
  insert(item: T): void {
    if (this.chunks.length === 0) {
      this.chunks.push([item]);
      this.count++;
      return;
    }
    let c = this.chunkOf(item);
    if (c === this.chunks.length) c--; // after every item: the last chunk takes it
    const chunk = this.chunks[c]!;
    const i = this.lowerBound(chunk, item);
    if (i < chunk.length && this.compare(chunk[i]!, item) === 0) {
      chunk[i] = item;
      return;
    }
    chunk.splice(i, 0, item);
    this.count++;
    if (chunk.length > 2 * CHUNK) this.chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  /** Removes the item equal to `probe`; false when there was none. */
  remove(probe: T): boolean {
    const c = this.chunkOf(probe);
    const chunk = this.chunks[c];
    if (!chunk) return false;
    const i = this.lowerBound(chunk, probe);
    if (i === chunk.length || this.compare(chunk[i]!, probe) !== 0) return false;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
    return true;
  }

  /** Items before `probe` (strictly less). */
  rank(probe: T): number {
    const c = this.chunkOf(probe);
    let n = 0;
    for (let k = 0; k < c; k++) n += this.chunks[k]!.length;
    const chunk = this.chunks[c];
    return chunk ? n + this.lowerBound(chunk, probe) : n;
  }

  /** Items in order, from the first one > `after` (every item when absent). */
  *from(after?: T): IterableIterator<T> {
    let c = 0;
    let i = 0;
    if (after !== undefined) {
      c = this.chunkOf(after);
      const chunk = this.chunks[c];
      if (chunk) {
        i = this.lowerBound(chunk, after);
        if (i < chunk.length && this.compare(chunk[i]!, after) === 0) i++;
      }
    }
    for (; c < this.chunks.length; c++, i = 0) {
      const chunk = this.chunks[c]!;
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }
}
