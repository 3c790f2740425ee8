import { indexName, sourceName, type HotSegment, type SourceRef } from '../../core/index.js';
import type { RedisClient, WithCommands } from './commands.js';
import { sourceKeys } from './keys.js';
import { hashBytes, hashUser, latestOf, POSITIONS, reverse32, timeOf } from './layout.js';

/** The lookups: what the hot path (core HotLookup) and the HotIndex port read of Redis. */

type Leaf = { source: SourceRef; index: string };

/**
 * The sources a lookup reads, each with the distinct index names its leaves ask for (`any` is
 * not asked: it is the largest record of a value), and where each leaf finds its time.
 */
function plan(leaves: readonly Leaf[], sources: readonly SourceRef[]) {
  const bySource = new Map<string, { source: SourceRef; names: string[] }>();
  const entry = (s: SourceRef) => {
    const key = sourceName(s);
    let e = bySource.get(key);
    if (!e) bySource.set(key, (e = { source: s, names: [] }));
    return e;
  };
  for (const s of sources) entry(s);
  // For each leaf: the source's position in `reads` and the name's position in its names (-1: any).
  const at = leaves.map((l) => {
    const e = entry(l.source);
    let n = -1;
    if (l.index !== indexName.any) {
      n = e.names.indexOf(l.index);
      if (n < 0) n = e.names.push(l.index) - 1;
    }
    return { source: sourceName(l.source), name: n };
  });
  const reads = [...bySource.values()];
  const slot = new Map(reads.map((r, i) => [sourceName(r.source), i]));
  return { reads, leafAt: at.map((a) => ({ read: slot.get(a.source)!, name: a.name })), universe: sources.map((s) => slot.get(sourceName(s))!) };
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
  sources: readonly SourceRef[],
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
    const { read, name } = p.leafAt[l]!;
    const reply = replies[read]!;
    if (reply.length === 0) continue;
    const names = p.reads[read]!.names.length;
    const id = name < 0 ? 0 : Number(reply[name]);
    if (name >= 0 && id === 0) continue;
    for (let u = 0; u < users.length; u++) {
      const v = reply[names + u] as Buffer | null;
      if (v) latest[u * width + l] = name < 0 ? latestOf(v) : timeOf(v, id);
    }
  }
  for (const read of p.universe) {
    const reply = replies[read]!;
    if (reply.length === 0) continue;
    const names = p.reads[read]!.names.length;
    for (let u = 0; u < users.length; u++) if (reply[names + u]) known[u] = 1;
  }
  return { latest, known };
}

/**
 * One step of a walk in position order (README "Hot index"): every user of `sources` whose
 * position is in [from, end), sorted by (position, id), with the leaves' times as `scores`
 * gives them. Each source is read with one lua/walk.lua call of whole buckets from `from`
 * until about `maxUsers` users; `end` is the least position every source was read up to, so
 * users past it (read from a source that went further) are left for the next step.
 */
export async function segment(
  redis: WithCommands,
  ns: string,
  leaves: readonly Leaf[],
  sources: readonly SourceRef[],
  from: number,
  to: number,
  maxUsers: number,
): Promise<HotSegment> {
  const p = plan(leaves, sources);
  const replies = await Promise.all(
    p.reads.map((r) => {
      const k = sourceKeys(ns, r.source);
      return redis.tsWalkBuffer(k.meta, k.bucketPrefix, from, to, maxUsers, r.names.length, ...r.names);
    }),
  );
  let end = to;
  for (const reply of replies) end = Math.min(end, Number(reply[0]));
  // Users within [from, end), each with its value per source (null: none).
  const width = leaves.length;
  const rows = new Map<string, { pos: number; values: (Buffer | null)[] }>();
  replies.forEach((reply, read) => {
    const first = 1 + p.reads[read]!.names.length;
    for (let i = first; i < reply.length; i += 2) {
      const user = reply[i] as Buffer;
      const pos = reverse32(hashBytes(user));
      if (pos < from || pos >= end) continue;
      const id = user.toString('utf8');
      let row = rows.get(id);
      if (!row) rows.set(id, (row = { pos, values: new Array<Buffer | null>(replies.length).fill(null) }));
      row.values[read] = reply[i + 1] as Buffer;
    }
  });
  const sorted = [...rows].sort(([a, ra], [b, rb]) => ra.pos - rb.pos || (a < b ? -1 : a > b ? 1 : 0));
  const users = sorted.map(([id]) => id);
  const positions = new Float64Array(users.length);
  const latest = new Float64Array(users.length * width).fill(NaN);
  const ids = p.leafAt.map(({ read, name }) => (name < 0 ? 0 : Number(replies[read]![1 + name] ?? 0)));
  sorted.forEach(([, row], u) => {
    positions[u] = row.pos;
    for (let l = 0; l < width; l++) {
      const { read, name } = p.leafAt[l]!;
      const v = row.values[read];
      if (!v) continue;
      if (name < 0) latest[u * width + l] = latestOf(v);
      else if (ids[l] !== 0) latest[u * width + l] = timeOf(v, ids[l]!);
    }
  });
  return { users, positions, latest, end: end >= POSITIONS ? POSITIONS : end };
}

/** Distinct users with any hot event of the source (the meta's count; no scan). */
export async function countUsers(redis: RedisClient, ns: string, source: SourceRef): Promise<number> {
  return Number((await redis.hget(sourceKeys(ns, source).meta, 'n')) ?? 0);
}

/**
 * index name -> time for one user in one source, `any` included: one lua/user.lua call (the
 * user's value and the names of its ids), whatever the numbers of users and indexes.
 */
export async function userLatest(redis: WithCommands, ns: string, source: SourceRef, userId: string): Promise<Map<string, number>> {
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
