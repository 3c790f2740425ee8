import { anyMessageStored, indexName, isAnyMessage, sourceName, type CountLeaf, type HotSegment, type IndexSource } from '../../core/index.js';
import type { RedisClient, WithCommands } from './commands.js';
import { BUCKET_USERS } from './write.js';
import { sourceKeys } from './keys.js';
import { bucketAt, countMarks, hashBytes, hashUser, latestOf, reverse32, timeOf, type Layout } from './layout.js';

/** The lookups: what the hot path (core HotLookup) and the HotIndex port read of Redis. */

type Leaf = { source: IndexSource; index: string };

/**
 * The sources a lookup reads, each with the distinct index names its leaves ask for (`any` is
 * not asked: it is the largest record of a value), and where each leaf finds its time.
 */
function plan(leaves: readonly Leaf[], sources: readonly IndexSource[]) {
  const bySource = new Map<string, { source: IndexSource; names: string[] }>();
  const entry = (s: IndexSource) => {
    const key = sourceName(s);
    let e = bySource.get(key);
    if (!e) bySource.set(key, (e = { source: s, names: [] }));
    return e;
  };
  for (const s of sources) entry(s);
  // For each leaf: the source's position in `reads` and the positions in its names of the
  // indexes it reads ([-1]: any). One index, but for the any-message pseudo-source's `e:<type>`,
  // which is the latest of several stored ones (core anyMessageStored).
  const at = leaves.map((l) => {
    const e = entry(l.source);
    if (l.index === indexName.any) return { source: sourceName(l.source), names: [-1] };
    const stored = isAnyMessage(l.source) ? anyMessageStored(l.index) : [l.index];
    const names = stored.map((name) => {
      const n = e.names.indexOf(name);
      return n < 0 ? e.names.push(name) - 1 : n;
    });
    return { source: sourceName(l.source), names };
  });
  const reads = [...bySource.values()];
  const slot = new Map(reads.map((r, i) => [sourceName(r.source), i]));
  return { reads, leafAt: at.map((a) => ({ read: slot.get(a.source)!, names: a.names })), universe: sources.map((s) => slot.get(sourceName(s))!) };
}

/**
 * A leaf's index ids from a reply's ids (`idOf(position)`, 0 when the source has no such
 * index): null for `any`, empty when none of its indexes exists.
 */
function leafIds(names: readonly number[], idOf: (name: number) => number): number[] | null {
  if (names[0]! < 0) return null;
  const ids: number[] = [];
  for (const n of names) {
    const id = idOf(n);
    if (id > 0) ids.push(id);
  }
  return ids;
}

/** The time a leaf reads in a value: `any` (ids null) is its largest record, else the latest at `ids`; NaN when none. */
function leafTime(v: Uint8Array, ids: readonly number[] | null, start = 0, end = v.length): number {
  if (ids === null) return latestOf(v, start, end);
  if (ids.length === 1) return timeOf(v, ids[0]!, start, end);
  let t = NaN;
  for (const id of ids) {
    const x = timeOf(v, id, start, end);
    if (x > t || (t !== t && x === x)) t = x;
  }
  return t;
}

/**
 * For each user: the latest time in each of `leaves`' indexes (`latest[u * leaves.length + l]`,
 * NaN when none), and whether the user has any event of `sources` (`known[u]`, 1 or 0). One
 * lua/read.lua call per source, all sent at once (one round trip; on Redis Cluster each goes
 * to its source's node): one HGET per user and source, whatever the sources' sizes.
 */
export async function scores(
  redis: WithCommands,
  ns: string,
  leaves: readonly Leaf[],
  sources: readonly IndexSource[],
  users: readonly string[],
): Promise<{ latest: Float64Array; known: Uint8Array }> {
  const width = leaves.length;
  const latest = new Float64Array(users.length * width).fill(NaN);
  const known = new Uint8Array(users.length);
  if (users.length === 0) return { latest, known };
  const p = plan(leaves, sources);
  const pairs: (string | number)[] = new Array(users.length * 2);
  for (let u = 0; u < users.length; u++) {
    pairs[2 * u] = hashUser(users[u]!);
    pairs[2 * u + 1] = users[u]!;
  }
  const replies = await Promise.all(
    p.reads.map((r) => {
      const k = sourceKeys(ns, r.source);
      return redis.tsReadBuffer(k.meta, k.bucketPrefix, r.names.length, ...r.names, ...pairs);
    }),
  );
  for (let l = 0; l < width; l++) {
    const { read, names: at } = p.leafAt[l]!;
    const reply = replies[read]!;
    if (reply.length === 0) continue;
    // reply: cs (hot counts, not read here), an id per name, a value per user.
    const names = 1 + p.reads[read]!.names.length;
    const ids = leafIds(at, (n) => Number(reply[1 + n]));
    if (ids !== null && ids.length === 0) continue;
    for (let u = 0; u < users.length; u++) {
      const v = reply[names + u] as Buffer | null;
      if (v) latest[u * width + l] = leafTime(v, ids);
    }
  }
  for (const read of p.universe) {
    const reply = replies[read]!;
    if (reply.length === 0) continue;
    const names = 1 + p.reads[read]!.names.length;
    for (let u = 0; u < users.length; u++) if (reply[names + u]) known[u] = 1;
  }
  return { latest, known };
}

