import { fnv1a32, fnv1a32Bytes } from '../../core/index.js';

/**
 * The hot index's compact layout, the parts Node computes (docs/design.md, "Hot index"; the key map is
 * in keys.ts). A source's users are spread over hash buckets by linear hashing on a 32-bit
 * FNV-1a hash of the user id; each bucket is a Redis hash small enough to stay listpack-encoded,
 * whose field is the user and whose value packs every time the user has in the source:
 *
 *   value  = record*, sorted by index id
 *   record = id (1 byte below 128, else 2 bytes: 0x80 | id >> 8, id & 0xff) + time (6 bytes,
 *            big-endian epoch milliseconds)
 *
 * Index ids are a per-source dictionary kept in the source's meta hash (lua/dict.lua). The
 * `any` index is not stored: it is the largest time of the user's records (every event writes
 * its type's index), and "the user has any event" is "the field exists".
 *
 * The same hash is computed in Lua (lua/write.lua splits buckets with it); a property test
 * keeps the two equal.
 */

/** Distinct index ids one source can hold (2-byte ids). */
export const MAX_INDEX_ID = 0x7fff;
/** Times are 6 bytes: epoch ms in [0, 2^48). */
export const MAX_TIME = 2 ** 48 - 1;

/** 32-bit FNV-1a of the UTF-8 bytes of `s` (core fnv1a32). */
export const hashUser = fnv1a32;

/** 32-bit FNV-1a of bytes (a user id as Redis returns it). */
export const hashBytes = fnv1a32Bytes;

/** The 32 bits of `h` in reverse order: a user's position in a walk. */
export function reverse32(h: number): number {
  h = ((h >>> 1) & 0x55555555) | ((h & 0x55555555) << 1);
  h = ((h >>> 2) & 0x33333333) | ((h & 0x33333333) << 2);
  h = ((h >>> 4) & 0x0f0f0f0f) | ((h & 0x0f0f0f0f) << 4);
  h = ((h >>> 8) & 0x00ff00ff) | ((h & 0x00ff00ff) << 8);
  return ((h >>> 16) | (h << 16)) >>> 0;
}

/** A user's walk position: its hash reversed, so each bucket is one contiguous range of positions. */
export const positionOf = (user: string): number => reverse32(hashUser(user));

/**
 * The bucket of hash `h` under linear hashing with `level` and split pointer `split`: its low
 * `level` bits, or `level + 1` bits for buckets already split in this round.
 */
export function bucketOf(h: number, level: number, split: number): number {
  const low = level >= 32 ? h : h % 2 ** level;
  return low < split ? h % 2 ** (level + 1) : low;
}

/** A source's linear-hashing state as last read: the buckets a walk step names. */
export interface Layout {
  level: number;
  split: number;
  gen: string;
}

/**
 * The bucket holding position `pos` (bucketOf of the hash whose reversed bits are `pos`), and
 * the end of that bucket's range of positions: a bucket of k bits holds the positions whose top
 * k bits are its number reversed.
 */
export function bucketAt(pos: number, l: Layout): { bucket: number; end: number } {
  const bucket = bucketOf(reverse32(pos), l.level, l.split);
  const bits = bucket < l.split || bucket >= 2 ** l.level ? l.level + 1 : l.level;
  const size = 2 ** (32 - bits);
  return { bucket, end: (Math.floor(pos / size) + 1) * size };
}

/**
 * One user's records as a value: record `i` is (id(i), time(i)) for i < count, written in
 * order of id (layout above). Throws RangeError for an id or a time the layout cannot hold.
 */
export function encodeRecords(count: number, id: (i: number) => number, time: (i: number) => number): Buffer {
  const order = new Array<number>(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (count > 1) order.sort((a, b) => id(a) - id(b));
  let size = 0;
  for (let i = 0; i < count; i++) size += (id(i) < 0x80 ? 1 : 2) + 6;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const i of order) {
    const x = id(i);
    const t = time(i);
    if (!(x >= 1 && x <= MAX_INDEX_ID) || !Number.isInteger(x)) throw new RangeError(`index id ${x} out of range`);
    if (!(t >= 0 && t <= MAX_TIME) || !Number.isInteger(t)) throw new RangeError(`time ${t} is not a whole number of ms in [0, 2^48)`);
    if (x < 0x80) out[o++] = x;
    else {
      out[o++] = 0x80 | (x >> 8);
      out[o++] = x & 0xff;
    }
    out.writeUIntBE(t, o, 6);
    o += 6;
  }
  return out;
}

