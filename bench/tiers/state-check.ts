/**
 * The hot state of a source checked in full against the fold of its generated events: per
 * index, the members and an order-independent hash of its (user, time) pairs.
 */
import { createHash } from 'node:crypto';
import type { SourceRef } from '../../core/index.js';
import type { RedisHotIndex } from '../../storage/index.js';

/** Per index name, the members and an order-independent hash of its (user, time) pairs. */
export type Digest = Map<string, { members: number; hash: number }>;

export interface Expected {
  digest: Digest;
  distinctUsers: number;
  members: number;
}

export interface Check {
  ok: boolean;
  anyCard: number;
  distinctUsers: number;
  indexes: number;
  members: number;
  /** Index names whose members or (user, time) pairs differ from the expectation. */
  differing: string[];
}

/** 48 bits of SHA-1 of one (user, time) pair; sums of these mod 2^48 compare sets in any order. */
const pairHash = (user: string, time: number) => createHash('sha1').update(`${user}\t${time}`).digest().readUIntBE(0, 6);
const HASH_MOD = 2 ** 48;

export function digestOf(indexes: Map<string, Map<string, number>>): Digest {
  const out: Digest = new Map();
  for (const [name, users] of indexes) {
    let hash = 0;
    for (const [u, t] of users) hash = (hash + pairHash(u, t)) % HASH_MOD;
    out.set(name, { members: users.size, hash });
  }
  return out;
}

export function differing(a: Digest, b: Digest): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n)?.members !== b.get(n)?.members || a.get(n)?.hash !== b.get(n)?.hash).sort();
}

/** Reads the full hot state of `source` (ts.hot.snapshot) and compares it with the expected digest. */
export async function checkState(hot: RedisHotIndex, source: SourceRef, expected: Expected): Promise<{ check: Check; digest: Digest }> {
  const digest = digestOf(await hot.snapshot(source));
  const diff = differing(expected.digest, digest);
  const anyCard = await hot.countUsers(source);
  return {
    digest,
    check: {
      ok: diff.length === 0 && anyCard === expected.distinctUsers,
      anyCard,
      distinctUsers: expected.distinctUsers,
      indexes: digest.size,
      members: [...digest.values()].reduce((s, d) => s + d.members, 0),
      differing: diff.slice(0, 20),
    },
  };
}