/**
 * Count leaves from the hot counts (HotLookup.counts): one lua/read.lua call per source named
 * by any leaf, sent together, each with every index its leaves count and every user. A leaf
 * over several sources (a tag) adds their counts (an event belongs to one source); a leaf over
 * the any-message pseudo-source counts its stored indexes for the index (anyMessageStored). A
 * leaf is complete when each of its sources that holds anything says its counts reach back to
 * the leaf's `after` (`cs`); a source holding nothing hot counts 0.
 */
export async function counts(
  redis: WithCommands, ns: string, leaves: readonly CountLeaf[], users: readonly string[],
): Promise<{ counts: Float64Array; complete: Uint8Array }> {
  const width = leaves.length;
  const out = new Float64Array(users.length * width);
  const complete = new Uint8Array(width).fill(1);
  if (width === 0) return { counts: out, complete };
  const bySource = new Map<string, { source: IndexSource; names: string[] }>();
  const wants = leaves.map((l) =>
    l.sources.map((source) => {
      const key = sourceName(source);
      let e = bySource.get(key);
      if (!e) bySource.set(key, (e = { source, names: [] }));
      const names = (isAnyMessage(source) ? anyMessageStored(l.index) : [l.index]).map((name) => {
        const n = e.names.indexOf(name);
        return n < 0 ? e.names.push(name) - 1 : n;
      });
      return { key, names };
    }),
  );
  const reads = [...bySource.entries()];
  const pairs: (string | number)[] = new Array(users.length * 2);
  for (let u = 0; u < users.length; u++) {
    pairs[2 * u] = hashUser(users[u]!);
    pairs[2 * u + 1] = users[u]!;
  }
  const replies = new Map(
    await Promise.all(
      reads.map(async ([key, r]) => {
        const k = sourceKeys(ns, r.source);
        return [key, await redis.tsReadBuffer(k.meta, k.countPrefix, r.names.length, ...r.names, ...pairs)] as const;
      }),
    ),
  );
  leaves.forEach((l, i) => {
    for (const want of wants[i]!) {
      const reply = replies.get(want.key)!;
      if (reply.length === 0) continue; // nothing hot: no event, counts 0
      const since = Number(reply[0]);
      if (!(since >= 0 && since <= l.after)) {
        complete[i] = 0;
        continue;
      }
      const names = bySource.get(want.key)!.names.length;
      const ids = want.names.map((n) => Number(reply[1 + n])).filter((id) => id > 0);
      if (ids.length === 0) continue;
      for (let u = 0; u < users.length; u++) {
        const v = reply[1 + names + u] as Buffer | null;
        if (v) out[u * width + i]! += countMarks(v, ids, l.after, l.before);
      }
    }
    if (!complete[i]) for (let u = 0; u < users.length; u++) out[u * width + i] = 0;
  });
  return { counts: out, complete };
}

export type { Layout };

/** HSCAN's COUNT: more than any bucket holds, so one call returns a bucket whole. */
const SCAN_COUNT = '100000';

/** Buckets one walk step reads of a source: about `maxUsers` users at the buckets' target size. */
const bucketsPerStep = (maxUsers: number) => Math.max(1, Math.round(maxUsers / BUCKET_USERS));

/**
 * One source's part of a walk step: the buckets from the one holding `from`, read with plain
 * HSCANs in one MULTI with the meta (no script copies a bucket), named from the layout this
 * process last saw. A split between that read and this one shows in the meta's answer: the
 * step is named again from it (buckets only split, so this ends).
 */