/**
 * Hot counts (docs/design.md, "Hot counts"): a user's marks in a source's count bucket, one per
 * event, 16 bytes each in no order: the index id of its type (2 bytes), of its variant's type
 * and of its step's type (2 bytes each, 0 when none), its time (6 bytes, big-endian epoch ms)
 * and a 32-bit hash of the event id (4 bytes). One mark counts the event in each index it names:
 * an event of a variant and a step is 16 bytes, not three marks. lua/write.lua merges them as a
 * set of 16-byte strings, so an event written twice is one mark.
 */
export const MARK_BYTES = 16;

export function encodeMarks(
  count: number, id: (i: number) => number, variant: (i: number) => number, step: (i: number) => number, time: (i: number) => number, hash: (i: number) => number,
): Buffer {
  const out = Buffer.allocUnsafe(count * MARK_BYTES);
  for (let i = 0, o = 0; i < count; i++, o += MARK_BYTES) {
    const t = time(i);
    const ids = [id(i), variant(i), step(i)];
    for (const [k, x] of ids.entries()) {
      if (!((x >= 1 || (k > 0 && x === 0)) && x <= MAX_INDEX_ID) || !Number.isInteger(x)) throw new RangeError(`index id ${x} out of range`);
      out.writeUInt16BE(x, o + 2 * k);
    }
    if (!(t >= 0 && t <= MAX_TIME) || !Number.isInteger(t)) throw new RangeError(`time ${t} is not a whole number of ms in [0, 2^48)`);
    out.writeUIntBE(t, o + 6, 6);
    out.writeUInt32BE(hash(i) >>> 0, o + 12);
  }
  return out;
}

/** Marks of `b` that name an index id of `ids` (as type, variant or step index) and whose time is in [after, before). */
export function countMarks(b: Uint8Array, ids: readonly number[], after: number, before: number): number {
  let n = 0;
  for (let o = 0; o + MARK_BYTES <= b.length; o += MARK_BYTES) {
    if (!ids.includes((b[o]! << 8) | b[o + 1]!) && !ids.includes((b[o + 2]! << 8) | b[o + 3]!) && !ids.includes((b[o + 4]! << 8) | b[o + 5]!)) continue;
    const t = readTime(b, o + 6);
    if (t >= after && t < before) n++;
  }
  return n;
}

/** One user's records as (index id, time) pairs, sorted by id. */
export function encodeValue(ids: readonly number[], times: readonly number[]): Buffer {
  return encodeRecords(ids.length, (i) => ids[i]!, (i) => times[i]!);
}

/** Calls `each(id, time)` for every record of a value (or of `b[start, end)`). */
export function forEachRecord(b: Uint8Array, each: (id: number, time: number) => void, start = 0, end = b.length): void {
  let i = start;
  while (i < end) {
    let id = b[i++]!;
    if (id >= 0x80) id = ((id & 0x7f) << 8) | b[i++]!;
    each(id, readTime(b, i));
    i += 6;
  }
}

/** The time of the record with index id `want`, or NaN (records are sorted by id). */
export function timeOf(b: Uint8Array, want: number, start = 0, end = b.length): number {
  let i = start;
  while (i < end) {
    let id = b[i++]!;
    if (id >= 0x80) id = ((id & 0x7f) << 8) | b[i++]!;
    if (id === want) return readTime(b, i);
    if (id > want) return NaN;
    i += 6;
  }
  return NaN;
}

/** The largest time of a value's records: the user's `any`. */
export function latestOf(b: Uint8Array, start = 0, end = b.length): number {
  let max = NaN;
  let i = start;
  while (i < end) {
    if (b[i++]! >= 0x80) i++;
    const t = readTime(b, i);
    if (!(t <= max)) max = t;
    i += 6;
  }
  return max;
}

function readTime(b: Uint8Array, i: number): number {
  return (b[i]! * 0x10000 + (b[i + 1]! << 8) + b[i + 2]!) * 0x1000000 + ((b[i + 3]! << 16) | (b[i + 4]! << 8) | b[i + 5]!);
}

/** Merges two values record by record with max (what lua/write.lua does): the fold's law, for tests. */
export function mergeValues(a: Uint8Array, b: Uint8Array): Buffer {
  const m = new Map<number, number>();
  const put = (id: number, t: number) => {
    const prev = m.get(id);
    if (prev === undefined || t > prev) m.set(id, t);
  };
  forEachRecord(a, put);
  forEachRecord(b, put);
  return encodeValue([...m.keys()], [...m.values()]);
}