async function walkSource(
  redis: RedisClient, ns: string, layouts: Map<string, Layout>, source: IndexSource, names: readonly string[], from: number, to: number, maxUsers: number,
): Promise<{ end: number; ids: number[]; buckets: Buffer[][] }> {
  const k = sourceKeys(ns, source);
  const key = sourceName(source);
  for (let attempt = 0; ; attempt++) {
    const assumed = layouts.get(key);
    const tx = redis.multi();
    tx.hmget(k.meta, 'L', 'p', 'g', ...names);
    const ends: number[] = [];
    if (assumed) {
      for (let pos = from, i = bucketsPerStep(maxUsers); pos < to && i > 0; i--) {
        const { bucket, end } = bucketAt(pos, assumed);
        // HSCAN, not HGETALL: its reply stays a flat array (ioredis makes HGETALL's an object, 3x
        // slower to build and walk); a listpack bucket is scanned whole in one call.
        tx.callBuffer('hscan', k.bucket(assumed.gen, bucket), '0', 'COUNT', SCAN_COUNT);
        ends.push(end);
        pos = end;
      }
    }
    const res = (await tx.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    const [level, split, gen, ...ids] = res[0]![1] as (string | null)[];
    if (level === null || level === undefined) return { end: to, ids: names.map(() => 0), buckets: [] };
    const seen = { level: Number(level), split: Number(split), gen: gen! };
    if (assumed && assumed.level === seen.level && assumed.split === seen.split && assumed.gen === seen.gen) {
      const buckets = res.slice(1).map(([, r]) => {
        const [cursor, flat] = r as [Buffer, Buffer[]];
        if (cursor.toString() !== '0') throw new Error(`${key}: a bucket of more than ${SCAN_COUNT} users`);
        return flat;
      });
      return { end: Math.min(to, ends[ends.length - 1]!), ids: ids.map((id) => Number(id ?? 0)), buckets };
    }
    layouts.set(key, seen);
    if (attempt >= 8) throw new Error(`${key}: its buckets kept splitting during a walk step`);
  }
}

/**
 * A count's step over one source (lua/tally.lua): the values of whole buckets from `from`, as
 * one packed string, no ids (a count only evaluates them): one Buffer per step instead of two
 * per user. Undefined when `from` falls inside a bucket (a small source): segment then reads
 * the step with ids.
 */
async function tally(
  redis: WithCommands, ns: string, source: IndexSource, names: readonly string[], leafAt: readonly { names: readonly number[] }[], width: number, from: number, to: number, maxUsers: number,
): Promise<HotSegment | undefined> {
  const k = sourceKeys(ns, source);
  const reply = await redis.tsTallyBuffer(k.meta, k.bucketPrefix, from, to, maxUsers, names.length, ...names);
  const end = Number(reply[0]);
  if (end === -1) return undefined;
  const packed = reply[1 + names.length] as Buffer | undefined;
  const empty = { size: 0, users: [], positions: new Float64Array(0), latest: new Float64Array(0), end };
  if (!packed || packed.length === 0) return empty;
  const ids = leafAt.map((l) => leafIds(l.names, (n) => Number(reply[1 + n] ?? 0)));
  // Values start where their length says: first find them, then fill one row each.
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < packed.length; ) {
    let n = packed[i++]!;
    if (n >= 0x80) n = ((n & 0x7f) << 8) | packed[i++]!;
    starts.push(i);
    ends.push(i + n);
    i += n;
  }
  const latest = new Float64Array(starts.length * width).fill(NaN);
  for (let u = 0; u < starts.length; u++) {
    for (let l = 0; l < width; l++) {
      const leaf = ids[l]!;
      if (leaf === null || leaf.length) latest[u * width + l] = leafTime(packed, leaf, starts[u], ends[u]);
    }
  }
  return { size: starts.length, users: [], positions: new Float64Array(0), latest, end };
}

/**
 * One step of a walk in position order (docs/design.md, "Hot index"): every user of `sources` whose
 * position is in [from, end), with the leaves' times as `scores` gives them, sorted by
 * (position, id) when `ordered` (audience pages), in bucket order with no ids otherwise (a
 * count only evaluates them). Each source reads whole buckets from `from` until about
 * `maxUsers` users (walkSource); `end` is the least position every source was read up to, so
 * users past it (read from a source that went further) are left for the next step.
 */
export async function segment(
  redis: WithCommands,
  ns: string,
  layouts: Map<string, Layout>,
  leaves: readonly Leaf[],
  sources: readonly IndexSource[],
  from: number,
  to: number,
  maxUsers: number,
  ordered = true,
): Promise<HotSegment> {
  const p = plan(leaves, sources);
  if (!ordered && p.reads.length === 1) {
    const counted = await tally(redis, ns, p.reads[0]!.source, p.reads[0]!.names, p.leafAt, leaves.length, from, to, maxUsers);
    if (counted) return counted;
  }
  const parts = await Promise.all(p.reads.map((r) => walkSource(redis, ns, layouts, r.source, r.names, from, to, maxUsers)));
  let end = to;
  for (const part of parts) end = Math.min(end, part.end);
  const width = leaves.length;
  // For each leaf: the index ids to read in its source's part (null: any; empty: no such index).
  const ids = p.leafAt.map(({ read, names }) => leafIds(names, (n) => parts[read]!.ids[n]!));
  const fill = (latest: Float64Array, u: number, values: (Buffer | undefined)[]) => {
    for (let l = 0; l < width; l++) {
      const v = values[p.leafAt[l]!.read];
      if (!v) continue;
      const leaf = ids[l]!;
      if (leaf === null || leaf.length) latest[u * width + l] = leafTime(v, leaf);
    }
  };
  if (parts.length === 1) {
    // One source: no join. Its users in [from, end), in bucket order.
    const rows: { user: Buffer; pos: number; value: Buffer }[] = [];
    for (const flat of parts[0]!.buckets) {
      for (let i = 0; i < flat.length; i += 2) {
        const pos = reverse32(hashBytes(flat[i]!));
        if (pos >= from && pos < end) rows.push({ user: flat[i]!, pos, value: flat[i + 1]! });
      }
    }
    const users = ordered ? rows.map((r) => r.user.toString('utf8')) : [];
    let order = rows.map((_, i) => i);
    if (ordered) order = order.sort((a, b) => rows[a]!.pos - rows[b]!.pos || (users[a]! < users[b]! ? -1 : users[a]! > users[b]! ? 1 : 0));
    const latest = new Float64Array(rows.length * width).fill(NaN);
    const positions = new Float64Array(rows.length);
    const one: (Buffer | undefined)[] = [undefined];
    order.forEach((r, u) => {
      positions[u] = rows[r]!.pos;
      one[0] = rows[r]!.value;
      fill(latest, u, one);
    });
    return { size: rows.length, users: ordered ? order.map((r) => users[r]!) : [], positions, latest, end };
  }
  // Several sources: users joined by id.
  const rows = new Map<string, { pos: number; values: (Buffer | undefined)[] }>();
  parts.forEach((part, read) => {
    for (const flat of part.buckets) {
      for (let i = 0; i < flat.length; i += 2) {
        const pos = reverse32(hashBytes(flat[i]!));
        if (pos < from || pos >= end) continue;
        const id = flat[i]!.toString('utf8');
        let row = rows.get(id);
        if (!row) rows.set(id, (row = { pos, values: new Array<Buffer | undefined>(parts.length) }));
        row.values[read] = flat[i + 1];
      }
    }
  });
  const sorted = [...rows];
  if (ordered) sorted.sort(([a, ra], [b, rb]) => ra.pos - rb.pos || (a < b ? -1 : a > b ? 1 : 0));
  const latest = new Float64Array(sorted.length * width).fill(NaN);
  const positions = new Float64Array(sorted.length);
  sorted.forEach(([, row], u) => {
    positions[u] = row.pos;
    fill(latest, u, row.values);
  });
  return { size: sorted.length, users: ordered ? sorted.map(([id]) => id) : [], positions, latest, end };
}

/** Distinct users with any hot event of the source (the meta's count; no scan). */
export async function countUsers(redis: RedisClient, ns: string, source: IndexSource): Promise<number> {
  return Number((await redis.hget(sourceKeys(ns, source).meta, 'n')) ?? 0);
}

/**
 * index name -> time for one user in one source, `any` included: one lua/user.lua call (the
 * user's value and the names of its ids), whatever the numbers of users and indexes.
 */
export async function userLatest(redis: WithCommands, ns: string, source: IndexSource, userId: string): Promise<Map<string, number>> {
  const k = sourceKeys(ns, source);
  const [value, ...names] = await redis.tsUserBuffer(k.meta, k.bucketPrefix, hashUser(userId), userId);
  const out = new Map<string, number>();
  if (!value) return out;
  let r = 0;
  let i = 0;
  while (i < value.length) {
    if (value[i++]! >= 0x80) i++;
    const name = names[r++]!.toString('utf8');
    if (name) out.set(name, value.readUIntBE(i, 6));
    i += 6;
  }
  out.set(indexName.any, latestOf(value));
  return out;
}
